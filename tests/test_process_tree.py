"""``tests/process_tree.py``: a started process is found under its parent, alive until it ends."""

from __future__ import annotations

import os
import subprocess

from .process_tree import alive, descendants, process_name


def test_a_child_is_found_alive_with_its_argv_and_not_once_it_ended() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in descendants(os.getpid())
        assert process_name(child.pid) == "sleep"
        assert alive({child.pid}) == {child.pid: "sleep 30"}
    finally:
        child.kill()
        child.wait()
    assert alive({child.pid}) == {} and child.pid not in descendants(os.getpid())
    assert descendants(child.pid) == set() and process_name(child.pid) == ""
