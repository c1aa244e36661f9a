"""Contracts: loading, validation against them, and generation from MLflow protos."""
