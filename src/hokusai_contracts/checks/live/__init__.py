"""``make contract-live``: safe checks against the real endpoints (see ``run``)."""
