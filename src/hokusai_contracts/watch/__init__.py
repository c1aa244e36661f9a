"""watch: the history, alerts, metrics and status page of scheduled live runs (``hokusai-contracts watch``)."""
