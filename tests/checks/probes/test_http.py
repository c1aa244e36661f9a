"""One probe: what an answer, a refusal and silence become, and the exchange a finding keeps (respx)."""

from __future__ import annotations

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.http import probe

URL = "http://part.test/thing"
KEY = "hk_live_" + "Http6" * 6 + "zz"


@pytest.mark.parametrize(("raised", "error"), [
    (httpx.ConnectTimeout("silent"), "timeout"),
    (httpx.ReadTimeout("slow"), "timeout"),
    (httpx.PoolTimeout("full"), "timeout"),
    (httpx.ConnectError("refused"), "unreachable: ConnectError"),
    (httpx.RemoteProtocolError("cut"), "unreachable: RemoteProtocolError"),
    (httpx.ReadError("reset"), "unreachable: ReadError"),
])
def test_a_transport_failure_is_an_error_and_no_status(raised: Exception, error: str) -> None:
    with respx.mock:
        respx.get(URL).mock(side_effect=raised)
        result = probe("GET", URL, timeout=1)
    assert (result.status, result.error, result.response) == (None, error, None)
    exchange = result.exchange()
    assert (exchange.status, exchange.error, exchange.response_body) == (None, error, None)


@pytest.mark.parametrize(("sent", "kept"), [
    (b'{"name": "m"}', '{"name": "m"}'),
    (b"x" * 4096, "x" * 4096),
    (b"x" * 4097, None),  # the artifact probe's upload: out of the report
    (b"", None),
])
def test_the_exchange_keeps_a_small_request_body_only(sent: bytes, kept: str | None) -> None:
    with respx.mock:
        respx.post(URL).mock(return_value=httpx.Response(201, text="made"))
        result = probe("POST", URL, timeout=1, content=sent)
    exchange = result.exchange()
    assert (exchange.status, exchange.request_body, exchange.response_body) == (201, kept, "made")


def test_an_answer_is_shortened_to_one_line_and_a_key_in_it_masked() -> None:
    with respx.mock:
        respx.get(URL).mock(return_value=httpx.Response(401, text=f"bad key\n{KEY}\n" + "y" * 500))
        result = probe("GET", URL, timeout=1)
    text = result.text()
    assert "\n" not in text and KEY not in text and "hk_live_Ht...p6zz" in text
    assert len(result.text(50)) <= 50


def test_a_given_client_sends_the_request() -> None:
    with respx.mock, httpx.Client(headers={"X-Run": "r1"}) as client:
        route = respx.get(URL).mock(return_value=httpx.Response(200))
        assert probe("GET", URL, timeout=1, client=client).status == 200
    assert route.calls.last.request.headers["x-run"] == "r1"
