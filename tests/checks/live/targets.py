"""Where the respx-mocked live probes send (tests/checks/live/conftest.py), and the key they carry."""

KEY = "hk_live_" + "Resp5" * 6 + "xy"
PROXY, AUTH, MLFLOW = "http://proxy.test/api/mlflow", "http://auth.test", "http://mlflow.test"
