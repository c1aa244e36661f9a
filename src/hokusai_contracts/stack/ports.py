"""Whether a part that exited while starting lost its port to another process.

The process stack picks free ports (bind to port 0, read it, close) and hands them to its parts,
which bind them a moment later. In between, another run on the machine (a second pytest-xdist
worker, another engineer's stack) may pick and bind the same port: the part then exits with
EADDRINUSE. That is no defect of the part, and the stack starts it once more on a new port.
"""

from __future__ import annotations

import errno
import socket

__all__ = ["lost_its_port", "port_taken"]

#: How an exit for a taken port reads in a log: errno 98's text (Python, uvicorn, PostgreSQL, Node...) and
#: gunicorn's own words.
_IN_USE = ("address already in use", "connection in use")


def port_taken(host: str, port: int) -> bool:
    """Whether a socket listens on ``port`` now (a port only lingering in TIME_WAIT is not taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def lost_its_port(host: str, port: int, log_tail: str) -> bool:
    """Whether a part that exited while starting did so for want of its port: another process listens
    there now, or the part's log says so (the other may have let go of it since)."""
    return port_taken(host, port) or any(sign in log_tail.lower() for sign in _IN_USE)
