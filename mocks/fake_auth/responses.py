"""The fake's JSON responses: ASCII-escaped, so any string a caller sent can be echoed back.

Starlette encodes JSON as UTF-8, which fails on a lone surrogate (a fuzzer sends ``"\\ud800"``
happily, and FastAPI's 422 echoes the input): that would be a 500. Escaped as ``\\ud800`` it is
still valid JSON and means the same to any parser.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["SafeJSONResponse"]


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")
