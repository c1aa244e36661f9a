"""Schemathesis failures to findings: each row a server misbehaving one way, the finding it must give.

A real HTTP server on loopback answers; the suites' own schema loading, ``Recorder`` and
``finding_from_failure`` judge it, as in a run. The auth rows are Schemathesis' own probes (the
case repeated without, and with invalid, authentication): their finding is about the probe's
exchange, so it carries neither the caller's key nor the caller's answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from hokusai_contracts import FindingKind, Hop, Suite
from hokusai_contracts.checks.suites.context import SuiteContext
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.contracts.loading import Contract

KEY = "hk_live_" + "Fail9" * 6 + "zz"
CONTRACT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "items", "version": "1"},
    "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearerAuth": []}],
    "paths": {"/items": {"get": {
        "operationId": "listItems",
        "responses": {
            "200": {"description": "the items",
                    "headers": {"X-Request-Id": {"required": True, "schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}}}},
            "401": {"description": "no valid key",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
        },
    }}},
}
Answer = tuple[int, dict[str, str], bytes]
Behaviour = Callable[[str | None], Answer]  # the Authorization header -> the answer

GOOD: Answer = (200, {"Content-Type": "application/json", "X-Request-Id": "r1"}, b'{"count": 1}')
REFUSED: Answer = (401, {"Content-Type": "application/json"}, b'{"detail": "no"}')


def keyed(answer: Answer) -> Behaviour:
    """``answer`` for the real key, 401 for anything else: only the answer itself can be wrong."""
    return lambda auth: answer if auth == f"Bearer {KEY}" else REFUSED


def keyed_or(answer: Answer, otherwise: Answer) -> Behaviour:
    return lambda auth: answer if auth == f"Bearer {KEY}" else otherwise


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, Behaviour]]]:
    behaviour: dict[str, Behaviour] = {"now": keyed(GOOD)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            status, headers, body = behaviour["now"](self.headers.get("Authorization"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
    httpd.shutdown()


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> SuiteContext:
    directory = tmp_path_factory.mktemp("run") / "contracts"
    directory.mkdir()
    (directory / "items.yaml").write_text(yaml.safe_dump(CONTRACT), "utf-8")
    return SuiteContext(proxy_url="http://unused", auth_url="http://unused", api_key=KEY, contracts_dir=directory,
                        display_root=directory.parent, results_file=directory / "results.jsonl")


ROWS = [
    # name, behaviour, findings as (kind, location), expected contains, observed starts with
    ("undocumented status", keyed((418, {"Content-Type": "application/json"}, b'{"teapot": true}')),
     {(FindingKind.UNDOCUMENTED_STATUS, "status")}, "documented statuses: 200, 401", "418 "),
    ("response schema", keyed((200, {"Content-Type": "application/json", "X-Request-Id": "r"}, b'{"count": "x"}')),
     {(FindingKind.RESPONSE_SCHEMA, "body.count")}, "Response violates schema", "Response violates schema"),
    ("missing header", keyed((200, {"Content-Type": "application/json"}, b'{"count": 1}')),
     {(FindingKind.MISSING_HEADER, "header.X-Request-Id")}, "headers X-Request-Id",
     "Missing required response headers"),
    ("content type", keyed((200, {"Content-Type": "text/plain", "X-Request-Id": "r"}, b"one")),
     {(FindingKind.CONTENT_TYPE, "header.Content-Type")}, "Undocumented Content-Type", "Undocumented Content-Type"),
    ("server error", keyed((500, {"Content-Type": "application/json"}, b'{"error": "boom"}')),
     {(FindingKind.SERVER_ERROR, "status"), (FindingKind.UNDOCUMENTED_STATUS, "status")}, "no 5xx", "500 "),
    ("no authentication accepted", lambda auth: GOOD,
     {(FindingKind.IGNORED_AUTH, "status")}, "401 or 403 for a request without authentication", "200 "),
    ("invalid authentication accepted", lambda auth: GOOD if auth else REFUSED,
     {(FindingKind.IGNORED_AUTH, "status")}, "401 or 403 for a request with invalid credentials", "200 "),
    # Refused, but with a status the contract does not give for a missing key: the probe's 400 is
    # what was seen, not the authenticated call's 200.
    ("no authentication refused with 400", keyed_or(GOOD, (400, {"Content-Type": "application/json"}, b'{"e": 1}')),
     {(FindingKind.UNDOCUMENTED_STATUS, "status")}, "401 for a request without authentication", "400 "),
]


@pytest.mark.parametrize(("behaviour", "found", "expected", "observed"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_a_schemathesis_failure_becomes_the_finding_that_names_it(
        server: tuple[str, dict[str, Behaviour]], context: SuiteContext, behaviour: Behaviour,
        found: set[tuple[FindingKind, str]], expected: str, observed: str) -> None:
    base_url, now = server
    now["now"] = behaviour
    contract = Contract.load(context.contracts_dir / "items.yaml", root=context.display_root)
    recorder = Recorder(Suite.PROXY, Hop.CLIENT_TO_PROXY, contract, context)
    case = load_schema(context, "items.yaml", base_url)["/items"]["GET"].Case()
    response = recorder.call(case, base_url, headers={"Authorization": f"Bearer {KEY}"})

    assert response is not None and recorder.cases == 1
    assert {(f.kind, f.location) for f in recorder.findings} == found
    finding = next(f for f in recorder.findings if (f.kind, f.location) == sorted(found)[0])
    assert expected in finding.expected
    assert finding.observed.startswith(observed), finding.observed
    assert (finding.hop, finding.operation, finding.suite) == (Hop.CLIENT_TO_PROXY, "GET /items", Suite.PROXY)
    assert finding.contract is not None and finding.contract.file == "contracts/items.yaml"
    assert finding.contract.pointer.startswith("/paths/~1items/get") and finding.contract.line
    if finding.kind is FindingKind.UNDOCUMENTED_STATUS and observed == "400 ":
        assert finding.contract.pointer == "/paths/~1items/get/responses/401"
    (exchange,) = finding.exchanges
    assert exchange.method == "GET" and exchange.url.startswith(base_url + "/items")
    if observed[0].isdigit():
        assert exchange.status == int(observed.split()[0])
    assert finding.reproduction and "/items" in finding.reproduction
    # No key whole anywhere in a finding (masked as hk_live_Fa...9zz at most).
    assert KEY not in json.dumps(finding.model_dump(mode="json"))


@pytest.mark.parametrize(("behaviour", "sent"), [
    (lambda auth: GOOD, None),
    (lambda auth: GOOD if auth else REFUSED, "invalid"),
], ids=["without authentication", "with invalid authentication"])
def test_an_auth_probe_finding_is_about_the_probe(server: tuple[str, dict[str, Behaviour]], context: SuiteContext,
                                                  behaviour: Behaviour, sent: str | None) -> None:
    base_url, now = server
    now["now"] = behaviour
    contract = Contract.load(context.contracts_dir / "items.yaml", root=context.display_root)
    recorder = Recorder(Suite.PROXY, Hop.CLIENT_TO_PROXY, contract, context)
    case = load_schema(context, "items.yaml", base_url)["/items"]["GET"].Case()
    recorder.call(case, base_url, headers={"Authorization": f"Bearer {KEY}"})
    (finding,) = recorder.findings
    (exchange,) = finding.exchanges
    authorization = {k.lower(): v for k, v in exchange.request_headers.items()}.get("authorization")
    assert finding.reproduction is not None
    if sent is None:  # the probe left the credentials out: so do its exchange and its curl
        assert authorization is None and "Authorization" not in finding.reproduction
    else:  # the probe's made-up credentials, never the caller's key, masked or not
        assert authorization is not None and KEY[:10] not in authorization
        assert KEY[:10] not in finding.reproduction


def test_a_server_that_does_not_answer_is_unreachable(context: SuiteContext, tmp_path: Path) -> None:
    contract = Contract.load(context.contracts_dir / "items.yaml", root=context.display_root)
    recorder = Recorder(Suite.PROXY, Hop.CLIENT_TO_PROXY, contract, context)
    base_url = "http://127.0.0.1:9"  # discard: nothing listens
    case = load_schema(context, "items.yaml", base_url)["/items"]["GET"].Case()
    assert recorder.call(case, base_url) is None
    (finding,) = recorder.findings
    assert (finding.kind, finding.location) == (FindingKind.UNREACHABLE, "connection")
    assert finding.exchanges[0].error == "ConnectionError"


def test_auth_enforcement_is_probed_until_confirmed_then_once_per_operation(
        server: tuple[str, dict[str, Behaviour]], context: SuiteContext) -> None:
    """As Schemathesis' own runner does: two probes on the first accepted case, none after it."""
    base_url, now = server
    seen: list[str | None] = []

    def counting(behaviour: Behaviour) -> Behaviour:
        return lambda auth: (seen.append(auth), behaviour(auth))[1]

    contract = Contract.load(context.contracts_dir / "items.yaml", root=context.display_root)
    operation = load_schema(context, "items.yaml", base_url)["/items"]["GET"]
    now["now"] = counting(keyed(GOOD))
    enforcing = Recorder(Suite.PROXY, Hop.CLIENT_TO_PROXY, contract, context)
    for _ in range(3):
        enforcing.call(operation.Case(), base_url, headers={"Authorization": f"Bearer {KEY}"})
    assert len(seen) == 3 + 2 and enforcing.findings == [] and enforcing.auth_enforced == {"GET /items"}

    # An operation that lets a request without a key in is probed on every case: each is a finding.
    seen.clear()
    now["now"] = counting(lambda auth: GOOD)
    ignoring = Recorder(Suite.PROXY, Hop.CLIENT_TO_PROXY, contract, context)
    for _ in range(3):
        ignoring.call(operation.Case(), base_url, headers={"Authorization": f"Bearer {KEY}"})
    assert len(seen) > 3 + 2 and ignoring.auth_enforced == set()
    (finding,) = ignoring.findings
    assert finding.kind is FindingKind.IGNORED_AUTH and finding.count == 3
