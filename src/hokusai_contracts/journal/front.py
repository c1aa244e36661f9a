"""The journal in front of the proxy (``client->proxy``), run in the engine's own process.

The scenario and the proxy suites use it as their tracking URI, so what a client sent is on record
next to what the proxy forwarded (``journal.transit``). It runs here, not as a part of the stack:
only the local run's clients talk through it, and the stack (and its compose rendering) stays as
the user's deployment would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.listening import serving_in_thread
from hokusai_contracts.journal.recording import HopJournal

__all__ = ["front_journal"]


@contextmanager
def front_journal(proxy_root: str, out: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve a tracing journal in front of ``proxy_root`` while the block runs; yields its root URL."""
    out.parent.mkdir(parents=True, exist_ok=True)
    app = HopJournal(proxy_root, Hop.CLIENT_TO_PROXY, out, add_trace=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    # The port is only known once bound, so the failure message names the host alone.
    with serving_in_thread(config, "front-journal", f"the journal in front of the proxy did not start on "
                           f"{host}; see the messages above, then run again", host) as port:
        yield f"http://{host}:{port}"
