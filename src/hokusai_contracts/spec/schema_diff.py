"""What changed between two versions of one schema, and what that means for its consumer.

A request schema says what the consumer *sends*: the candidate must accept
everything the current one accepts, so narrowing breaks and widening is
compatible. A response schema says what the consumer *reads*: a field it may
read must stay present, required and of the same type, so removing, relaxing
or retyping breaks, while a narrower answer (fewer types, fewer enum values,
tighter bounds) and new fields are compatible.

Schemas are compared as shapes (``spec.shapes``): ``$ref``s followed and branches folded, each
part remembering the JSON pointer it was written at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.spec.changes import ChangeKind, Severity, Side
from hokusai_contracts.spec.shapes import Shape, bound_of, shape_of

__all__ = ["SchemaComparer", "SchemaDelta"]

B, C = Severity.BREAKING, Severity.COMPATIBLE


@dataclass(frozen=True)
class SchemaDelta:
    """One change inside a schema; ``path`` is relative to the compared schema (``("scopes", "[]")``)."""

    kind: ChangeKind
    severity: Severity
    path: tuple[str, ...]
    current: str  # JSON pointer in the current document
    candidate: str  # JSON pointer in the candidate document
    summary: str


# -- comparing ------------------------------------------------------------------------------

def _covers(types: frozenset[str], wanted: str) -> bool:
    return wanted in types or (wanted == "integer" and "number" in types)


def _show(values: Any) -> str:
    return ", ".join(repr(v) for v in values) if isinstance(values, (list, tuple, set, frozenset)) else repr(values)


_ALTERNATION = re.compile(r"\^\((?:\?:)?([\w.\- ]+(?:\|[\w.\- ]+)*)\)\$")
_LOWER = {"minLength": "", "minItems": "", "minProperties": "", "minimum": "exclusiveMinimum"}
_UPPER = {"maxLength": "", "maxItems": "", "maxProperties": "", "maximum": "exclusiveMaximum"}


class SchemaComparer:
    """Compares schemas of two contracts; results are memoised per pair of pointers and side."""

    def __init__(self, current: Contract, candidate: Contract) -> None:
        self.current = current
        self.candidate = candidate
        self._memo: dict[tuple[str, str, Side], list[SchemaDelta]] = {}
        self._active: set[tuple[str, str, Side]] = set()

    def compare(self, current_pointer: str, candidate_pointer: str, side: Side) -> list[SchemaDelta]:
        key = (current_pointer, candidate_pointer, side)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:  # a recursive schema: its changes are reported one level up
            return []
        self._active.add(key)
        try:
            out: list[SchemaDelta] = []
            old, new = shape_of(self.current, current_pointer), shape_of(self.candidate, candidate_pointer)
            self._types(old, new, side, out)
            self._enums(old, new, side, out, "enum")
            self._enums(old, new, side, out, "x-known-values")
            self._pattern(old, new, side, out)
            self._format(old, new, side, out)
            self._bounds(old, new, side, out)
            self._properties(old, new, side, out)
            if old.items and new.items:
                out.extend(_nest(d, "[]") for d in self.compare(old.items, new.items, side))
        finally:
            self._active.discard(key)
        self._memo[key] = out
        return out

    def _keyword_pointers(self, old: Shape, new: Shape, keyword: str) -> tuple[str, str]:
        before, after = old.keywords.get(keyword), new.keywords.get(keyword)
        return (before[1] if before else old.pointer), (after[1] if after else new.pointer)

    def _types(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta]) -> None:
        before, after = old.type_set(), new.type_set()
        if before == after:
            return
        everything = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
        lost = sorted(t for t in (before or everything) if not _covers(after or everything, t))
        gained = sorted(t for t in (after or everything) if not _covers(before or everything, t))
        if not lost and not gained:
            return
        said = f"type {_types_text(before)} -> {_types_text(after)}"
        if side == "request":
            kind, severity = (ChangeKind.TYPE_NARROWED, B) if lost else (ChangeKind.TYPE_WIDENED, C)
            why = f"no longer accepts {', '.join(lost)}" if lost else f"now also accepts {', '.join(gained)}"
        else:
            kind, severity = (ChangeKind.RESPONSE_FIELD_RETYPED, B) if gained else (ChangeKind.TYPE_NARROWED, C)
            why = f"may now be {', '.join(gained)}" if gained else f"is no longer {', '.join(lost)}"
        out.append(SchemaDelta(kind, severity, (), old.type_pointer, new.type_pointer, f"{said}: {why}"))

    def _enums(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta], keyword: str) -> None:
        before, after = old.keywords.get(keyword), new.keywords.get(keyword)
        b_vals = before[0] if before and isinstance(before[0], list) else None
        a_vals = after[0] if after and isinstance(after[0], list) else None
        if b_vals == a_vals:
            return
        b_keys = {json.dumps(v, sort_keys=True): v for v in b_vals} if b_vals is not None else None
        a_keys = {json.dumps(v, sort_keys=True): v for v in a_vals} if a_vals is not None else None
        cur, cand = self._keyword_pointers(old, new, keyword)
        if b_keys is None and a_keys is not None:
            narrowed, text = True, f"{keyword} added: only {_show(list(a_keys.values()))}"
        elif a_keys is None and b_keys is not None:
            narrowed, text = False, f"{keyword} removed: any value (was {_show(list(b_keys.values()))})"
        else:
            assert a_keys is not None and b_keys is not None
            lost = [v for k, v in b_keys.items() if k not in a_keys]
            gained = [v for k, v in a_keys.items() if k not in b_keys]
            if lost:
                out.append(self._value_delta(side, True, cur, cand, f"{keyword} no longer allows {_show(lost)}"))
            if gained:
                out.append(self._value_delta(side, False, cur, cand, f"{keyword} now also allows {_show(gained)}"))
            return
        out.append(self._value_delta(side, narrowed, cur, cand, text))

    @staticmethod
    def _value_delta(side: Side, narrowed: bool, cur: str, cand: str, text: str) -> SchemaDelta:
        if side == "request":
            kind, severity = (ChangeKind.ENUM_NARROWED, B) if narrowed else (ChangeKind.ENUM_WIDENED, C)
        else:
            kind, severity = (ChangeKind.ENUM_NARROWED, C) if narrowed else (ChangeKind.RESPONSE_ENUM_WIDENED, B)
        return SchemaDelta(kind, severity, (), cur, cand, text)

    def _pattern(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta]) -> None:
        before = old.keywords.get("pattern", (None, ""))[0]
        after = new.keywords.get("pattern", (None, ""))[0]
        if before == after:
            return
        cur, cand = self._keyword_pointers(old, new, "pattern")
        widened = after is None
        text = f"pattern {before!r} -> {after!r}"
        if isinstance(before, str) and isinstance(after, str):
            b_set, a_set = _alternatives(before), _alternatives(after)
            if b_set is not None and a_set is not None:
                lost = [v for v in b_set if v not in a_set]
                widened = not lost
                text += f": no longer allows {_show(lost)}" if lost else ""
        if side == "request":
            kind, severity = (ChangeKind.PATTERN_WIDENED, C) if widened else (ChangeKind.PATTERN_CHANGED, B)
        else:
            kind, severity = (ChangeKind.PATTERN_WIDENED, C) if widened else (ChangeKind.PATTERN_CHANGED, C)
        out.append(SchemaDelta(kind, severity, (), cur, cand, text))

    def _format(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta]) -> None:
        before = old.keywords.get("format", (None, ""))[0]
        after = new.keywords.get("format", (None, ""))[0]
        if before == after:
            return
        cur, cand = self._keyword_pointers(old, new, "format")
        text = f"format {before!r} -> {after!r}"
        if side == "request":
            kind, severity = (ChangeKind.FORMAT_RELAXED, C) if after is None else (ChangeKind.FORMAT_CHANGED, B)
        else:
            retyped = before is not None  # a reader parsing the old format meets other strings
            kind, severity = (ChangeKind.RESPONSE_FIELD_RETYPED, B) if retyped else (ChangeKind.FORMAT_CHANGED, C)
        out.append(SchemaDelta(kind, severity, (), cur, cand, text))

    def _bounds(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta]) -> None:
        for table in (_LOWER, _UPPER):
            for keyword, exclusive in table.items():
                before, after = bound_of(old, keyword, exclusive), bound_of(new, keyword, exclusive)
                if before is None and after is None:
                    continue
                if before is not None and after is not None and before[:2] == after[:2]:
                    continue
                lower = table is _LOWER
                if before is None or after is None:
                    narrowed = before is None
                else:
                    tighter = after[0] > before[0] if lower else after[0] < before[0]
                    narrowed = tighter or (after[0] == before[0] and after[1] and not before[1])
                cur = before[2] if before else self._keyword_pointers(old, new, keyword)[0]
                cand = after[2] if after else self._keyword_pointers(old, new, keyword)[1]
                text = f"{keyword} {_bound_text(before)} -> {_bound_text(after)}"
                out.append(self._bound_delta(side, narrowed, cur, cand, text))
        for keyword in ("multipleOf", "uniqueItems"):
            b_val = old.keywords.get(keyword, (None, ""))[0]
            a_val = new.keywords.get(keyword, (None, ""))[0]
            if b_val == a_val or (keyword == "uniqueItems" and not b_val and not a_val):
                continue
            if keyword == "uniqueItems":
                narrowed = bool(a_val)
            elif b_val is None or a_val is None:
                narrowed = b_val is None
            else:
                narrowed = not float(b_val / a_val).is_integer()
            cur, cand = self._keyword_pointers(old, new, keyword)
            out.append(self._bound_delta(side, narrowed, cur, cand, f"{keyword} {b_val!r} -> {a_val!r}"))

    @staticmethod
    def _bound_delta(side: Side, narrowed: bool, cur: str, cand: str, text: str) -> SchemaDelta:
        kind = ChangeKind.BOUND_NARROWED if narrowed else ChangeKind.BOUND_WIDENED
        return SchemaDelta(kind, B if narrowed and side == "request" else C, (), cur, cand, text)

    def _properties(self, old: Shape, new: Shape, side: Side, out: list[SchemaDelta]) -> None:
        names = list(dict.fromkeys([*old.properties, *old.required, *new.properties, *new.required]))
        for name in names:
            in_old = name in old.properties or name in old.required
            in_new = name in new.properties or name in new.required
            old_at = old.properties.get(name) or old.required.get(name) or ""
            new_at = new.properties.get(name) or new.required.get(name) or ""
            old_parent = old.properties_pointer or old.pointer
            new_parent = new.properties_pointer or new.pointer
            if not in_old:
                if side == "request" and name in new.required:
                    out.append(SchemaDelta(ChangeKind.REQUIRED_FIELD_ADDED, B, (name,), old_parent, new_at,
                                           "new required field"))
                elif side == "request":
                    out.append(SchemaDelta(ChangeKind.OPTIONAL_FIELD_ADDED, C, (name,), old_parent, new_at,
                                           "new optional field"))
                else:
                    out.append(SchemaDelta(ChangeKind.RESPONSE_FIELD_ADDED, C, (name,), old_parent, new_at,
                                           "new field in the answer"))
                continue
            if not in_new:
                kind = ChangeKind.REQUEST_FIELD_REMOVED if side == "request" else ChangeKind.RESPONSE_FIELD_REMOVED
                text = "no longer accepted" if side == "request" else "no longer in the answer"
                out.append(SchemaDelta(kind, B, (name,), old_at, new_parent, f"field removed: {text}"))
                continue
            was, now = name in old.required, name in new.required
            if was != now:
                # The side that requires it cites its `required` entry, the other the field itself.
                old_req = old.required.get(name) or old_at
                new_req = new.required.get(name) or new_at
                if side == "request":
                    kind, severity = ((ChangeKind.REQUIRED_FIELD_ADDED, B) if now
                                      else (ChangeKind.REQUIREMENT_RELAXED, C))
                else:
                    kind, severity = ((ChangeKind.RESPONSE_FIELD_REQUIRED, C) if now
                                      else (ChangeKind.RESPONSE_FIELD_OPTIONAL, B))
                text = "now required" if now else "no longer required"
                out.append(SchemaDelta(kind, severity, (name,), old_req, new_req, text))
            if name in old.properties and name in new.properties:
                out.extend(_nest(d, name) for d in self.compare(old.properties[name], new.properties[name], side))


def _nest(delta: SchemaDelta, token: str) -> SchemaDelta:
    return SchemaDelta(delta.kind, delta.severity, (token, *delta.path), delta.current, delta.candidate,
                       delta.summary)


def _alternatives(pattern: str) -> tuple[str, ...] | None:
    found = _ALTERNATION.fullmatch(pattern)
    return tuple(found.group(1).split("|")) if found else None


def _types_text(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types)) or "none"


def _bound_text(bound: tuple[float, bool, str] | None) -> str:
    if bound is None:
        return "none"
    value = int(bound[0]) if bound[0].is_integer() else bound[0]
    return f"{value} (exclusive)" if bound[1] else str(value)
