"""Which hop a recorded exchange crossed: given, recorded, or inferred from its host and path.

The contracts say where each receiver's operations live: a path under the proxy's mount
(``servers`` of ``mlflow-proxy.yaml``: ``/api/mlflow``) was sent to the proxy; ``/api/v1/...`` (and
any other operation of ``auth-service.yaml``) to the auth service; ``/api/2.0/mlflow...`` (any
operation of ``mlflow.yaml``) to MLflow. A host named for one of them (``auth.``, ``mlflow.``)
places a path any server may answer (``/health``, ``/``), which is otherwise nobody's. The auth
service and MLflow are taken to be reached by the proxy, as in the deployment this toolkit tests:
``--hop`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.hops import Hop

__all__ = ["HopRules", "hop_file_name", "hop_of_file"]

_AUTH_PREFIXES = ("/api/v1/",)
_MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/2.0/mlflow-artifacts")
# Paths every web server may answer: only a host named for a receiver places them.
_GENERIC = frozenset({"/", "/health", "/ready", "/metrics", "/version"})


def hop_file_name(hop: Hop) -> str:
    """``proxy->auth`` as a file name: ``proxy-auth`` (``REPORT_DIR/traffic/proxy-auth.har``)."""
    return hop.value.replace("->", "-")


def hop_of_file(path: Path) -> Hop | None:
    """The hop a file is named for (``proxy-auth.har``, ``client-proxy.ndjson``), if any."""
    stem = path.name.split(".", 1)[0]
    return next((hop for hop in Hop if hop_file_name(hop) == stem), None)


class HopRules:
    """Places an exchange on a hop by its receiver's contract: ``hop_of(url)``."""

    def __init__(self, auth: Contract, mlflow: Contract, proxy: Contract) -> None:
        self.auth, self.mlflow = auth, mlflow
        self.mount = proxy_mount(proxy)

    def hop_of(self, method: str, url: str) -> Hop | None:
        parts = urlsplit(url)
        path, host = parts.path or "/", (parts.hostname or "").lower()
        if self.mount and (path == self.mount or path.startswith(self.mount + "/")):
            return Hop.CLIENT_TO_PROXY
        label = host.split(".", 1)[0]
        if "auth" in label:
            return Hop.PROXY_TO_AUTH
        if "mlflow" in label:
            return Hop.PROXY_TO_MLFLOW
        if (path.rstrip("/") or "/") in _GENERIC:
            return None
        if path.startswith(_AUTH_PREFIXES) or self.auth.match(method, path) is not None:
            return Hop.PROXY_TO_AUTH
        if path.startswith(_MLFLOW_PREFIXES) or self.mlflow.match(method, path) is not None:
            return Hop.PROXY_TO_MLFLOW
        return None


def proxy_mount(proxy: Contract) -> str:
    """The proxy's mount, from its contract's first server URL (``/api/mlflow``)."""
    servers = proxy.document.get("servers") or [{}]
    url = str(servers[0].get("url", "")) if isinstance(servers[0], dict) else ""
    return urlsplit(url).path.rstrip("/")
