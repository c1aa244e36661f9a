"""Refusals of the key and usage administration.

The contract documents only 200 and 422 for these operations, so a refusal about the input (an
unknown key_id, rotating a revoked key) is a 422 in the contract's ``HTTPValidationError`` shape,
pointing at the offending field. Both profiles answer so: the reference material records no
other answer of the real service for these operations.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from .responses import SafeJSONResponse

__all__ = ["Rejection", "answer_rejection"]


class Rejection(Exception):
    """Raised by a route; ``answer_rejection`` turns it into the profile's response."""

    def __init__(
        self,
        detail: str,
        *,
        loc: tuple[str | int, ...],
        kind: str,
        value: Any = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.loc = loc
        self.kind = kind
        self.value = value


async def answer_rejection(request: Request, exc: Exception) -> SafeJSONResponse:
    assert isinstance(exc, Rejection)
    error = {"type": exc.kind, "loc": list(exc.loc), "msg": exc.detail, "input": exc.value}
    return SafeJSONResponse({"detail": [error]}, status_code=422)
