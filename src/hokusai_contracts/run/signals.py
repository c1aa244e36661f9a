"""Holding SIGTERM and Ctrl-C while something must happen whole (``watch`` storing a round).

``signals_held`` swaps the handlers for ones that only note the signal; when the block ends, the
old handlers are back and a noted signal is raised as the old ones would have (``Terminated`` for
SIGTERM, ``KeyboardInterrupt`` for Ctrl-C). ``signals_released``, inside it, lets them through
again for a part that may be interrupted (a round's live run, whose cleanup runs on the way out).
Only the main thread has signal handlers; elsewhere both do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hokusai_contracts._errors import Terminated

__all__ = ["signals_held", "signals_released"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: For each ``signals_held`` block, innermost last: the handlers it replaced, and the signals it noted.
_held: list[tuple[dict[int, Any], list[int]]] = []


def _raise_for(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def signals_held() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous: dict[int, Any] = {signum: signal.signal(signum, lambda s, frame: noted.append(s)) for signum in _SIGNALS}
    _held.append((previous, noted))
    try:
        yield
    finally:
        _held.pop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if noted:
        _raise_for(noted[0])


@contextmanager
def signals_released() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not _held:
        yield
        return
    previous, noted = _held[-1]
    if noted:  # it came while held: the part that may be interrupted does not start
        _raise_for(noted.pop(0))
    holding = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler in holding.items():
            signal.signal(signum, handler)
