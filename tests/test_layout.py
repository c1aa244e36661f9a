"""Modules a reader takes in one sitting: none over 400 lines (ARCHITECTURE.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400
#: Being replaced by the stack plan and the engine's own compose (issue 11, step 2); nothing may join them.
NOT_YET = {"src/hokusai_contracts/stack/compose_file.py", "src/hokusai_contracts/stack/docker_stack.py"}


def test_no_module_over_400_lines() -> None:
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text("utf-8").splitlines())
             for folder in ("src", "mocks") for path in (ROOT / folder).rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > LIMIT and name not in NOT_YET} == {}
