"""A static diff of two versions of a contract, every change judged from the consumer's side.

``diff_specs(current, candidate)`` walks the operations of both documents
(matched by method and path, path parameter names ignored), then per
operation its parameters, request body, security and responses. Schemas are
compared by ``schema_diff``; this module turns its deltas into ``SpecChange``
records that name the operation, the place in the message (``body.api_key``,
``query.service_id``, ``response.200.body.key_id``, ``security``) and the
JSON pointer and line on both sides. Where a thing exists on one side only,
the other side cites its nearest existing parent.

One change is only visible across places: a field that leaves the body while
a header, query parameter or security requirement of the same meaning
appears (incident 1: the key moving from ``api_key`` in the body to the
``Authorization`` header). Reported as two unrelated changes it would hide
what happened, so the pair becomes one ``field_moved``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hokusai_contracts.contracts.loading import Contract, Operation, Parameter
from hokusai_contracts.domain.findings import ContractRef
from hokusai_contracts.spec.schema_diff import ChangeKind, SchemaComparer, Severity, Side, nearest_pointer

__all__ = ["ChangeKind", "Severity", "SpecChange", "diff_files", "diff_specs", "exit_code", "verdict"]


class SpecChange(BaseModel):
    """One difference between the current and the candidate contract, and what it means for consumers."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    severity: Severity
    operation: str = Field(description="`METHOD /path` as the current contract writes it (the candidate's if new).")
    location: str = Field(description="Where in the message: operation, security, body.api_key, query.service_id, "
                                      "response.200, response.200.body.key_id, response.429.header.Retry-After.")
    current: ContractRef | None = Field(description="The thing in the current contract, or its nearest parent.")
    candidate: ContractRef | None = Field(description="The thing in the candidate, or its nearest parent.")
    summary: str
    recommendation: str


_ADVICE = {
    ChangeKind.OPERATION_REMOVED: "Keep the operation (deprecated) until no consumer calls it, or publish a new "
                                  "major version.",
    ChangeKind.STATUS_REMOVED: "Keep documenting the status while the service may still answer it: consumers "
                               "branch on it.",
    ChangeKind.SECURITY_CHANGED: "Keep the current security requirement as an alternative until every consumer "
                                 "sends the new credential.",
    ChangeKind.MEDIA_TYPE_CHANGED: "Keep the current media type and add the new one alongside it.",
    ChangeKind.REQUIRED_FIELD_ADDED: "Make it optional with a default until every consumer sends it.",
    ChangeKind.PARAMETER_ADDED_REQUIRED: "Make it optional with a default until every consumer sends it.",
    ChangeKind.REQUEST_FIELD_REMOVED: "Keep accepting and honouring it, deprecated, until consumers stop sending it.",
    ChangeKind.PARAMETER_REMOVED: "Keep accepting and honouring it, deprecated, until consumers stop sending it.",
    ChangeKind.FIELD_MOVED: "Accept it in both places during a migration window; consumers send it where the "
                            "current contract says.",
    ChangeKind.TYPE_NARROWED: "Keep accepting every value the current contract accepts; narrow only after "
                              "consumers have moved.",
    ChangeKind.ENUM_NARROWED: "Keep accepting every value the current contract accepts; narrow only after "
                              "consumers have moved.",
    ChangeKind.PATTERN_CHANGED: "Keep accepting every value the current pattern accepts.",
    ChangeKind.BOUND_NARROWED: "Keep the current bound until consumers stay within the new one.",
    ChangeKind.FORMAT_CHANGED: "Keep accepting values of the current format.",
    ChangeKind.RESPONSE_FIELD_REMOVED: "Keep answering the field; add a new field instead of removing this one.",
    ChangeKind.RESPONSE_FIELD_OPTIONAL: "Keep the field required: consumers read it without checking.",
    ChangeKind.RESPONSE_FIELD_RETYPED: "Keep the field's type; add a new field with the new type instead.",
    ChangeKind.RESPONSE_ENUM_WIDENED: "Tell consumers first: code that switches on the value meets a case it "
                                      "does not know.",
    ChangeKind.RESPONSE_HEADER_REMOVED: "Keep sending the header: consumers read it.",
}
_COMPATIBLE_ADVICE = "Nothing to do: consumers that follow the current contract keep working."


