"""The local stack: its definition, the process runner, and hop journals."""
