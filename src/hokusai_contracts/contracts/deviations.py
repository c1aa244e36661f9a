"""Known deviations: reviewed, dated acknowledgements that a contract and reality differ.

``contracts/known-deviations.yaml`` (its header documents the format) lists
findings the team has looked at and accepted for now, each with a reason, the
evidence, who reviewed it and when the acceptance expires. A matching finding
is reported with ``known: true`` and the reason; it is never dropped, so the
report always shows the gap. An expired entry stops matching (its findings
fail the run again) and yields a warning, so an acceptance cannot quietly
become permanent.

Matching: ``operation`` and ``kind`` exactly, ``hop`` if given, ``location``
and ``observed`` as shell-style globs (``fnmatch``, case-sensitive: ``*``,
``?``, ``[seq]``; write ``[[]`` for a literal ``[``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts._source import join_pointer, nearest_line, parse_with_lines
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.settings import ArtifactStore, BackendStore

__all__ = ["KnownDeviation", "KnownDeviations"]

_OPERATION = re.compile(r"(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE|\*) /\S*")
_FORMAT_HINT = (
    "Each entry needs id, operation (METHOD /path), kind, reason, evidence, reviewed_by and "
    "expires (YYYY-MM-DD); hop, location, observed, mlflow_versions, backends and artifact_stores are optional. "
    "See the file's header."
)


class KnownDeviation(BaseModel):
    """One reviewed deviation: which findings it covers, why, and until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    operation: str = Field(description="`METHOD /path` as in the contract; `*` globs allowed (`* /api/v1/keys*`).")
    kind: FindingKind
    hop: Hop | None = None
    location: str | None = Field(default=None, description="Glob on the finding's location.")
    observed: str | None = Field(default=None, description="Glob on the redacted observed text.")
    mlflow_versions: list[str] | None = Field(default=None, description="The MLflow server versions it was seen "
                                              "with; unset: every version.")
    backends: list[BackendStore] | None = Field(default=None, description="The backend stores it was seen with "
                                                "(BACKEND_STORE: sqlite, postgresql); unset: every store.")
    artifact_stores: list[ArtifactStore] | None = Field(default=None, description="The artifact stores it was seen "
                                                        "with (ARTIFACT_STORE: local, s3); unset: every store.")
    reason: str = Field(min_length=1)
    evidence: str = Field(min_length=1)
    reviewed_by: str = Field(min_length=1)
    expires: date = Field(description="Last day the entry matches (YYYY-MM-DD).")

    @field_validator("operation")
    @classmethod
    def _operation_shape(cls, value: str) -> str:
        if not _OPERATION.fullmatch(value):
            raise ValueError("must be `METHOD /path` as in the contract, e.g. `POST /api/v1/keys`")
        return value

    @field_validator("expires", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # pydantic would read a bare number as a Unix timestamp; only YYYY-MM-DD is a date here.
        if isinstance(value, date) or (isinstance(value, str) and
                                       re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
            return value
        raise ValueError("must be a date written YYYY-MM-DD")

    def is_expired(self, today: date) -> bool:
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        return (
            fnmatchcase(finding.operation, self.operation)
            and finding.kind == self.kind
            and (self.hop is None or finding.hop == self.hop)
            and (self.location is None or fnmatchcase(finding.location, self.location))
            and (self.observed is None or fnmatchcase(finding.observed, self.observed))
        )


class KnownDeviations(BaseModel):
    """The whole file. Its JSON Schema (``model_json_schema()``) documents the format."""

    model_config = ConfigDict(extra="forbid")

    deviations: list[KnownDeviation] = Field(default_factory=list)
    _file: str = PrivateAttr(default="")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, root: str | Path | None = None) -> KnownDeviations:
        """Read and validate a known-deviations file; ContractError names the bad entry."""
        path = Path(path).resolve()
        base = Path(root).resolve() if root is not None else Path.cwd().resolve()
        display = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(display, f"cannot read the known deviations ({exc})",
                                hint="Create it (an empty `deviations: []` will do).") from exc
        data, lines = parse_with_lines(text, display)
        if data is None:
            data = {"deviations": []}
        if not isinstance(data, dict):
            raise ContractError(display, "not a mapping with a `deviations:` list", line=1,
                                hint=_FORMAT_HINT)
        try:
            loaded = cls.model_validate(data)
        except ValidationError as exc:
            raise _entry_error(exc, data, display, lines) from None
        seen: dict[str, int] = {}
        for index, entry in enumerate(loaded.deviations):
            if entry.id in seen:
                raise ContractError(
                    display, f"entry {entry.id!r} appears twice (entries {seen[entry.id] + 1} "
                    f"and {index + 1})", line=lines.get(f"/deviations/{index}/id"),
                    hint="Give each entry its own id.")
            seen[entry.id] = index
        loaded._file, loaded._lines = display, lines
        return loaded

    def apply(self, findings: Iterable[Finding], today: date) -> list[Finding]:
        """Mark findings that match an unexpired entry ``known``; every finding is kept."""
        active = [d for d in self.deviations if not d.is_expired(today)]
        marked = []
        for finding in findings:
            entry = next((d for d in active if d.matches(finding)), None)
            if entry is None:
                marked.append(finding)
                continue
            reason = (f"{entry.reason} (known deviation {entry.id}, reviewed by "
                      f"{entry.reviewed_by}, expires {entry.expires.isoformat()})")
            marked.append(finding.model_copy(update={"known": True, "known_reason": reason}))
        return marked

    def for_mlflow(self, version: str | None) -> KnownDeviations:
        """The entries that apply to a run against MLflow ``version`` (None: a version not known, every entry)."""
        if version is None:
            return self
        kept = self.model_copy(update={"deviations": [d for d in self.deviations
                                                      if d.mlflow_versions is None or version in d.mlflow_versions]})
        kept._file, kept._lines = self._file, self._lines  # expiry warnings keep pointing at the file's lines
        return kept

    def for_stores(self, backend: BackendStore | None, artifacts: ArtifactStore | None) -> KnownDeviations:
        """The entries that apply to MLflow on these stores (None: not known, as a live run: every entry)."""
        kept = self.model_copy(update={"deviations": [
            d for d in self.deviations
            if (backend is None or d.backends is None or backend in d.backends)
            and (artifacts is None or d.artifact_stores is None or artifacts in d.artifact_stores)]})
        kept._file, kept._lines = self._file, self._lines
        return kept

    def expired(self, today: date) -> list[str]:
        """One warning per expired entry: it no longer matches, so its findings fail again."""
        warnings = []
        for index, entry in enumerate(self.deviations):
            if entry.is_expired(today):
                line = self._lines.get(f"/deviations/{index}/expires")
                where = f"{self._file}:{line}" if line else self._file or "known deviations"
                warnings.append(
                    f"{where}: known deviation {entry.id!r} expired on {entry.expires.isoformat()} "
                    "and no longer matches, so its findings count as failures again. Renew it "
                    "after a fresh review, or fix the deviation.")
        return warnings


def _entry_error(exc: ValidationError, data: dict[str, Any], display: str,
                 lines: dict[str, int]) -> ContractError:
    """Turn pydantic's errors into one paragraph naming the entry, its line and the problems."""
    first = exc.errors()[0]
    loc = list(first["loc"])
    entries = data.get("deviations")
    if len(loc) < 2 or loc[0] != "deviations" or not isinstance(loc[1], int):
        return ContractError(display, f"{'.'.join(map(str, loc)) or 'file'}: {first['msg']}",
                             line=nearest_line(lines, join_pointer("", *loc)), hint=_FORMAT_HINT)
    index = loc[1]
    raw = entries[index] if isinstance(entries, list) and index < len(entries) else {}
    name = f"entry {raw['id']!r}" if isinstance(raw, dict) and raw.get("id") else \
        f"entry {index + 1}"
    problems = [_problem(e) for e in exc.errors() if list(e["loc"])[:2] == ["deviations", index]]
    return ContractError(display, f"{name}: " + "; ".join(problems),
                         line=nearest_line(lines, join_pointer("", *loc)), hint=_FORMAT_HINT)


def _problem(error: Any) -> str:
    field = ".".join(str(part) for part in list(error["loc"])[2:]) or "entry"
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"{field} is missing"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "enum":
        choices = [k.value for k in (FindingKind if field == "kind" else Hop)]
        near = difflib.get_close_matches(str(value), choices, n=1)
        return f"unknown {field} {value!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
    if field == "expires":
        return f"expires {value!r} is not a date written YYYY-MM-DD"
    return f"{field}: {error['msg']}"