def _advice(kind: ChangeKind, severity: Severity) -> str:
    if severity is Severity.COMPATIBLE:
        return _COMPATIBLE_ADVICE
    return _ADVICE.get(kind, "Keep the current behaviour as an alternative until consumers have moved.")


def verdict(changes: Iterable[SpecChange]) -> Severity:
    """``breaking`` if any change breaks a consumer of the current contract, else ``compatible``."""
    return Severity.BREAKING if any(c.severity is Severity.BREAKING for c in changes) else Severity.COMPATIBLE


def exit_code(changes: Iterable[SpecChange]) -> int:
    """0 compatible, 1 breaking (2, unusable input, is a ``ContractError`` raised while loading)."""
    return 1 if verdict(changes) is Severity.BREAKING else 0


def diff_files(current: str | Path, candidate: str | Path, root: str | Path | None = None) -> list[SpecChange]:
    """Load both documents (``ContractError`` if either is unusable) and diff them."""
    return diff_specs(Contract.load(current, root), Contract.load(candidate, root))


def diff_specs(current: Contract, candidate: Contract) -> list[SpecChange]:
    """Every change from ``current`` to ``candidate``: current operations in order, then new ones."""
    return _SpecDiff(current, candidate).run()


# -- internals -------------------------------------------------------------------------------

def _route_key(operation: Operation) -> tuple[str, str]:
    return operation.method, re.sub(r"\{[^{}]*\}", "{}", operation.path_template)


def _media(name: str) -> str:
    return name.split(";", 1)[0].strip().lower()


_CREDENTIAL = re.compile(r"key|token|secret|password|passwd|auth|credential|bearer")


def _plain(name: str) -> str:
    """``X-API-Key``, ``api_key`` and ``apiKey`` all read ``apikey``."""
    return re.sub(r"[^a-z0-9]", "", name.lower().removeprefix("x-"))


@dataclass
class _Movable:
    """A change that may be half of a move: something gone from one place or new in another."""

    change: SpecChange
    appeared: bool
    place: str  # body, query, header, path, cookie, security
    names: tuple[str, ...]  # what it is called there (a security requirement: the headers it reads)
    detail: str  # what it is there, in words


