"""The scenario's large model: where its step goes, the client's multipart settings, and the part count."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hokusai_contracts.checks.registration.steps import STEPS
from hokusai_contracts.checks.scenario import scenario_steps
from hokusai_contracts.checks.scenario_multipart import MULTIPART_CHUNK, MULTIPART_STEP, LargeModel, multipart_client

SETTINGS = ("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE",
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE")


def test_the_default_scenario_is_unchanged_and_the_large_model_follows_the_model() -> None:
    assert scenario_steps() == list(STEPS)
    names = [name for name, _ in scenario_steps(LargeModel(24), clean_up=True)]
    assert names[names.index("log_model") + 1] == MULTIPART_STEP
    assert names[-2:] == ["search", "delete"] and names.count(MULTIPART_STEP) == 1


def test_the_multipart_settings_hold_for_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", "123")
    with multipart_client():
        assert os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] == "true"
        assert os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] == str(MULTIPART_CHUNK)
        assert os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] == str(MULTIPART_CHUNK)
    assert os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] == "123"
    assert "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD" not in os.environ


class _Store(BaseHTTPRequestHandler):
    """A presigned URL's host: takes a part, answers its ETag as S3 does."""

    received: list[int] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(len(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("ETag", '"part-etag"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_each_part_the_client_uploads_is_counted_and_mlflow_is_left_as_it_was(store: str, tmp_path: Path) -> None:
    from mlflow.entities.multipart_upload import MultipartUploadCredential
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    original = HttpArtifactRepository.__dict__["_upload_part"]
    local = tmp_path / "weights.bin"
    local.write_bytes(b"w" * 10)
    large = LargeModel(1)
    with large._counting_parts():
        for number in (1, 2):
            credential = MultipartUploadCredential(url=f"http://{store}/bucket/weights.bin?X-Amz-Signature=s{number}",
                                                   part_number=number, headers={})
            part = HttpArtifactRepository._upload_part(credential=credential, local_file=str(local), size=5,
                                                       start_byte=5 * (number - 1))
            assert part.etag == '"part-etag"'  # the real upload ran, its answer unchanged
    assert HttpArtifactRepository.__dict__["_upload_part"] is original
    assert large.parts == [f"http://{store}/bucket/weights.bin"] * 2  # no signature kept
    assert large.hosts == [store] and _Store.received == [5, 5]
