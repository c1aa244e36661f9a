"""The stack's watchdog: when the runner dies, however it dies, its parts and its temporary directory go too.

A process stack runs each part in a process group of its own (so that teardown reaches a part's
children: MLflow's workers, a PROXY_CMD shell's proxy). A runner killed with SIGKILL runs no
teardown, and a signal to the runner's group never reaches those groups. So the runner starts
this script first, in a session of its own, and keeps the write end of its stdin: it writes the
process group of each part it launches, one per line (``-GROUP`` once it has ended that group
itself, so that a number the system hands out again is never signalled). The pipe closes when the runner exits,
whether it stopped its parts itself or was killed, and then this script ends every group it was
told of (SIGTERM, SIGKILL after a grace period) and removes the directory, which holds secrets.

Run as a file (``python -I watchdog.py DIR``), not as a module: it must start in milliseconds
and depend on nothing but the standard library.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

GRACE_S = 2.0


def _signal_groups(groups: set[int], sig: int) -> set[int]:
    """Signal each group; the groups that still exist."""
    alive = set()
    for group in groups:
        try:
            os.killpg(group, sig)
            alive.add(group)
        except (ProcessLookupError, PermissionError):
            pass
    return alive


def main(argv: list[str]) -> int:
    root = argv[1] if len(argv) > 1 else None
    # A Ctrl-C meant for the runner must not take the watchdog first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        word = line.strip()
        if word.isdigit():
            groups.add(int(word))
        elif word.startswith("-") and word[1:].isdigit():
            groups.discard(int(word[1:]))
    alive = _signal_groups(groups, signal.SIGCONT)  # a paused group cannot act on SIGTERM
    alive = _signal_groups(alive, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        # Signal 0 asks whether the group still has a member: a zombie nobody reaps still counts,
        # so this ends at the deadline at worst.
        alive = _signal_groups(alive, 0)
    _signal_groups(alive, signal.SIGKILL)
    if root and os.path.basename(root.rstrip("/")).startswith(("hokusai-stack-", "hokusai-docker-")):
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
