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
what happened, so the pair becomes one ``field_moved`` (``spec.moves``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hokusai_contracts.contracts.loading import Contract, Operation, Parameter
from hokusai_contracts.spec.changes import ChangeKind, Severity, Side, SpecChange, advice, exit_code, verdict
from hokusai_contracts.spec.moves import Movable, pair_moves
from hokusai_contracts.spec.schema_diff import SchemaComparer
from hokusai_contracts.spec.security import alternatives, describe, security_pointer
from hokusai_contracts.spec.shapes import escape, nearest_pointer

__all__ = ["ChangeKind", "Severity", "SpecChange", "diff_files", "diff_specs", "exit_code", "verdict"]


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


class _SpecDiff:
    def __init__(self, current: Contract, candidate: Contract) -> None:
        self.cur = current
        self.cand = candidate
        self.schemas = SchemaComparer(current, candidate)
        self.changes: list[SpecChange] = []
        self.movables: list[Movable] = []

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
            pair_moves(self.changes, self.movables, self.cur)
        for op in self.cand.operations:
            if _route_key(op) not in currents:
                self._add(ChangeKind.OPERATION_ADDED, Severity.COMPATIBLE, op.label, "operation",
                          nearest_pointer(self.cur, op.pointer), op.pointer, "new operation")
        return self.changes

    def _add(self, kind: ChangeKind, severity: Severity, operation: str, location: str, current: str,
             candidate: str, summary: str) -> SpecChange:
        change = SpecChange(kind=kind, severity=severity, operation=operation, location=location,
                            current=self.cur.ref(current), candidate=self.cand.ref(candidate),
                            summary=f"{operation} {location}: {summary}", recommendation=advice(kind, severity))
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
            self.movables.append(Movable(change, change.kind in new, place, names,
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
            b_media = f"{b_at}/content/{escape(raw)}"
            if media not in after:
                self._add(ChangeKind.MEDIA_TYPE_CHANGED, Severity.BREAKING, op.label, location, b_media,
                          nearest_pointer(self.cand, f"{a_at}/content"),
                          f"no longer {sends} {media} (candidate: {', '.join(after) or 'no body'})")
                continue
            a_media = f"{a_at}/content/{escape(after[media])}"
            if "schema" in b_spec["content"][raw] and "schema" in a_spec["content"][after[media]]:
                self._schema(op, location, b_media + "/schema", a_media + "/schema", side)
        for media, raw in after.items():
            if media not in before:
                self._add(ChangeKind.MEDIA_TYPE_ADDED, Severity.COMPATIBLE, op.label, location,
                          nearest_pointer(self.cur, f"{b_at}/content"), f"{a_at}/content/{escape(raw)}",
                          f"now also {sends} {media}")

    def _body_fields(self, spec: dict[str, Any], at: str) -> tuple[str, ...]:
        """The top-level fields of a current request body: what a whole removed body carried."""
        names: list[str] = []
        for media, body in (spec.get("content") or {}).items():
            if isinstance(body, dict) and "schema" in body:
                schema = self.cur.deref(f"{at}/content/{escape(media)}/schema")[0]
                names.extend((schema.get("properties") or {}) if isinstance(schema, dict) else ())
        return tuple(dict.fromkeys(names))

    @staticmethod
    def _body(contract: Contract, op: Operation) -> tuple[dict[str, Any], str] | None:
        if "requestBody" not in op.spec:
            return None
        spec, at = contract.deref(op.pointer + "/requestBody")
        return (spec, at) if isinstance(spec, dict) else None

    def _security(self, old: Operation, new: Operation) -> None:
        before = alternatives(self.cur, old)
        after = alternatives(self.cand, new)
        if before == after:
            return
        # The consumer meets one current alternative; it still gets in if some candidate
        # alternative asks for no more than that one does.
        stranded = [alt for alt in before if not any(c <= alt for c in after)]
        where_old, where_new = security_pointer(self.cur, old), security_pointer(self.cand, new)
        text = f"{describe(before)} -> {describe(after)}"
        if not stranded:
            self._add(ChangeKind.SECURITY_RELAXED, Severity.COMPATIBLE, old.label, "security", where_old, where_new,
                      text)
            return
        change = self._add(ChangeKind.SECURITY_CHANGED, Severity.BREAKING, old.label, "security", where_old,
                           where_new, f"{text}: a consumer sending {describe(stranded)} is refused")
        gained = [alt for alt in after if alt not in before]
        names = tuple(scheme[2] for alt in gained for scheme, _ in alt if scheme[2])
        self._note_movable(change, "security", names or ("Authorization",), f"security {describe(gained)}")

    def _responses(self, old: Operation, new: Operation) -> None:
        before = {str(k): v for k, v in (old.spec.get("responses") or {}).items()}
        after = {str(k): v for k, v in (new.spec.get("responses") or {}).items()}
        for status in before:
            b_ptr = f"{old.pointer}/responses/{escape(status)}"
            if status not in after:
                self._add(ChangeKind.STATUS_REMOVED, Severity.BREAKING, old.label, f"response.{status}", b_ptr,
                          nearest_pointer(self.cand, f"{new.pointer}/responses"), "status no longer documented")
                continue
            b_spec, b_at = self.cur.deref(b_ptr)
            a_spec, a_at = self.cand.deref(f"{new.pointer}/responses/{escape(status)}")
            if isinstance(b_spec, dict) and isinstance(a_spec, dict):
                self._headers(old, status, b_spec, b_at, a_spec, a_at)
                self._content(old, f"response.{status}.body", b_spec, b_at, a_spec, a_at, "response")
        for status in after:
            if status not in before:
                self._add(ChangeKind.STATUS_ADDED, Severity.COMPATIBLE, old.label, f"response.{status}",
                          nearest_pointer(self.cur, f"{old.pointer}/responses"),
                          f"{new.pointer}/responses/{escape(status)}", "new documented status")

    def _headers(self, op: Operation, status: str, b_spec: dict[str, Any], b_at: str, a_spec: dict[str, Any],
                 a_at: str) -> None:
        before = {k.lower(): k for k in (b_spec.get("headers") or {})}
        after = {k.lower(): k for k in (a_spec.get("headers") or {})}
        for lower, raw in before.items():
            location = f"response.{status}.header.{raw}"
            b_ptr = f"{b_at}/headers/{escape(raw)}"
            if lower not in after:
                self._add(ChangeKind.RESPONSE_HEADER_REMOVED, Severity.BREAKING, op.label, location, b_ptr,
                          nearest_pointer(self.cand, f"{a_at}/headers"), "header no longer in the answer")
                continue
            b_head, b_head_at = self.cur.deref(b_ptr)
            a_head, a_head_at = self.cand.deref(f"{a_at}/headers/{escape(after[lower])}")
            if isinstance(b_head, dict) and isinstance(a_head, dict) and "schema" in b_head and "schema" in a_head:
                self._schema(op, location, b_head_at + "/schema", a_head_at + "/schema", "response")
        for lower, raw in after.items():
            if lower not in before:
                self._add(ChangeKind.RESPONSE_HEADER_ADDED, Severity.COMPATIBLE, op.label,
                          f"response.{status}.header.{raw}", nearest_pointer(self.cur, f"{b_at}/headers"),
                          f"{a_at}/headers/{escape(raw)}", "new header in the answer")



def _parameter_schema(p: Parameter) -> str | None:
    if "schema" in p.spec:
        return p.pointer + "/schema"
    for media, body in (p.spec.get("content") or {}).items():
        if isinstance(body, dict) and "schema" in body:
            return f"{p.pointer}/content/{escape(media)}/schema"
    return None
