"""The reference admin gateway's rules: admins in, the rest refused in production's words; paths passed as they come.

Upstreams (the auth service, MLflow) are ``httpx.MockTransport`` handlers; the real processes run in
tests/integration/test_topology.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hokusai_mocks.admin_gateway.app import AdminGateway

KEY = "hk_live_" + "g" * 32


def _upstreams(scopes: list[str], seen: list[httpx.Request], auth_status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth":
            return httpx.Response(auth_status, json={"is_valid": True, "key_id": "k", "user_id": "u", "scopes": scopes})
        # A stream, as a real upstream's: the gateway relays it chunk by chunk.
        body = json.dumps({"path": request.url.path}).encode()
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))
    return httpx.MockTransport(handler)


def _ask(scopes: list[str], path: str, headers: dict[str, str], seen: list[httpx.Request],
         auth_status: int = 200) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=_upstreams(scopes, seen, auth_status)) as upstream:
            gateway = AdminGateway("http://mlflow", "http://auth", "platform", "/mlflow", client=upstream)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
                return await client.get(path, headers=headers)
    return asyncio.run(go())


@pytest.mark.parametrize(("scopes", "headers", "status", "body"), [
    (["read", "admin"], {"Authorization": f"Bearer {KEY}"}, 200, {"path": "/mlflow/api/2.0/mlflow/experiments/search"}),
    (["mlflow:admin"], {"X-API-Key": KEY}, 200, {"path": "/mlflow/api/2.0/mlflow/experiments/search"}),
    (["read", "write"], {"Authorization": f"Bearer {KEY}"}, 403,
     {"detail": "Admin access required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"}),
    (["admin"], {}, 401, {"detail": "API key required"}),
])
def test_admins_in_the_rest_refused_in_productions_words(scopes: list[str], headers: dict[str, str], status: int,
                                                         body: dict[str, str]) -> None:
    seen: list[httpx.Request] = []
    answer = _ask(scopes, "/mlflow/api/2.0/mlflow/experiments/search", headers, seen)
    assert (answer.status_code, answer.json()) == (status, body)
    validate = [r for r in seen if r.url.host == "auth"]
    if headers:  # validated as the auth contract says: the key in the body, for platform
        assert json.loads(validate[0].content) == {"api_key": KEY, "service_id": "platform"}


def test_health_is_open_and_an_unavailable_auth_service_is_503() -> None:
    seen: list[httpx.Request] = []
    health = _ask([], "/mlflow/health", {}, seen)
    # Answered by the gateway itself, as production's: neither the auth service nor MLflow is asked.
    assert (health.status_code, health.json(), seen) == (200, {"status": "ok"}, [])
    answer = _ask(["admin"], "/mlflow/api/2.0/mlflow/experiments/search", {"Authorization": f"Bearer {KEY}"}, [],
                  auth_status=502)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert _ask([], "/health", {}, []).status_code == 200


def test_every_path_goes_to_mlflow_as_it_came() -> None:
    """As production's gateway wraps MLflow's app: MLflow 3.9.0 answers /api/2.0 at its root under a static prefix."""
    answer = _ask(["admin"], "/api/2.0/mlflow/experiments/search", {"Authorization": f"Bearer {KEY}"}, [])
    assert answer.json() == {"path": "/api/2.0/mlflow/experiments/search"}


def test_at_shutdown_the_gateway_closes_the_client_it_made() -> None:
    async def go() -> tuple[list[str], bool]:
        gateway = AdminGateway("http://mlflow", "http://auth", "platform", "/mlflow")
        client = gateway.client  # made on first use, as by the first request
        incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[str] = []

        async def receive() -> dict[str, str]:
            return next(incoming)

        async def send(message: dict[str, str]) -> None:
            sent.append(message["type"])

        await gateway({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
        return sent, client.is_closed

    assert asyncio.run(go()) == (["lifespan.startup.complete", "lifespan.shutdown.complete"], True)
