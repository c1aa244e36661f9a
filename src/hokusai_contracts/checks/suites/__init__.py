"""Schemathesis suites run by make contract-local, as pytest modules."""
