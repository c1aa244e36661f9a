"""Probes: direct checks of the stack's parts, outside the contract suites (health, faults)."""
