"""Answers MLflow's handlers give beyond 200, 400 and 404 that a client depends on, written from its source.

The protos declare no error answers at all; every operation gets MLflow's error body on 400, 404
and ``default``. Where a client reads a particular answer to decide what to do next, the contract
states it exactly, so that a proxy that changes it is found at that answer's pointer.

Multipart upload (``mlflow-artifacts/mpu/create``, ``complete``, ``abort``): an artifact store
without multipart upload (a local folder) makes the handler raise
``_UnsupportedMultipartUploadException`` (``handlers._validate_support_multipart_upload``):
501, ``NOT_IMPLEMENTED``, "Multipart upload is not supported for the current artifact repository"
(the same text in 2.9.2, 3.4.0, 3.9.0 and 3.17.2's ``mlflow/exceptions.py``). The client
(``http_artifact_repo._try_multipart_upload``) falls back to one PUT only when the answer's
``message`` starts with that text; any other answer fails the upload. The 501 is the server
working as designed, not a fault: ``x-not-a-fault`` says so to the judge.

Presigned download (``mlflow-artifacts/presigned``; MLflow after 3.9.0, not in 2.9.2, 3.4.0 or
3.9.0): a store without it answers the same way, 501 "Multipart download is not supported for the
current artifact repository" (``_UnsupportedMultipartDownloadException``). A client asks only when
server-info says the store can, or when ``MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD`` is set, and then
falls back on a 501 or 404 (``mlflow_artifacts_repo._download_file``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hokusai_mlflow_openapi.json_encoding import JSON

__all__ = ["DOWNLOAD_UNSUPPORTED", "MULTIPART_UNSUPPORTED", "RUNTIME_ANSWERS"]

#: The start of the message the MLflow client's fallback looks for (``_UnsupportedMultipartUploadException.MESSAGE``).
MULTIPART_UNSUPPORTED: Final = "Multipart upload is not supported for the current artifact repository"
#: ``_UnsupportedMultipartDownloadException.MESSAGE``.
DOWNLOAD_UNSUPPORTED: Final = "Multipart download is not supported for the current artifact repository"


def _not_implemented(message: str) -> JSON:
    """MLflow's 501 body for a store that lacks the feature: its error code and its message's start."""
    return {"application/json": {"schema": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {"const": "NOT_IMPLEMENTED"},
            "message": {"type": "string", "pattern": "^" + message},
        },
    }}}


_UNSUPPORTED_ANSWER: Final[JSON] = {
    "description": (
        "The artifact store has no multipart upload (a local folder: "
        "handlers._validate_support_multipart_upload raises _UnsupportedMultipartUploadException). "
        "The MLflow client falls back to a single PUT only when this answer reaches it unchanged: 501 "
        "with a message starting with MLflow's text (http_artifact_repo._try_multipart_upload); any other "
        "answer fails every upload above MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE."
    ),
    "x-not-a-fault": "MLflow's designed answer for a store without multipart upload, which the client relies on",
    "content": _not_implemented(MULTIPART_UNSUPPORTED),
}
_NO_PRESIGNED_DOWNLOAD: Final[JSON] = {
    "description": (
        "The artifact store cannot presign downloads (a local folder: "
        "handlers._validate_support_multipart_download raises _UnsupportedMultipartDownloadException). "
        "A client that asked because MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD is set falls back to the "
        "proxied download on this 501 (mlflow_artifacts_repo._download_file)."
    ),
    "x-not-a-fault": "MLflow's designed answer for a store without presigned downloads",
    "content": _not_implemented(DOWNLOAD_UNSUPPORTED),
}
_MULTIPART_RPCS: Final = ("createMultipartUpload", "completeMultipartUpload", "abortMultipartUpload")

#: RPC full name -> status -> the answer, merged into the operation's responses.
RUNTIME_ANSWERS: Final[Mapping[str, Mapping[str, JSON]]] = {
    **{f"mlflow.artifacts.MlflowArtifactsService.{rpc}": {"501": _UNSUPPORTED_ANSWER} for rpc in _MULTIPART_RPCS},
    "mlflow.artifacts.MlflowArtifactsService.getPresignedDownloadUrl": {"501": _NO_PRESIGNED_DOWNLOAD},
}
