"""Masking of API keys wherever text leaves the process.

The team's tools always showed a key as its first 10 characters, ``...``,
and its last 4 (``hk_live_ch...cOWL``); keeping that form lets people match a
masked key against the one in their password manager.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["KEY_PATTERN", "mask", "redact", "redact_obj"]

#: A Hokusai API key: ``hk_live_`` or ``hk_test_`` and 32 letters and digits.
KEY_PATTERN = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
# Anything that looks like a key, even a malformed one, is masked too: a
# truncated or over-long key is still a secret.
_KEYLIKE = re.compile(r"hk_[A-Za-z]+_[A-Za-z0-9]{8,}")


def mask(secret: str) -> str:
    """Return ``secret`` as first 10 characters, ``...``, last 4."""
    if len(secret) <= 14:
        return "*" * len(secret)
    return f"{secret[:10]}...{secret[-4:]}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask every key-like token and every given secret inside ``text``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return _KEYLIKE.sub(lambda m: mask(m.group(0)), text)


def redact_obj(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Redact strings anywhere inside a JSON-like value."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v, secrets) for v in value]
    return value
