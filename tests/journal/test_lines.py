"""The journal's file format: the line journals have always written reads into the record and back unchanged."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from hokusai_contracts.domain.exchange import Body, CredentialSighting, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import journal_line, parse_journal_line, read_journal

# Written by the journal before the record existed (pydantic's JournalEntry.model_dump_json()).
OLD_LINE = ('{"seq":3,"hop":"proxy->mlflow","started_at":1700000000.5,"method":"POST",'
            '"path":"/api/2.0/mlflow/runs/create","raw_path":"/api/2.0/mlflow/runs/create","query":[["a","b c"]],'
            '"trace":"ab12cd34-3","request_headers":{"content-type":"application/json"},'
            '"request_body":"{\\"name\\":\\"é\\"}","request_body_size":14,"request_body_sha256":"' + "0" * 64 + '",'
            '"credentials":[{"location":"header.authorization","masked":"hk_live_jj...WXYZ"}],"status":200,'
            '"response_headers":{"content-type":"application/json"},"response_body":"{}","response_body_size":2,'
            '"elapsed_ms":3.25,"error":null,"fault":null}')


def test_an_old_journal_line_reads_into_the_record_and_writes_back_byte_for_byte() -> None:
    exchange = parse_journal_line(OLD_LINE)
    assert exchange.hop is Hop.PROXY_TO_MLFLOW and exchange.query == (("a", "b c"),)
    assert exchange.request_body == Body('{"name":"é"}', 14, "0" * 64)
    assert exchange.response_body == Body("{}", 2)
    assert exchange.credentials == (CredentialSighting("header.authorization", "hk_live_jj...WXYZ"),)
    assert journal_line(exchange) == OLD_LINE


def test_a_line_with_only_the_required_fields_reads(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"seq":1,"hop":"proxy->auth","started_at":0,"method":"GET","path":"/"}\n\n', "utf-8")
    (exchange,) = read_journal(path)
    assert (exchange.method, exchange.status, exchange.request_body) == ("GET", None, Body())


@pytest.mark.parametrize("line", ['{"seq":1,"hop":"client->test","started_at":0,"method":"GET","path":"/"}',
                                  '{"seq":"x","hop":"proxy->auth","started_at":0,"method":"GET","path":"/"}'])
def test_a_line_that_is_no_exchange_fails_validation(line: str) -> None:
    with pytest.raises(ValidationError):
        parse_journal_line(line)


def test_a_line_without_its_required_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="no hop, started_at"):
        parse_journal_line('{"seq":1,"method":"GET","path":"/"}')


def test_the_record_is_small_immutable_and_pickles() -> None:
    exchange = parse_journal_line(OLD_LINE)
    assert pickle.loads(pickle.dumps(exchange)) == exchange
    assert len(pickle.dumps(exchange)) < 2 * len(OLD_LINE)
    with pytest.raises(AttributeError):
        exchange.status = 500  # type: ignore[misc]
    assert not hasattr(exchange, "__dict__")
    assert HttpExchange("GET", "/x", query=(("a", "1"),), origin="http://h").url == "http://h/x?a=1"
