"""The faults a hop journal injects, so the proxy's behaviour with a bad upstream can be observed.

``slow`` waits before forwarding, ``error`` answers 500 without forwarding, ``drop`` forwards and
then cuts the caller's connection (mid-upload, or when the upstream's answer arrives). An absent
upstream is a stopped process, not a fault of the journal's: see ``stack.processes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from enum import StrEnum

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["ConnectionDropped", "Cut", "Fault", "FaultMode", "cut_connection"]


class FaultMode(StrEnum):
    NONE = "none"
    SLOW = "slow"  # wait delay_s before forwarding
    ERROR = "error"  # answer 500 without forwarding
    # Forward, then cut the caller's connection once drop_after_bytes of the request body have
    # passed (mid-upload), or, for a smaller body, when the upstream's answer arrives (before the
    # caller gets it): no status line at all, as when a load balancer or a crashing server resets.
    DROP = "drop"


class Fault(BaseModel):
    mode: FaultMode = FaultMode.NONE
    delay_s: float = 10.0
    # Only requests whose path contains this text are affected ("" = all).
    path_contains: str = ""
    drop_after_bytes: int = Field(default=256 * 1024, ge=0)

    def applies_to(self, path: str) -> bool:
        return self.mode is not FaultMode.NONE and self.path_contains in path

    async def before_forwarding(self) -> Response | None:
        """``slow``: wait; ``error``: the answer to give instead of forwarding; else nothing."""
        if self.mode is FaultMode.SLOW:
            await asyncio.sleep(self.delay_s)
        if self.mode is FaultMode.ERROR:
            return Response("injected upstream error", status_code=500, media_type="text/plain")
        return None

    async def cutting(self, chunks: AsyncIterator[bytes], passed: Callable[[], int]) -> AsyncIterator[bytes]:
        """``chunks`` until ``drop_after_bytes`` have ``passed``: then ``Cut``, mid-upload."""
        async for chunk in chunks:
            if chunk and passed() >= self.drop_after_bytes:
                # Raised inside the upstream send: httpx abandons that connection too, so the
                # upstream sees the same broken upload the caller does.
                raise Cut(f"after {passed()} bytes of the request body")
            yield chunk


class ConnectionDropped(ConnectionResetError):
    """The injected ``drop`` fault, raised where no server connection can be cut (in-process ASGI)."""


class Cut(Exception):
    """Ends the forwarded body where the drop fault cuts it."""


class _NoAnswer(Response):
    """Sends nothing: the connection it would answer on is gone."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def cut_connection(request: Request) -> Response:
    """Reset the caller's TCP connection, so it sees no status line at all.

    ASGI has no message for "drop this connection", and an exception only makes the server answer
    500. Uvicorn's ``receive`` is a method of its request cycle, which holds the connection's
    asyncio transport: aborting that sends a reset, and uvicorn then sends nothing more (it treats
    the request as disconnected). Without such a transport (an in-process ASGI client), raise
    ``ConnectionDropped``, which that client passes to its caller.
    """
    transport = getattr(getattr(request.receive, "__self__", None), "transport", None)
    if not callable(getattr(transport, "abort", None)):
        raise ConnectionDropped("injected fault: drop")
    assert transport is not None
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn learn of the lost connection before we return
    return _NoAnswer()