class _SpecDiff:
    def __init__(self, current: Contract, candidate: Contract) -> None:
        self.cur = current
        self.cand = candidate
        self.schemas = SchemaComparer(current, candidate)
        self.changes: list[SpecChange] = []
        self.movables: list[_Movable] = []

    def run(self) -> list[SpecChange]:
        candidates = {_route_key(op): op for op in self.cand.operations}
        currents = {_route_key(op) for op in self.cur.operations}
        for op in self.cur.operations:
            new = candidates.get(_route_key(op))
            if new is None:
                self._add(ChangeKind.OPERATION_REMOVED, Severity.BREAKING, op.label, "operation", op.pointer,
                          nearest_pointer(self.cand, op.pointer), "the candidate no longer has this operation")
                continue
            self.movables = []
            self._operation(op, new)
            self._pair_moves()
        for op in self.cand.operations:
            if _route_key(op) not in currents:
                self._add(ChangeKind.OPERATION_ADDED, Severity.COMPATIBLE, op.label, "operation",
                          nearest_pointer(self.cur, op.pointer), op.pointer, "new operation")
        return self.changes

    def _add(self, kind: ChangeKind, severity: Severity, operation: str, location: str, current: str,
             candidate: str, summary: str) -> SpecChange:
        change = SpecChange(kind=kind, severity=severity, operation=operation, location=location,
                            current=self.cur.ref(current), candidate=self.cand.ref(candidate),
                            summary=f"{operation} {location}: {summary}", recommendation=_advice(kind, severity))
        self.changes.append(change)
        return change

    def _schema(self, op: Operation, location: str, current: str, candidate: str, side: Side) -> None:
        for delta in self.schemas.compare(current, candidate, side):
            where = location + "".join(t if t == "[]" else f".{t}" for t in delta.path)
            change = self._add(delta.kind, delta.severity, op.label, where, delta.current, delta.candidate,
                               delta.summary)
            if location == "body" and len(delta.path) == 1:
                self._note_movable(change, "body", (delta.path[0],))

    def _note_movable(self, change: SpecChange, place: str, names: tuple[str, ...], detail: str = "") -> None:
        gone = {ChangeKind.REQUEST_FIELD_REMOVED, ChangeKind.PARAMETER_REMOVED, ChangeKind.REQUIREMENT_RELAXED}
        new = {ChangeKind.REQUIRED_FIELD_ADDED, ChangeKind.OPTIONAL_FIELD_ADDED, ChangeKind.PARAMETER_ADDED_REQUIRED,
               ChangeKind.PARAMETER_ADDED_OPTIONAL, ChangeKind.SECURITY_CHANGED}
        if change.kind in gone or change.kind in new:
            self.movables.append(_Movable(change, change.kind in new, place, names,
                                          detail or f"{place}.{names[0]}"))

    # -- one operation ----------------------------------------------------------------------

    def _operation(self, old: Operation, new: Operation) -> None:
        self._parameters(old, new)
        self._request_body(old, new)
        self._security(old, new)
        self._responses(old, new)

    def _parameters(self, old: Operation, new: Operation) -> None:
        def key(op: Operation, p: Parameter) -> tuple[str, str]:
            if p.location == "path":  # by position: renaming {id} to {key_id} changes no URL
                names = re.findall(r"\{([^{}]+)\}", op.path_template)
                return "path", str(names.index(p.name)) if p.name in names else p.name
            return p.location, p.name.lower() if p.location == "header" else p.name

        before = {key(old, p): p for p in old.parameters}
        after = {key(new, p): p for p in new.parameters}
        for k, p in before.items():
            location = f"{p.location}.{p.name}"
            q = after.get(k)
            if q is None:
                change = self._add(ChangeKind.PARAMETER_REMOVED, Severity.BREAKING, old.label, location, p.pointer,
                                   nearest_pointer(self.cand, new.pointer + "/parameters"),
                                   "parameter removed: no longer accepted")
                self._note_movable(change, p.location, (p.name,))
                continue
            if p.required != q.required:
                kind, severity = ((ChangeKind.PARAMETER_ADDED_REQUIRED, Severity.BREAKING) if q.required
                                  else (ChangeKind.REQUIREMENT_RELAXED, Severity.COMPATIBLE))
                change = self._add(kind, severity, old.label, location,
                                   nearest_pointer(self.cur, p.pointer + "/required"),
                                   nearest_pointer(self.cand, q.pointer + "/required"),
                                   "now required" if q.required else "no longer required")
                self._note_movable(change, p.location, (p.name,))
            p_schema, q_schema = _parameter_schema(p), _parameter_schema(q)
            if p_schema and q_schema:
                self._schema(old, location, p_schema, q_schema, "request")
        for k, q in after.items():
            if k not in before:
                kind, severity = ((ChangeKind.PARAMETER_ADDED_REQUIRED, Severity.BREAKING) if q.required
                                  else (ChangeKind.PARAMETER_ADDED_OPTIONAL, Severity.COMPATIBLE))
                change = self._add(kind, severity, old.label, f"{q.location}.{q.name}",
                                   nearest_pointer(self.cur, old.pointer + "/parameters"), q.pointer,
                                   f"new {'required' if q.required else 'optional'} {q.location} parameter")
                self._note_movable(change, q.location, (q.name,))

    def _request_body(self, old: Operation, new: Operation) -> None:
        before = self._body(self.cur, old)
        after = self._body(self.cand, new)
        if before is None and after is None:
            return
        if before is None:
            assert after is not None
            required = bool(after[0].get("required"))
            kind = ChangeKind.REQUIRED_FIELD_ADDED if required else ChangeKind.OPTIONAL_FIELD_ADDED
            self._add(kind, Severity.BREAKING if required else Severity.COMPATIBLE, old.label, "body", old.pointer,
                      after[1], f"new {'required' if required else 'optional'} request body")
            return
        if after is None:
            change = self._add(ChangeKind.REQUEST_FIELD_REMOVED, Severity.BREAKING, old.label, "body", before[1],
                               new.pointer, "the request body is no longer accepted")
            self._note_movable(change, "body", self._body_fields(before[0], before[1]) or ("body",))
            return
        (b_spec, b_at), (a_spec, a_at) = before, after
        if bool(b_spec.get("required")) != bool(a_spec.get("required")):
            now = bool(a_spec.get("required"))
            self._add(ChangeKind.REQUIRED_FIELD_ADDED if now else ChangeKind.REQUIREMENT_RELAXED,
                      Severity.BREAKING if now else Severity.COMPATIBLE, old.label, "body",
                      nearest_pointer(self.cur, b_at + "/required"), nearest_pointer(self.cand, a_at + "/required"),
                      "the request body is now required" if now else "the request body is no longer required")
        self._content(old, "body", b_spec, b_at, a_spec, a_at, "request")

    def _content(self, op: Operation, location: str, b_spec: dict[str, Any], b_at: str, a_spec: dict[str, Any],
                 a_at: str, side: Side) -> None:
        before = {_media(k): k for k in (b_spec.get("content") or {})}
        after = {_media(k): k for k in (a_spec.get("content") or {})}
        sends = "accepts" if side == "request" else "answers"
        for media, raw in before.items():
            b_media = f"{b_at}/content/{_escape(raw)}"
            if media not in after:
                self._add(ChangeKind.MEDIA_TYPE_CHANGED, Severity.BREAKING, op.label, location, b_media,
                          nearest_pointer(self.cand, f"{a_at}/content"),
                          f"no longer {sends} {media} (candidate: {', '.join(after) or 'no body'})")
                continue
            a_media = f"{a_at}/content/{_escape(after[media])}"
            if "schema" in b_spec["content"][raw] and "schema" in a_spec["content"][after[media]]:
                self._schema(op, location, b_media + "/schema", a_media + "/schema", side)
        for media, raw in after.items():
            if media not in before:
                self._add(ChangeKind.MEDIA_TYPE_ADDED, Severity.COMPATIBLE, op.label, location,
                          nearest_pointer(self.cur, f"{b_at}/content"), f"{a_at}/content/{_escape(raw)}",
                          f"now also {sends} {media}")

    def _body_fields(self, spec: dict[str, Any], at: str) -> tuple[str, ...]:
        """The top-level fields of a current request body: what a whole removed body carried."""
        names: list[str] = []
        for media, body in (spec.get("content") or {}).items():
            if isinstance(body, dict) and "schema" in body:
                schema = self.cur.deref(f"{at}/content/{_escape(media)}/schema")[0]
                names.extend((schema.get("properties") or {}) if isinstance(schema, dict) else ())
        return tuple(dict.fromkeys(names))

    @staticmethod
    def _body(contract: Contract, op: Operation) -> tuple[dict[str, Any], str] | None:
        if "requestBody" not in op.spec:
            return None
        spec, at = contract.deref(op.pointer + "/requestBody")
        return (spec, at) if isinstance(spec, dict) else None

    def _security(self, old: Operation, new: Operation) -> None:
        before = _alternatives(self.cur, old)
        after = _alternatives(self.cand, new)
        if before == after:
            return
        # The consumer meets one current alternative; it still gets in if some candidate
        # alternative asks for no more than that one does.
        stranded = [alt for alt in before if not any(c <= alt for c in after)]
        where_old, where_new = _security_pointer(self.cur, old), _security_pointer(self.cand, new)
        text = f"{_describe(before)} -> {_describe(after)}"
        if not stranded:
            self._add(ChangeKind.SECURITY_RELAXED, Severity.COMPATIBLE, old.label, "security", where_old, where_new,
                      text)
            return
        change = self._add(ChangeKind.SECURITY_CHANGED, Severity.BREAKING, old.label, "security", where_old,
                           where_new, f"{text}: a consumer sending {_describe(stranded)} is refused")
        gained = [alt for alt in after if alt not in before]
        names = tuple(scheme[2] for alt in gained for scheme, _ in alt if scheme[2])
        self._note_movable(change, "security", names or ("Authorization",), f"security {_describe(gained)}")

    def _responses(self, old: Operation, new: Operation) -> None:
        before = {str(k): v for k, v in (old.spec.get("responses") or {}).items()}
        after = {str(k): v for k, v in (new.spec.get("responses") or {}).items()}
        for status in before:
            b_ptr = f"{old.pointer}/responses/{_escape(status)}"
            if status not in after:
                self._add(ChangeKind.STATUS_REMOVED, Severity.BREAKING, old.label, f"response.{status}", b_ptr,
                          nearest_pointer(self.cand, f"{new.pointer}/responses"), "status no longer documented")
                continue
            b_spec, b_at = self.cur.deref(b_ptr)
            a_spec, a_at = self.cand.deref(f"{new.pointer}/responses/{_escape(status)}")
            if isinstance(b_spec, dict) and isinstance(a_spec, dict):
                self._headers(old, status, b_spec, b_at, a_spec, a_at)
                self._content(old, f"response.{status}.body", b_spec, b_at, a_spec, a_at, "response")
        for status in after:
            if status not in before:
                self._add(ChangeKind.STATUS_ADDED, Severity.COMPATIBLE, old.label, f"response.{status}",
                          nearest_pointer(self.cur, f"{old.pointer}/responses"),
                          f"{new.pointer}/responses/{_escape(status)}", "new documented status")

    def _headers(self, op: Operation, status: str, b_spec: dict[str, Any], b_at: str, a_spec: dict[str, Any],
                 a_at: str) -> None:
        before = {k.lower(): k for k in (b_spec.get("headers") or {})}
        after = {k.lower(): k for k in (a_spec.get("headers") or {})}
        for lower, raw in before.items():
            location = f"response.{status}.header.{raw}"
            b_ptr = f"{b_at}/headers/{_escape(raw)}"
            if lower not in after:
                self._add(ChangeKind.RESPONSE_HEADER_REMOVED, Severity.BREAKING, op.label, location, b_ptr,
                          nearest_pointer(self.cand, f"{a_at}/headers"), "header no longer in the answer")
                continue
            b_head, b_head_at = self.cur.deref(b_ptr)
            a_head, a_head_at = self.cand.deref(f"{a_at}/headers/{_escape(after[lower])}")
            if isinstance(b_head, dict) and isinstance(a_head, dict) and "schema" in b_head and "schema" in a_head:
                self._schema(op, location, b_head_at + "/schema", a_head_at + "/schema", "response")
        for lower, raw in after.items():
            if lower not in before:
                self._add(ChangeKind.RESPONSE_HEADER_ADDED, Severity.COMPATIBLE, op.label,
                          f"response.{status}.header.{raw}", nearest_pointer(self.cur, f"{b_at}/headers"),
                          f"{a_at}/headers/{_escape(raw)}", "new header in the answer")

    # -- moves ------------------------------------------------------------------------------

    def _pair_moves(self) -> None:
        """Turn "gone from here" + "new there" on one operation into one ``field_moved``."""
        gone = [m for m in self.movables if not m.appeared]
        new = [m for m in self.movables if m.appeared]
        used: set[int] = set()
        for g in gone:
            best: tuple[int, int] | None = None
            for index, n in enumerate(new):
                if index in used or n.place == g.place:
                    continue
                if Severity.BREAKING not in (g.change.severity, n.change.severity):
                    continue  # still accepted where it was: a consumer is not broken, nothing moved for it
                score = _move_score(g, n)
                if score and (best is None or score > best[0]):
                    best = (score, index)
            if best is None:
                continue
            used.add(best[1])
            n = new[best[1]]
            moved = SpecChange(
                kind=ChangeKind.FIELD_MOVED, severity=Severity.BREAKING, operation=g.change.operation,
                location=g.change.location, current=self._field_ref(g.change), candidate=n.change.candidate,
                summary=f"{g.change.operation} {g.change.location}: moved to {n.detail}; a consumer sending it as "
                        f"{g.change.location} is refused or ignored",
                recommendation=_advice(ChangeKind.FIELD_MOVED, Severity.BREAKING))
            self.changes[self.changes.index(g.change)] = moved
            self.changes.remove(n.change)

    def _field_ref(self, change: SpecChange) -> ContractRef | None:
        """The field (or parameter) itself, not the `required` entry a relaxed requirement cites."""
        ref = change.current
        if ref is None or change.kind is not ChangeKind.REQUIREMENT_RELAXED:
            return ref
        pointer = ref.pointer
        if pointer.endswith("/required"):  # a parameter's `required: true`
            return self.cur.ref(pointer.removesuffix("/required"))
        found = re.fullmatch(r"(.*)/required/\d+", pointer)
        if found:
            field = f"{found.group(1)}/properties/{_escape(change.location.rsplit('.', 1)[-1])}"
            if nearest_pointer(self.cur, field) == field:
                return self.cur.ref(field)
        return ref


