"""Known deviations: matching marks findings known (never drops them); expiry and validation."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from hokusai_contracts import Finding, FindingKind, Hop
from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts.deviations import KnownDeviations

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 1, 15)
VALIDATE = "POST /api/v1/keys/validate"


REJECTED = '401 {"detail": "Invalid or expired API key"}'


def finding(kind: FindingKind = FindingKind.UNDOCUMENTED_STATUS, *, operation: str = VALIDATE,
            location: str = "status", observed: str = REJECTED,
            hop: Hop = Hop.PROXY_TO_AUTH) -> Finding:
    return Finding(hop=hop, operation=operation, kind=kind, location=location,
                   expected="one of the documented statuses: 200, 422", observed=observed,
                   recommendation="The auth service ...")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "known-deviations.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


ENTRY = """\
deviations:
  - id: one
    operation: POST /api/v1/keys/validate
    kind: undocumented_status
    {extra}
    reason: reviewed
    evidence: topology.md
    reviewed_by: platform-team
    expires: {expires}
"""


def entry(tmp_path: Path, extra: str = "location: status", expires: str = "2026-06-30") -> Path:
    return write(tmp_path, ENTRY.format(extra=extra, expires=expires))


def test_the_project_file_marks_the_undocumented_401_and_429() -> None:
    deviations = KnownDeviations.load(ROOT / "contracts" / "known-deviations.yaml", root=ROOT)
    found = [finding(), finding(observed="429 {}"), finding(observed="500 oops"),
             finding(FindingKind.MISSING_REQUIRED_FIELD, location="body.api_key")]
    marked = deviations.apply(found, TODAY)
    assert [f.known for f in marked] == [True, True, False, False]
    assert marked[0].known_reason is not None and "incident 6" in marked[0].known_reason
    assert "auth-validate-undocumented-401" in marked[0].known_reason
    assert found[0].known is False  # the input is not mutated
    assert deviations.expired(TODAY) == []


@pytest.mark.parametrize(("extra", "candidate", "known"), [
    ("location: status", finding(), True),
    ("location: 'body.*'", finding(location="body.api_key"), True),
    ("location: 'body.*'", finding(location="status"), False),
    ("observed: '401*'", finding(), True),
    ("observed: '401*'", finding(observed="429 {}"), False),
    ("observed: '*expired*'", finding(), True),
    ("hop: proxy->auth", finding(), True),
    ("hop: client->auth", finding(), False),
    ("location: status", finding(operation="POST /api/v1/keys/{key_id}"), False),
    ("location: status", finding(FindingKind.SERVER_ERROR), False),
], ids=["location", "location-glob", "location-glob-miss", "observed-glob", "observed-miss",
        "observed-inner", "hop", "hop-miss", "operation-exact", "kind-exact"])
def test_matching(tmp_path: Path, extra: str, candidate: Finding, known: bool) -> None:
    deviations = KnownDeviations.load(entry(tmp_path, extra), root=tmp_path)
    (marked,) = deviations.apply([candidate], TODAY)
    assert marked.known is known
    assert (marked.known_reason is not None) is known


def test_an_expired_entry_stops_matching_and_warns(tmp_path: Path) -> None:
    deviations = KnownDeviations.load(entry(tmp_path, expires="2026-01-14"), root=tmp_path)
    marked = deviations.apply([finding()], TODAY)
    assert len(marked) == 1 and marked[0].known is False
    (warning,) = deviations.expired(TODAY)
    assert warning.startswith(
        "known-deviations.yaml:9: known deviation 'one' expired on 2026-01-14")
    assert "Renew it" in warning
    # The expiry date itself is still covered.
    assert deviations.apply([finding()], date(2026, 1, 14))[0].known is True


BAD = [
    ("missing-reason", ENTRY.replace("    reason: reviewed\n", ""),
     "entry 'one': reason is missing", 2),
    ("missing-expiry", ENTRY.replace("    expires: {expires}\n", ""),
     "entry 'one': expires is missing", 2),
    ("unknown-kind", ENTRY.replace("undocumented_status", "undocumented_statuses"),
     "entry 'one': unknown kind 'undocumented_statuses' (did you mean 'undocumented_status'?)", 4),
    ("bad-date", ENTRY.replace("{expires}", "2026-13-01"),
     "entry 'one': expires '2026-13-01' is not a date written YYYY-MM-DD", 9),
    ("number-date", ENTRY.replace("{expires}", "20260630"),
     "entry 'one': expires 20260630 is not a date written YYYY-MM-DD", 9),
    ("bad-operation", ENTRY.replace("POST /api/v1/keys/validate", "/api/v1/keys/validate"),
     "entry 'one': operation: Value error, must be `METHOD /path`", 3),
    ("unknown-field", ENTRY.replace("{extra}", "reson: typo"), "unknown field 'reson'", 5),
    ("bad-hop", ENTRY.replace("{extra}", "hop: proxy->db"), "unknown hop 'proxy->db'", 5),
    ("no-id", ENTRY.replace("  - id: one\n    operation", "  - operation"),
     "entry 1: id is missing", 2),
]


@pytest.mark.parametrize(("text", "message", "line"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_entries_name_the_entry_and_line(tmp_path: Path, text: str, message: str,
                                             line: int) -> None:
    path = write(tmp_path, text.replace("{extra}", "location: status").replace("{expires}",
                                                                                 "2026-06-30"))
    with pytest.raises(ContractError) as caught:
        KnownDeviations.load(path, root=tmp_path)
    assert message in str(caught.value)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"known-deviations.yaml:{line}: ")


@pytest.mark.parametrize(("text", "message"), [
    ("- just\n- a list\n", "not a mapping with a `deviations:` list"),
    ("deviations: [\n", "not valid YAML"),
    ("deviations: 5\n", "deviations: Input should be a valid list"),
], ids=["list", "yaml", "not-a-list"])
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ContractError, match="^known-deviations.yaml") as caught:
        KnownDeviations.load(write(tmp_path, text), root=tmp_path)
    assert message in str(caught.value)


def test_duplicate_ids(tmp_path: Path) -> None:
    one = ENTRY.format(extra="location: status", expires="2026-06-30")
    twice = one + one.removeprefix("deviations:\n")
    with pytest.raises(ContractError, match="entry 'one' appears twice"):
        KnownDeviations.load(write(tmp_path, twice), root=tmp_path)


def test_empty_file_has_no_deviations(tmp_path: Path) -> None:
    assert KnownDeviations.load(write(tmp_path, "# nothing yet\n"), root=tmp_path).deviations == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read the known deviations"):
        KnownDeviations.load(tmp_path / "nope.yaml", root=tmp_path)


def test_entries_naming_mlflow_versions_apply_to_those_versions_only(tmp_path: Path) -> None:
    path = tmp_path / "known-deviations.yaml"
    entry = ("  - id: {id}\n    operation: GET /api/2.0/mlflow/*\n    kind: server_error\n{versions}"
             "    reason: r\n    evidence: e\n    reviewed_by: t\n    expires: '2099-01-01'\n")
    path.write_text("deviations:\n" + entry.format(id="every", versions="")
                    + entry.format(id="old", versions='    mlflow_versions: ["2.9.2", "3.4.0"]\n'))
    loaded = KnownDeviations.load(path, root=tmp_path)
    assert [d.id for d in loaded.for_mlflow("2.9.2").deviations] == ["every", "old"]
    assert [d.id for d in loaded.for_mlflow("3.17.2").deviations] == ["every"]
    assert [d.id for d in loaded.for_mlflow(None).deviations] == ["every", "old"]


def test_entries_naming_stores_apply_to_those_stores_only(tmp_path: Path) -> None:
    path = tmp_path / "known-deviations.yaml"
    entry = ("  - id: {id}\n    operation: GET /api/2.0/mlflow/*\n    kind: server_error\n{limit}"
             "    reason: r\n    evidence: e\n    reviewed_by: t\n    expires: '2099-01-01'\n")
    path.write_text("deviations:\n" + entry.format(id="every", limit="")
                    + entry.format(id="pg", limit="    backends: [postgresql]\n")
                    + entry.format(id="sqlite", limit="    backends: [sqlite]\n")
                    + entry.format(id="s3", limit="    artifact_stores: [s3]\n"))
    loaded = KnownDeviations.load(path, root=tmp_path)
    assert [d.id for d in loaded.for_stores("postgresql", "s3").deviations] == ["every", "pg", "s3"]
    assert [d.id for d in loaded.for_stores("sqlite", "local").deviations] == ["every", "sqlite"]
    assert [d.id for d in loaded.for_stores(None, None).deviations] == ["every", "pg", "sqlite", "s3"]
    path.write_text("deviations:\n" + entry.format(id="typo", limit="    backends: [mysql]\n"))
    with pytest.raises(ContractError, match="entry 'typo': backends"):
        KnownDeviations.load(path, root=tmp_path)
