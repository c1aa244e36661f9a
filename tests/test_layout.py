"""Modules a reader takes in one sitting: none over 400 lines (ARCHITECTURE.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400


def test_no_module_over_400_lines() -> None:
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text("utf-8").splitlines())
             for folder in ("src", "mocks") for path in (ROOT / folder).rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > LIMIT} == {}
