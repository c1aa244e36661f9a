"""The listening socket of a server this toolkit runs in a thread (the front journal, the live egress).

Bound here rather than by uvicorn on port 0 so the port is known before the server runs and nobody
can take it between choosing and binding. Made with ``IPPROTO_TCP`` and ``TCP_NODELAY`` because
asyncio turns Nagle's algorithm off only on sockets whose ``proto`` says TCP: one made with
``socket.socket(AF_INET, SOCK_STREAM)`` has proto 0, keeps Nagle on, and every answer written in two
parts (headers, then a streamed body) then waits for the client's delayed ACK, 40 ms per request
(measured: 52 ms per request through the front journal before, 11 ms after, against 8 ms straight).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from hokusai_contracts._errors import StackError

__all__ = ["loopback_listener", "serving_in_thread"]


def loopback_listener(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host``, with Nagle's algorithm off for every connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it on Linux and macOS.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def serving_in_thread(config: uvicorn.Config, name: str, failure: str, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve ``config``'s app on a ``loopback_listener`` in a daemon thread while the block runs; yields the port.

    ``failure`` is the ``StackError`` message when the server does not start within 10 s.
    """
    sock = loopback_listener(host)
    server = uvicorn.Server(config)
    # uvicorn installs no signal handlers outside the main thread: Ctrl-C still reaches the run.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise StackError(failure)
        time.sleep(0.02)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
