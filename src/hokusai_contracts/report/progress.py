"""Progress while a run works: a line at least every few seconds on a terminal, one line per phase in CI.

A phase that takes a minute (the suites, a live run's checks) used to print nothing meanwhile. On
a terminal a ticker prints ``name: 14/32 operations, 2 failing (35 s)`` every ``interval`` seconds
from what the phase last reported (``Progress.update``); when the output is not a terminal (a CI
log), nothing is printed meanwhile and each phase ends with one line: no spam.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["INTERVAL_S", "Progress", "report_progress"]

#: At most this many seconds between two lines on a terminal.
INTERVAL_S = 5.0


_current: Progress | None = None


def report_progress(detail: str) -> None:
    """Tell the running phase's ticker how far it is; a no-op outside a run (a suite run by hand)."""
    if _current is not None:
        _current.update(detail)


class Progress:
    def __init__(self, out: Callable[[str], None] = print, *, tty: bool | None = None,
                 interval: float = INTERVAL_S) -> None:
        self.out = out
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.interval = interval
        self._detail = ""
        self._lock = threading.Lock()

    def update(self, detail: str) -> None:
        """What the running phase has done so far: ``14/32 operations, 2 failing``."""
        with self._lock:
            self._detail = detail

    def _line(self, name: str, started: float) -> str:
        with self._lock:
            detail = self._detail
        elapsed = time.monotonic() - started
        return f"  … {name}: {detail + ' ' if detail else ''}({elapsed:.0f} s)"

    @contextmanager
    def phase(self, name: str, *, quiet_below: float = 3.0) -> Iterator[Progress]:
        """Tick while the body runs; a phase under ``quiet_below`` seconds prints no closing line."""
        global _current
        self.update("")
        _current = self
        started = time.monotonic()
        stop = threading.Event()
        ticker = None
        if self.tty:
            def tick() -> None:
                while not stop.wait(self.interval):
                    self.out(self._line(name, started))

            ticker = threading.Thread(target=tick, name=f"progress-{name}", daemon=True)
            ticker.start()
        try:
            yield self
        finally:
            _current = None
            stop.set()
            if ticker is not None:
                ticker.join(timeout=1)
            elapsed = time.monotonic() - started
            if elapsed >= quiet_below:
                with self._lock:
                    detail = self._detail
                self.out(f"  ⏱ {name}: done in {elapsed:.1f} s{', ' + detail if detail else ''}")
