"""Masking keys in log lines: the first 10 characters, ``...``, the last 4 (``hk_live_ch...cOWL``).

A local copy of the toolkit's form on purpose: ``hokusai_mocks`` never imports ``hokusai_contracts``
(ARCHITECTURE.md), so the fake runs the same way as any third party's service would.
"""

from __future__ import annotations

__all__ = ["mask"]


def mask(secret: str) -> str:
    """Return ``secret`` as its first 10 characters, ``...`` and its last 4; short ones as stars."""
    return f"{secret[:10]}...{secret[-4:]}" if len(secret) > 14 else "*" * len(secret)
