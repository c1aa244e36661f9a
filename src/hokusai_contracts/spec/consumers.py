"""Consumer expectations: what a known consumer sends and reads, and which spec changes hit it.

A breaking change to an operation nobody calls, or to a field nobody reads,
breaks "nobody we know of"; the same change to what the proxy sends every
request breaks the proxy. ``contracts/consumers/*.yaml`` says, per consumer
and operation, which request locations it fills (``body.api_key``,
``path.key_id``, ``header.Authorization``) and, per status it handles, which
locations of the answer it reads (``body.key_id``, ``header.Retry-After``).

A change *hits* a consumer when the consumer calls its operation and:

- it removes the operation, changes its security or the request media type
  (while the consumer sends a body): every caller must change;
- it adds a required field or parameter the consumer does not send yet;
- otherwise, its location overlaps one the consumer sends or reads
  (``response.200.body.key_id`` and ``body.key_id`` under ``'200'``), or it is
  a status the consumer handles (``response.429``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.spec.diff import ChangeKind, SpecChange

__all__ = [
    "Consumer",
    "ConsumerOperation",
    "JournalComparison",
    "compare_with_journal",
    "expectations_from_journal",
    "impact",
    "load_consumers",
    "render_expectations",
]

_SENDS = re.compile(r"(body|query|header|path|cookie)(\.[^.\s]+|\[\])*|body")
_READS = re.compile(r"(body|header)(\.[^.\s]+|\[\])*|body")
_HINT = "See contracts/consumers/mlflow-proxy.yaml for the format."


def _operation_key(label: str) -> str:
    """``POST /api/v1/usage/{id}`` and ``post /api/v1/usage/{key_id}`` are one operation."""
    method, _, path = label.strip().partition(" ")
    return f"{method.upper()} {re.sub(r'{[^{}]*}', '{}', path.strip())}"


def _overlaps(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


class ConsumerOperation(BaseModel):
    """What one consumer sends to one operation, and what it reads of each status's answer."""

    model_config = ConfigDict(extra="forbid")

    sends: list[str] = Field(default_factory=list, description="body.<field>, path.<name>, query.<name>, "
                                                               "header.<Name>, cookie.<name>.")
    reads: dict[str, list[str]] = Field(default_factory=dict, description="Status -> body.<field>, header.<Name> "
                                                                          "read from that answer ([] = status only).")

    @field_validator("reads", mode="before")
    @classmethod
    def _status_keys(cls, value: Any) -> Any:
        # YAML reads an unquoted 200 as an int.
        return {str(k): v or [] for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("sends")
    @classmethod
    def _sends_locations(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SENDS.fullmatch(v)]
        if bad:
            raise ValueError(f"not a request location: {bad[0]!r} (body.<field>, query.<name>, header.<Name> ...)")
        return value

    @field_validator("reads")
    @classmethod
    def _reads_locations(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for status, locations in value.items():
            if not re.fullmatch(r"[1-5](\d\d|XX)|default", status):
                raise ValueError(f"not a status: {status!r}")
            bad = [v for v in locations if not _READS.fullmatch(v)]
            if bad:
                raise ValueError(f"not a response location under {status}: {bad[0]!r} (body.<field>, header.<Name>)")
        return value

    def touches(self, change: SpecChange) -> bool:
        """Whether ``change`` hits what this consumer sends to or reads from the operation."""
        location = change.location
        if change.kind in (ChangeKind.OPERATION_REMOVED, ChangeKind.SECURITY_CHANGED):
            return True
        if change.kind is ChangeKind.MEDIA_TYPE_CHANGED and location == "body":
            return any(_overlaps("body", s) for s in self.sends)
        if change.kind in (ChangeKind.REQUIRED_FIELD_ADDED, ChangeKind.PARAMETER_ADDED_REQUIRED):
            if any(s.lower() == location.lower() for s in self.sends):
                return False  # it already sends it
            parent = location.rsplit(".", 1)[0] if "." in location else location
            top_level = parent in ("body", "query", "header", "path", "cookie") or location == "body"
            return top_level or any(_overlaps(parent, s) for s in self.sends)
        if any(_overlaps(location, s) for s in self.sends):
            return True
        for status, fields in self.reads.items():
            if location == f"response.{status}":
                return True
            if any(_overlaps(location, f"response.{status}.{f}") for f in fields):
                return True
        return False


class Consumer(BaseModel):
    """One known consumer of a provider's contract, as written in ``contracts/consumers/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    contract: str | None = Field(default=None, description="The provider contract it calls, e.g. "
                                                           "contracts/auth-service.yaml.")
    operations: dict[str, ConsumerOperation] = Field(default_factory=dict)

    def operation(self, label: str) -> ConsumerOperation | None:
        """What it does with ``label`` (``METHOD /path``; path parameter names do not matter)."""
        wanted = _operation_key(label)
        return next((op for name, op in self.operations.items() if _operation_key(name) == wanted), None)

    def hit_by(self, change: SpecChange) -> bool:
        """Whether ``change`` (to this consumer's provider contract, if it names one) hits it."""
        if self.contract and change.current and not _same_file(self.contract, change.current.file):
            return False  # another provider's operation, even if its label is the same
        calls = self.operation(change.operation)
        return calls is not None and calls.touches(change)


def _same_file(a: str, b: str) -> bool:
    """``contracts/auth-service.yaml`` names the same file as ``/work/x/contracts/auth-service.yaml``."""
    a, b = Path(a).as_posix(), Path(b).as_posix()
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def load_consumers(directory: str | Path, root: str | Path | None = None) -> list[Consumer]:
    """Every ``*.yaml``/``*.yml``/``*.json`` expectations file in ``directory``, sorted by file name.

    A missing directory means no known consumers. A file that is not valid YAML or not
    in the format raises ``ContractError`` naming it (and the line, for a syntax error).
    """
    folder = Path(directory)
    base = Path(root).resolve() if root is not None else Path.cwd().resolve()
    consumers = []
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".yaml", ".yml", ".json")) \
        if folder.is_dir() else []
    for path in files:
        resolved = path.resolve()
        display = resolved.relative_to(base).as_posix() if resolved.is_relative_to(base) else str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(display, f"cannot read the consumer expectations ({exc})") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ContractError(display, f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                                line=mark.line + 1 if mark else None, hint=_HINT) from exc
        try:
            consumers.append(Consumer.model_validate(data))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "the document"
            raise ContractError(display, f"not a consumer expectations file: {where}: {error['msg']}",
                                hint=_HINT) from exc
    return consumers


def impact(changes: Iterable[SpecChange], consumers: Sequence[Consumer]) -> list[tuple[SpecChange, list[str]]]:
    """Each change with the names of the consumers it hits (``[]``: nobody we know of)."""
    return [(change, [c.name for c in consumers if c.hit_by(change)]) for change in changes]


# -- refreshing from a hop journal -----------------------------------------------------------

# Credential headers are worth knowing about even when the contract declares none: a security
# change hits whoever sends them. Transport headers (Host, User-Agent, Content-Length) are not.
_CREDENTIAL_HEADERS = {"authorization": "Authorization", "x-api-key": "X-API-Key"}


def _fields(text: str | None, prefix: str) -> list[str]:
    """``{"a": {"b": 1}, "c": [{"d": 2}]}`` -> body.a, body.a.b, body.c, body.c[].d."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: Any, at: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                found.append(f"{at}.{key}")
                walk(child, f"{at}.{key}")
        elif isinstance(node, list):
            for child in node:
                walk(child, f"{at}[]")

    walk(value, prefix)
    return found


def expectations_from_journal(entries: Iterable[HttpExchange], contract: Contract, *, name: str = "mlflow-proxy",
                              existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The consumer expectations structure (as in ``contracts/consumers/*.yaml``) a journal shows.

    ``sends``: path parameters, query names, declared or credential headers and JSON body
    fields of every recorded request that matches an operation of ``contract``; ``reads``:
    every status answered and the JSON fields of its body. A journal sees what arrived,
    not what the consumer used, so ``reads`` over-approximates. ``existing`` (a loaded file)
    is merged in: refreshing adds, it never drops what was written by hand.
    """
    sends: dict[str, set[str]] = {}
    reads: dict[str, dict[str, set[str]]] = {}
    labels: dict[str, str] = {}
    order = {_operation_key(op.label): index for index, op in enumerate(contract.operations)}
    for label, recorded in ((existing or {}).get("operations") or {}).items():
        key = _operation_key(label)
        labels.setdefault(key, label)
        sends.setdefault(key, set()).update((recorded or {}).get("sends") or [])
        for status, fields in ((recorded or {}).get("reads") or {}).items():
            reads.setdefault(key, {}).setdefault(str(status), set()).update(fields or [])
    for entry in entries:
        found = contract.match(entry.method, entry.path)
        if found is None:
            continue  # an undeclared call is the journal judge's business, not an expectation
        op = found.operation
        key = _operation_key(op.label)
        labels.setdefault(key, op.label)
        out = sends.setdefault(key, set())
        out.update(f"path.{p}" for p in found.path_params)
        out.update(f"query.{q}" for q, _ in entry.query)
        declared = {p.name.lower(): p.name for p in op.parameters if p.location == "header"}
        for header in entry.request_headers:
            canonical = declared.get(header.lower()) or _CREDENTIAL_HEADERS.get(header.lower())
            if canonical:
                out.add(f"header.{canonical}")
        out.update(_fields(entry.request_body.text, "body"))
        if entry.status is not None:
            reads.setdefault(key, {}).setdefault(str(entry.status), set()).update(
                _fields(entry.response_body.text, "body"))
    operations = {
        labels[key]: {"sends": sorted(sends.get(key, ())),
                      "reads": {s: sorted(f) for s, f in sorted(reads.get(key, {}).items())}}
        for key in sorted(labels, key=lambda k: (order.get(k, len(order)), k))
    }
    contract_file = (existing or {}).get("contract") or contract.display_path
    return {"name": (existing or {}).get("name") or name, "contract": contract_file, "operations": operations}


_HEADER = """\
# What {name} sends to and reads from {contract}: one consumer's side of that contract.
# `make contract-spec` uses it to tell a change that breaks {name} from one that breaks nobody
# we know of (hokusai_contracts.spec.consumers).
#
# Refreshed from the hop journal by `make contract-local UPDATE_CONSUMERS=1`: what the journal
# saw is added, nothing written by hand is removed. A journal sees what arrived, not what the
# consumer used, so `reads` may list more than it reads.
"""


def render_expectations(expectations: Mapping[str, Any]) -> str:
    """The YAML text of an expectations file, with its header comment."""
    header = _HEADER.format(name=expectations.get("name", "this consumer"),
                            contract=expectations.get("contract") or "its provider's contract")
    body = yaml.safe_dump(dict(expectations), sort_keys=False, default_flow_style=None, width=110)
    return header + body


@dataclass(frozen=True)
class JournalComparison:
    """A committed expectations file against what a journal saw the consumer send."""

    #: The expectations the journal shows (merged over the file), as YAML text, for review.
    observed: str
    #: Per operation, the locations sent that the file's ``sends`` lacks.
    missing: dict[str, list[str]]
    #: The file with those locations added to ``sends`` (``reads`` stay hand-kept: a journal sees
    #: every field that arrived, not the ones the consumer uses); None when nothing is missing.
    updated: str | None


def compare_with_journal(entries: Iterable[HttpExchange], contract: Contract, committed: Path
                         ) -> JournalComparison:
    existing = yaml.safe_load(committed.read_text("utf-8")) if committed.exists() else None
    observed = expectations_from_journal(entries, contract, existing=existing)
    known = (existing or {}).get("operations") or {}
    missing: dict[str, list[str]] = {}
    for operation, seen in (observed.get("operations") or {}).items():
        new = sorted(set(seen.get("sends") or []) - set((known.get(operation) or {}).get("sends") or []))
        if new and existing is not None:
            missing[operation] = new
            entry = existing.setdefault("operations", {}).setdefault(operation, {"sends": [], "reads": {}})
            entry["sends"] = sorted(set(entry.get("sends") or []) | set(new))
    updated = render_expectations(existing) if missing and existing is not None else None
    return JournalComparison(render_expectations(observed), missing, updated)
