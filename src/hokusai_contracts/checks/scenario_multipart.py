"""The scenario's large model, moved the way production moves one: MLflow's multipart upload through the proxy.

With ``ARTIFACT_STORE=s3`` the scenario logs, after its own model, a second one whose weights are
``HOKUSAI_ARTIFACT_MB`` large (a pyfunc model carrying its weights as an artifact, as a third party
ships a large network), with the client's multipart upload on: ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``
and a 5 MB minimum file size and chunk, for this step only and in the client's environment (the
engine's process; the MLflow server never sees them), so that a few tens of MB take that path.

MLflow answers ``mpu/create`` with presigned part URLs at the store; the client PUTs each part there,
never through the proxy, then calls ``mpu/complete`` (``mpu/abort`` on failure) through it. A proxy
cannot see those part uploads, so the step counts them as the client made them (a wrapper around
``HttpArtifactRepository._upload_part`` that calls it unchanged) and names where they went; the
store's listing, through the proxy, must then show the weights whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hokusai_contracts.checks.registration.steps import (
    Registration,
    StepFailed,
    environment_set,
    pinned_requirements,
)

__all__ = ["MULTIPART_CHUNK", "MULTIPART_STEP", "LargeModel", "multipart_client"]

#: S3's smallest part (all but the last): the client's minimum file size and chunk for the step.
MULTIPART_CHUNK = 5 * 1024 * 1024
#: The step's name in the report (``<model kind>:multipart_model``).
MULTIPART_STEP = "multipart_model"
_WEIGHTS = "weights.bin"


@contextmanager
def multipart_client() -> Iterator[None]:
    """The MLflow client's multipart settings while the block runs (MLflow reads them at call time)."""
    settings = {"MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
                "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(MULTIPART_CHUNK),
                "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(MULTIPART_CHUNK)}
    with environment_set(settings):
        yield


@dataclass
class LargeModel:
    """The step: log a model with ``size_mb`` of weights by multipart upload; what the client uploaded where."""

    size_mb: int
    #: Each part upload the client made, as its presigned URL without the query (the signature).
    parts: list[str] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return sorted({urlsplit(url).netloc for url in self.parts})

    def __call__(self, registration: Registration) -> str:
        import mlflow

        size = self.size_mb * 1024 * 1024
        with tempfile.TemporaryDirectory(prefix="hokusai-large-model-") as folder:
            weights = os.path.join(folder, _WEIGHTS)
            _write_weights(weights, size, registration.model_name)
            with multipart_client(), self._counting_parts(), \
                    mlflow.start_run(experiment_id=registration.experiment_id, run_name="large-model"):
                logged = mlflow.pyfunc.log_model(name="large_model", python_model=_weights_model(),
                                                 artifacts={"weights": weights},
                                                 pip_requirements=pinned_requirements())
        listing = registration.client.list_logged_model_artifacts(logged.model_id, "artifacts")
        stored = sum(int(item.file_size or 0) for item in listing if item.path.endswith(_WEIGHTS))
        if not self.parts:
            raise StepFailed(f"the client uploaded the {self.size_mb} MB weights without multipart upload "
                             "(no part went to a presigned URL): MLflow or the proxy did not offer it")
        if stored != size:
            raise StepFailed(f"the store holds {stored} bytes of the {size}-byte weights after mpu/complete")
        return (f"Large model logged by multipart upload: {self.size_mb} MB of weights in {len(self.parts)} parts "
                f"of {MULTIPART_CHUNK // 2**20} MB, each PUT straight to the store's presigned URLs at "
                f"{', '.join(self.hosts)} (never through the proxy); mpu/create and mpu/complete through the proxy")

    @contextmanager
    def _counting_parts(self) -> Iterator[None]:
        from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

        original = HttpArtifactRepository.__dict__["_upload_part"]
        upload = original.__func__
        lock = threading.Lock()

        def counted(credential: Any, local_file: str, size: int, start_byte: int) -> Any:
            result = upload(credential=credential, local_file=local_file, size=size, start_byte=start_byte)
            with lock:  # the client uploads its parts from a thread pool
                self.parts.append(str(credential.url).split("?")[0])
            return result

        HttpArtifactRepository._upload_part = staticmethod(counted)  # type: ignore[method-assign]
        try:
            yield
        finally:
            HttpArtifactRepository._upload_part = original  # type: ignore[method-assign]


def _write_weights(path: str, size: int, seed: str) -> None:
    """``size`` bytes that do not compress (a store or proxy that compresses would not be measured)."""
    block = b"".join(hashlib.sha256(f"{seed}{i}".encode()).digest() for i in range(32768))  # 1 MiB
    with open(path, "wb") as out:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            out.write(piece)
            written += len(piece)


def _weights_model() -> Any:
    """A pyfunc model that loads its weights: defined here, pickled by value with the model."""
    from mlflow.pyfunc.model import PythonModel

    class Weights(PythonModel):
        def load_context(self, context: Any) -> None:
            self.size = os.path.getsize(context.artifacts["weights"])

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [self.size] * len(model_input)

    return Weights()

