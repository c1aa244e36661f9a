"""Durations as people write them in settings: ``20s``, ``15m``, ``1h``, ``30d`` (``HOKUSAI_WATCH_EVERY``)."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with a unit (s, m, h, d; none means seconds); ``ValueError`` otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"] if found else 0.0
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: write a positive number with a unit, e.g. 20s, 15m, 1h, 30d")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact way to write ``seconds`` back (``900`` -> ``15m``)."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"
