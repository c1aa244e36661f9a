"""The reference proxy's own logic: status mapping, the validation cache, forwarding rules.

Upstreams are ``httpx.MockTransport`` handlers; the real processes are exercised in
tests/integration.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hokusai_mocks.reference_proxy.app import ReferenceProxy
from hokusai_mocks.reference_proxy.auth import Identity, Rejection, Validator, _interpret
from hokusai_mocks.reference_proxy.settings import ProxySettings

KEY = "hk_live_" + "k" * 32
SETTINGS = ProxySettings(auth_url="http://auth", mlflow_url="http://mlflow")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"is_valid": True, "key_id": "k1", "user_id": "u1"}, Identity("k1", "u1")),
        (200, {"is_valid": False, "error": "expired"}, 401),
        (401, {"detail": "Invalid or expired API key"}, 401),
        (422, {"detail": [{"loc": ["body", "api_key"]}]}, 401),
        (403, {"detail": "forbidden"}, 403),
        (429, {"detail": "slow down"}, 429),
        (500, {"detail": "boom"}, 503),
        (503, "<html>503</html>", 503),
    ],
)
def test_auth_answers_map_to_proxy_statuses(status: int, body: object, expected: object) -> None:
    content = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    outcome = _interpret(httpx.Response(status, content=content))
    if isinstance(expected, Identity):
        assert outcome == expected
    else:
        assert isinstance(outcome, Rejection) and outcome.status == expected


@pytest.mark.parametrize(
    ("error", "status"),
    [(httpx.ConnectError("refused"), 503), (httpx.ReadTimeout("slow"), 504)],
)
def test_unreachable_or_slow_auth_service(error: Exception, status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async def go() -> Identity | Rejection:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await Validator(SETTINGS, client).validate(KEY)

    outcome = asyncio.run(go())
    assert isinstance(outcome, Rejection) and outcome.status == status


def test_validation_is_cached_and_single_flight() -> None:
    calls: list[dict[str, object]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"is_valid": True, "key_id": "k1", "user_id": "u1"})

    async def go() -> list[Identity | Rejection]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            validator = Validator(SETTINGS, client)
            return await asyncio.gather(*(validator.validate(KEY) for _ in range(8)))

    outcomes = asyncio.run(go())
    assert all(o == Identity("k1", "u1") for o in outcomes)
    # Incident 1 and 2: the key goes in the body, with the configured service id.
    assert calls == [{"api_key": KEY, "service_id": "platform"}]


async def _with_lifespan(handler: object, method: str, path: str, **kwargs: object) -> httpx.Response:
    app = ReferenceProxy(SETTINGS, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    async with app.running():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def _upstreams(seen: list[httpx.Request]) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth":
            if request.url.path.endswith("/validate"):
                return httpx.Response(200, json={"is_valid": True, "key_id": "k1", "user_id": "u1"})
            return httpx.Response(200, json={})
        echo = json.dumps({"echo": request.content.decode() if request.content else None}).encode()
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(echo))

    return handler


@pytest.mark.parametrize("mount", ["/api/mlflow", "/mlflow"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_forwards_bodies_of_every_method_without_caller_credentials(mount: str, method: str) -> None:
    seen: list[httpx.Request] = []
    response = asyncio.run(_with_lifespan(
        _upstreams(seen), method, f"{mount}/api/2.0/mlflow/logged-models/m-1?x=1",
        headers={"Authorization": f"Bearer {KEY}"}, content=b'{"tags": []}'))
    assert response.status_code == 200
    assert response.json() == {"echo": '{"tags": []}'}
    forwarded = next(r for r in seen if r.url.host == "mlflow")
    assert forwarded.url.path == "/api/2.0/mlflow/logged-models/m-1"
    assert forwarded.url.query == b"x=1"
    assert "authorization" not in forwarded.headers
    assert forwarded.headers["x-hokusai-user-id"] == "u1"
    assert forwarded.headers["x-hokusai-api-key-id"] == "k1"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Basic abc"}, 401), ({"X-API-Key": KEY}, 200)],
)
def test_key_sources(headers: dict[str, str], status: int) -> None:
    response = asyncio.run(_with_lifespan(_upstreams([]), "GET", "/api/mlflow/api/2.0/mlflow/experiments/search",
                                          headers=headers))
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error_code", "message"}


@pytest.mark.parametrize(("error", "status"), [(httpx.ConnectError("refused"), 502), (httpx.ReadTimeout("x"), 504)])
def test_mlflow_unreachable_or_slow(error: Exception, status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth":
            return httpx.Response(200, json={"is_valid": True, "key_id": "k1", "user_id": "u1"})
        raise error

    response = asyncio.run(_with_lifespan(handler, "GET", "/api/mlflow/api/2.0/mlflow/experiments/search",
                                          headers={"Authorization": f"Bearer {KEY}"}))
    assert response.status_code == status
    assert response.json()["error_code"] in {"BAD_GATEWAY", "GATEWAY_TIMEOUT"}


def test_the_path_goes_upstream_byte_for_byte() -> None:
    seen: list[httpx.Request] = []
    path = "/api/mlflow/api/2.0/mlflow-artifacts/artifacts/o%2A%0F%C2%A9h%2Fx"
    response = asyncio.run(_with_lifespan(_upstreams(seen), "GET", path, headers={"Authorization": f"Bearer {KEY}"}))
    assert response.status_code == 200
    forwarded = next(r for r in seen if r.url.host == "mlflow")
    assert forwarded.url.raw_path == b"/api/2.0/mlflow-artifacts/artifacts/o%2A%0F%C2%A9h%2Fx"


def test_a_path_holding_a_newline_is_forwarded_too() -> None:
    # Starlette's "{rest:path}" does not match across %0A: such a path got Starlette's text/plain 404.
    seen: list[httpx.Request] = []
    path = "/api/mlflow/api/2.0/mlflow/logged-models/%0A0"
    response = asyncio.run(_with_lifespan(_upstreams(seen), "GET", path, headers={"Authorization": f"Bearer {KEY}"}))
    assert response.status_code == 200
    forwarded = next(r for r in seen if r.url.host == "mlflow")
    assert forwarded.url.raw_path == b"/api/2.0/mlflow/logged-models/%0A0"


def test_paths_outside_the_mounts_are_not_forwarded() -> None:
    seen: list[httpx.Request] = []
    response = asyncio.run(_with_lifespan(_upstreams(seen), "GET", "/elsewhere/api/2.0/mlflow/experiments/search",
                                          headers={"Authorization": f"Bearer {KEY}"}))
    assert response.status_code == 404 and not seen
