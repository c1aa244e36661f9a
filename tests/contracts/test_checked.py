"""A contract that passed its check is not checked again (``contracts._checked``); one that failed always is."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts import loading
from hokusai_contracts.contracts.loading import Contract

VALID = """openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /x:
    get:
      responses:
        '200': {description: ok}
"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOKUSAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "checked-contracts"


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = loading.check_document

    def counting(document: dict[str, object], display: str, lines: dict[str, int]) -> None:
        calls.append(display)
        real(document, display, lines)

    monkeypatch.setattr(loading, "check_document", counting)
    return calls


def test_a_contract_that_passed_is_not_checked_again(tmp_path: Path, own_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _checks(monkeypatch)
    for name in ("a.yaml", "b.yaml"):  # two paths, so the in-memory cache cannot answer
        (tmp_path / name).write_text(VALID)
        Contract.load(tmp_path / name, root=tmp_path)
    assert calls == ["a.yaml"] and len(list(own_cache.iterdir())) == 1


def test_a_changed_contract_is_checked_and_a_failing_one_never_remembered(tmp_path: Path, own_cache: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _checks(monkeypatch)
    broken = VALID.replace("'200': {description: ok}", "'200': {$ref: '#/components/responses/Nope'}")
    for attempt in range(2):
        (tmp_path / f"broken{attempt}.yaml").write_text(broken)
        with pytest.raises(ContractError, match="points at nothing"):
            Contract.load(tmp_path / f"broken{attempt}.yaml", root=tmp_path)
    assert calls == ["broken0.yaml", "broken1.yaml"]
    assert not own_cache.exists() or not list(own_cache.iterdir())


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("HOKUSAI_CACHE_DIR", str(blocker))  # a file: no directory can be made under it
    calls = _checks(monkeypatch)
    for name in ("c.yaml", "d.yaml"):
        (tmp_path / name).write_text(VALID)
        Contract.load(tmp_path / name, root=tmp_path)
    assert calls == ["c.yaml", "d.yaml"]
