"""The routes outside MLflow's protos that the contract covers, written by hand from MLflow's source.

Which of them a version serves, and how, differs: 3.17.2 answers ``/health`` and
``/api/3.0/mlflow/server-info`` from FastAPI routes (``mlflow/server/server_info_api.py``); older
versions have no server-info route there and answer ``/health`` from Flask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from hokusai_mlflow_openapi.json_encoding import JSON

__all__ = ["HEALTH_PATH", "SERVER_INFO_PATH", "health", "server_info", "serves_server_info"]


# The one route outside the protos the client calls around registration: artifact downloads ask
# for the server's capabilities first (mlflow.artifacts.download_artifacts, measured). Written by
# hand from mlflow/server/server_info_api.py and handlers.build_server_info_payload.
SERVER_INFO_PATH: Final = "/api/3.0/mlflow/server-info"
_SERVER_INFO: Final[JSON] = {
    "operationId": "getServerInfo",
    "summary": "Server capabilities (not in the protos)",
    "tags": ["ServerInfo"],
    "x-mlflow-route": "mlflow.server.server_info_api.get_server_info",
    "x-live-safe": True,
    "responses": {
        "200": {
            "description": "What this server supports; unauthenticated even with basic auth on",
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "store_type": {"type": ["string", "null"], "enum": ["FileStore", "SqlStore", None]},
                    **{
                        name: {"type": "boolean"}
                        for name in (
                            "workspaces_enabled",
                            "trace_archival_enabled",
                            "multipart_uploads_enabled",
                            "multipart_downloads_enabled",
                            "presigned_upload_run_id_supported",
                            "presigned_upload_model_id_supported",
                        )
                    },
                    "features_enabled": {
                        "type": "object",
                        "additionalProperties": {"type": "boolean"},
                    },
                },
            }}},
        },
        "default": {"$ref": "#/components/responses/mlflow_Error"},
    },
}


# MLflow's liveness check, outside the protos and outside /api: what a deployment probes, and what
# the Hokusai proxy calls for its own health (so the proxy contract leaves it out; see
# contracts/mlflow-proxy.overlay.yaml). Under uvicorn (mlflow server's default) the FastAPI route
# answers, mlflow/server/server_info_api.py: PlainTextResponse("OK"), measured 200
# "text/plain; charset=utf-8" body "OK", query parameters ignored. (Under gunicorn or waitress the
# Flask route mlflow.server.health answers "OK" too, as text/html.)
HEALTH_PATH: Final = "/health"
_HEALTH: Final[JSON] = {
    "operationId": "health",
    "summary": "Liveness check (not in the protos)",
    "tags": ["ServerInfo"],
    "x-mlflow-route": "mlflow.server.server_info_api.health",
    "x-live-safe": True,
    "responses": {
        "200": {
            "description": "The server is up; unauthenticated even with basic auth on",
            "content": {"text/plain": {"schema": {"type": "string", "const": "OK"}}},
        },
    },
}



def server_info() -> JSON:
    return dict(_SERVER_INFO)


def serves_server_info() -> bool:
    """Whether this MLflow has the FastAPI server-info and health routes (3.17.2 has; 3.9.0 has neither).

    Found by file, not by import: importing mlflow.server builds the whole Flask app.
    """
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    origin = spec.origin if spec is not None else None
    return origin is not None and (Path(origin).parent / "server" / "server_info_api.py").is_file()


def health() -> JSON:
    if serves_server_info():
        return dict(_HEALTH)
    # Without the FastAPI route, Flask's mlflow.server.health answers: "OK" as text/html (measured
    # with 2.9.2 under gunicorn and 3.4.0, 3.9.0 under uvicorn).
    ok = {**_HEALTH["responses"]["200"], "content": {"text/html": {"schema": {"type": "string", "const": "OK"}}}}
    return {**_HEALTH, "x-mlflow-route": "mlflow.server.health", "responses": {"200": ok}}
