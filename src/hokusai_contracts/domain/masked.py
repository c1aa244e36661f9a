"""A dataclass ``__repr__`` with every secret masked.

Records holding a key or a token end up in places nobody chose to print: ``pytest -l`` shows a
failing test's locals (the session stack, its endpoints), a debugger shows ``self``. Their repr
is the one place that covers all of these, so the stack's records use this one::

    @dataclass
    class StackEndpoints:
        api_key: str
        ...
        __repr__ = masked_repr()

A value is a secret when its field or mapping key is named like one (``api_key``, ``admin_token``,
``key``, ...); anything key-like elsewhere is masked too (``redact``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from hokusai_contracts.domain.redact import mask, redact

__all__ = ["SECRET_NAMES", "masked_repr"]

#: Field and mapping-key names whose string values are secrets.
SECRET_NAMES = frozenset({"api_key", "admin_token", "key", "token", "secret", "password"})


def _masked(name: str, value: Any) -> Any:
    if isinstance(value, str) and name in SECRET_NAMES:
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _masked(str(k), v) for k, v in value.items()}
    return value


def masked_repr(*shown: str) -> Callable[[Any], str]:
    """A ``__repr__`` for a dataclass: the ``shown`` fields (default: those with ``repr=True``), secrets masked."""

    def __repr__(self: Any) -> str:
        names = shown or tuple(f.name for f in dataclasses.fields(self) if f.repr)
        body = ", ".join(f"{name}={_masked(name, getattr(self, name))!r}" for name in names)
        return redact(f"{type(self).__qualname__}({body})")

    return __repr__
