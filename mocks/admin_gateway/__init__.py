"""The reference admin gateway: MLflow behind a second key check, as production's entrypoint runs it.

``contracts/mlflow-gateway.overlay.yaml`` is its contract; ``python -m hokusai_mocks.admin_gateway``
starts it (and the ``mlflow server`` it fronts).
"""
