"""The fake never answers 500 on its own: an unexpected failure becomes a documented 422.

Every operation of the contract that takes input documents 422 with an ``HTTPValidationError``
body, so a bug in the fake shows up as a 422 whose message says so (and the traceback goes to the
log) instead of a 500 that a check would blame on the consumer or on the network. Injected
``error`` faults are answered outside this guard, so they still reach the caller as 500.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import SafeJSONResponse

__all__ = ["NeverServerError"]

logger = logging.getLogger("hokusai_mocks.fake_auth")


class NeverServerError:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late to answer differently; let the server close the connection
                raise
            logger.exception("fake auth failed on %s %s", scope["method"], scope["path"])
            body = {
                "detail": [
                    {
                        "loc": [],
                        "msg": (
                            f"the fake auth service failed on this request ({type(exc).__name__}); "
                            "this is a bug in hokusai_mocks.fake_auth; its log has the traceback"
                        ),
                        "type": "fake_auth_internal_error",
                    }
                ]
            }
            await SafeJSONResponse(body, status_code=422)(scope, receive, send)
