"""Moves: a field gone from one place of a request and one of the same meaning new in another.

Incident 1 moved the key from ``api_key`` in the body to the ``Authorization`` header. Reported
as two unrelated changes (a removed field, a new security requirement) it would hide what
happened, so the pair becomes one ``field_moved`` citing both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import ContractRef
from hokusai_contracts.spec.changes import ChangeKind, Severity, SpecChange, advice
from hokusai_contracts.spec.shapes import escape, nearest_pointer

__all__ = ["Movable", "pair_moves"]

_CREDENTIAL = re.compile(r"key|token|secret|password|passwd|auth|credential|bearer")


def _plain(name: str) -> str:
    """``X-API-Key``, ``api_key`` and ``apiKey`` all read ``apikey``."""
    return re.sub(r"[^a-z0-9]", "", name.lower().removeprefix("x-"))


@dataclass
class Movable:
    """A change that may be half of a move: something gone from one place or new in another."""

    change: SpecChange
    appeared: bool
    place: str  # body, query, header, path, cookie, security
    names: tuple[str, ...]  # what it is called there (a security requirement: the headers it reads)
    detail: str  # what it is there, in words


def pair_moves(changes: list[SpecChange], movables: list[Movable], current: Contract) -> None:
    """Turn "gone from here" + "new there" on one operation into one ``field_moved``, in ``changes``."""
    gone = [m for m in movables if not m.appeared]
    new = [m for m in movables if m.appeared]
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
            location=g.change.location, current=_field_ref(current, g.change), candidate=n.change.candidate,
            summary=f"{g.change.operation} {g.change.location}: moved to {n.detail}; a consumer sending it as "
                    f"{g.change.location} is refused or ignored",
            recommendation=advice(ChangeKind.FIELD_MOVED, Severity.BREAKING))
        changes[changes.index(g.change)] = moved
        changes.remove(n.change)

def _field_ref(current: Contract, change: SpecChange) -> ContractRef | None:
    """The field (or parameter) itself, not the `required` entry a relaxed requirement cites."""
    ref = change.current
    if ref is None or change.kind is not ChangeKind.REQUIREMENT_RELAXED:
        return ref
    pointer = ref.pointer
    if pointer.endswith("/required"):  # a parameter's `required: true`
        return current.ref(pointer.removesuffix("/required"))
    found = re.fullmatch(r"(.*)/required/\d+", pointer)
    if found:
        field = f"{found.group(1)}/properties/{escape(change.location.rsplit('.', 1)[-1])}"
        if nearest_pointer(current, field) == field:
            return current.ref(field)
    return ref


def _move_score(gone: Movable, new: Movable) -> int:
    """3: the same name (``api_key`` ~ ``X-API-Key``); 2: both carry a credential; 0: unrelated."""
    old_names = {_plain(n) for n in gone.names}
    new_names = {_plain(n) for n in new.names}
    if old_names & new_names:
        return 3
    credential = any(_CREDENTIAL.search(n) for n in old_names)
    if credential and (new.place == "security" or any(_CREDENTIAL.search(n) for n in new_names)):
        return 2
    return 0
