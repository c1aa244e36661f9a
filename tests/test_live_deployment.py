"""The live-deployment helper: HTTPS fronts that verify only with their CA, record, and go down on demand."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import trustme

from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.processes import free_port

from .live_deployment import HttpsFront, LiveDeployment, live_deployment


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b"upstream ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest's output clean
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    return tmp_path / "ca.pem", tmp_path / "server.pem"


def test_a_front_relays_over_tls_only_for_clients_trusting_its_ca(tmp_path: Path, upstream: str,
                                                                  cert: tuple[Path, Path]) -> None:
    ca_bundle, server_pem = cert
    front = HttpsFront.start(upstream, "client->proxy", tmp_path / "front.jsonl", server_pem)
    try:
        assert front.url.startswith("https://127.0.0.1:")
        answer = httpx.get(front.url + "/anything?x=1", verify=ssl.create_default_context(cafile=ca_bundle))
        assert (answer.status_code, answer.text) == (200, "upstream ok")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(front.url + "/anything")  # the system's CAs do not know the throw-away one
        with pytest.raises(httpx.HTTPError):
            httpx.get(front.url.replace("https://", "http://") + "/anything")  # no plain HTTP either
        (entry,) = front.entries()
        assert (entry.hop, entry.method, entry.path, entry.query, entry.status) == (
            "client->proxy", "GET", "/anything", (("x", "1"),), 200)
    finally:
        front.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(front.url + "/anything", verify=ssl.create_default_context(cafile=ca_bundle))


def test_a_front_before_a_dead_upstream_answers_502(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    ca_bundle, server_pem = cert
    front = HttpsFront.start(f"http://127.0.0.1:{free_port()}", "client->proxy", tmp_path / "front.jsonl", server_pem)
    try:
        assert httpx.get(front.url + "/health", verify=ssl.create_default_context(cafile=ca_bundle)).status_code == 502
    finally:
        front.stop()


@pytest.fixture(scope="module")
def wrong_service_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDeployment]:
    with live_deployment(tmp_path_factory.mktemp("live"), StackDefinition(service_id="website")) as deployment:
        yield deployment


@pytest.mark.integration
def test_every_part_answers_its_health_through_its_front(wrong_service_deployment: LiveDeployment) -> None:
    d = wrong_service_deployment
    with httpx.Client(verify=d.trust(), timeout=10) as client:
        assert client.get(d.proxy_url + "/health/mlflow").status_code == 200
        assert client.get(d.auth_url + "/health").status_code == 200
        assert client.get(d.mlflow_url + "/health").status_code == 200
    assert d.proxy_url.startswith("https://") and d.proxy_url.endswith("/api/mlflow")
    hops = {part: {(e.hop, e.path) for e in front.entries()} for part, front in d.fronts.items()}
    assert ("client->proxy", "/api/mlflow/health/mlflow") in hops[Part.PROXY]
    assert ("client->auth", "/health") in hops[Part.AUTH]
    assert ("client->mlflow", "/health") in hops[Part.MLFLOW]
    assert set(d.journals) == {Part.PROXY, Part.AUTH, Part.MLFLOW}


@pytest.mark.integration
def test_a_wrong_service_id_proxy_refuses_a_key_the_auth_service_accepts(
        wrong_service_deployment: LiveDeployment) -> None:
    d = wrong_service_deployment
    assert d.api_key == d.keys["primary"] and set(d.keys) >= {"primary", "revoked", "website"}
    with httpx.Client(verify=d.trust(), timeout=10) as client:
        validated = client.post(d.auth_url + "/api/v1/keys/validate",
                                json={"api_key": d.api_key, "service_id": "platform"})
        assert validated.status_code == 200 and validated.json()["is_valid"] is True
        proxied = client.get(d.proxy_url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                             headers={"Authorization": f"Bearer {d.api_key}"})
        assert proxied.status_code == 401


@pytest.mark.integration
@pytest.mark.slow
def test_a_default_deployment_serves_the_primary_key_and_takes_a_part_down(tmp_path: Path) -> None:
    with live_deployment(tmp_path) as d, httpx.Client(verify=d.trust(), timeout=10) as client:
        bearer = {"Authorization": f"Bearer {d.api_key}"}
        search = d.proxy_url + "/api/2.0/mlflow/experiments/search"
        assert client.get(search, params={"max_results": 1}, headers=bearer).status_code == 200
        d.take_down(Part.MLFLOW)
        with pytest.raises(httpx.ConnectError):
            client.get(d.mlflow_url + "/health")
        assert d.stack.parts[Part.MLFLOW].process.poll() is not None
        # The proxy outlives its upstream and says so, instead of going down with it.
        assert client.get(search, params={"max_results": 1}, headers=bearer).status_code in (502, 503, 504)
