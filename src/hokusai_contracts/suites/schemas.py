"""Loading a contract for Schemathesis, the same way for every suite."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Config

from .context import SuiteContext

__all__ = ["load_schema"]


def load_schema(context: SuiteContext, contract_file: str, base_url: str, *, include_live_unsafe: bool = True,
                extra_config: dict[str, Any] | None = None) -> Any:
    config = Config.from_dict({
        "base-url": base_url,
        "generation": {"max-examples": context.max_examples},
        **(extra_config or {}),
    })
    schema = schemathesis.openapi.from_path(context.contracts_dir / contract_file, config=config)
    if context.live_safe_only or not include_live_unsafe:
        # Only operations their contract marks safe to call against production.
        schema = schema.include(func=lambda ctx: bool(ctx.operation.definition.raw.get("x-live-safe")))
    return schema
