"""The registration a third-party developer runs, as steps any MLflow client version can take.

``steps`` is the one library of those steps: the in-process scenario (``checks/scenario.py``,
with the pinned client) and every other MLflow version's environment (``client``, launched by
``checks/client_versions.py``) run it. It runs where hokusai_contracts is not installed, so this
package imports only the standard library, mlflow (and what mlflow brings: requests, sklearn) and
``hokusai_contracts.domain.redact``, itself standard library only; ``client_versions`` ships
exactly those files to the other environment (``CLIENT_BUNDLE``), and a test holds them to it.
"""