def _move_score(gone: _Movable, new: _Movable) -> int:
    """3: the same name (``api_key`` ~ ``X-API-Key``); 2: both carry a credential; 0: unrelated."""
    old_names = {_plain(n) for n in gone.names}
    new_names = {_plain(n) for n in new.names}
    if old_names & new_names:
        return 3
    credential = any(_CREDENTIAL.search(n) for n in old_names)
    if credential and (new.place == "security" or any(_CREDENTIAL.search(n) for n in new_names)):
        return 2
    return 0


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _parameter_schema(p: Parameter) -> str | None:
    if "schema" in p.spec:
        return p.pointer + "/schema"
    for media, body in (p.spec.get("content") or {}).items():
        if isinstance(body, dict) and "schema" in body:
            return f"{p.pointer}/content/{_escape(media)}/schema"
    return None


# A requirement alternative: the schemes it needs, each as (type, scheme or location, header name)
# plus its scopes. Schemes are compared by what they ask of the consumer, not by their names.
_Scheme = tuple[str, str, str]
_Alternative = frozenset[tuple[_Scheme, frozenset[str]]]


def _scheme(contract: Contract, name: str) -> _Scheme:
    spec = ((contract.document.get("components") or {}).get("securitySchemes") or {}).get(name)
    if isinstance(spec, dict) and isinstance(spec.get("$ref"), str):
        spec = contract.deref(spec["$ref"])[0]
    if not isinstance(spec, dict):
        return ("unknown", name, "")
    kind = str(spec.get("type", ""))
    if kind == "http":
        return (kind, str(spec.get("scheme", "")).lower(), "Authorization")
    if kind == "apiKey":
        where = str(spec.get("in", ""))
        header = str(spec.get("name", ""))
        return (kind, where, header.lower() if where == "header" else header)  # header names: any case
    return (kind, name, "Authorization" if kind in ("oauth2", "openIdConnect") else "")


def _alternatives(contract: Contract, op: Operation) -> frozenset[_Alternative]:
    if not op.security:
        return frozenset({frozenset()})  # no requirement: anonymous callers get in
    return frozenset(
        frozenset((_scheme(contract, name), frozenset(scopes or ())) for name, scopes in requirement.items())
        for requirement in op.security
    )


def _describe(alternatives: Iterable[_Alternative]) -> str:
    texts = []
    for alt in sorted(alternatives, key=lambda a: sorted(map(str, a))):
        parts = [f"apiKey {header} in {how}" if kind == "apiKey" else
                 f"http {how} ({header} header)" if kind == "http" else f"{kind} {how}"
                 for (kind, how, header), _ in sorted(alt, key=str)]
        texts.append(" + ".join(parts) if parts else "no credentials")
    return " or ".join(texts)


def _security_pointer(contract: Contract, op: Operation) -> str:
    if "security" in op.spec:
        return op.pointer + "/security"
    return "/security" if "security" in contract.document else op.pointer
