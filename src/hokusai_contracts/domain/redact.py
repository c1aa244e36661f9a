"""Masking of secrets wherever text leaves the process.

The team's tools always showed a key as its first 10 characters, ``...``,
and its last 4 (``hk_live_ch...cOWL``); keeping that form lets people match a
masked key against the one in their password manager.

Three nets, so that a caller forgetting to pass the run's secrets leaks nothing:

- patterns: anything shaped like a Hokusai key (``hk_...``) or an admin token
  (``adm_...``, the fake's ``fake-admin-...``) is masked wherever it appears;
- the run's registry: each secret the process learns (the key under test, the
  seeded keys, the admin token, secrets from ``.env``) is registered once and
  masked by every later ``redact`` call, whoever makes it;
- credential headers: ``redact_headers`` masks the whole value of
  ``Authorization``, ``X-API-Key``, cookies..., whatever its shape.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["CREDENTIAL_HEADERS", "KEY_PATTERN", "MASKED_KEY_PATTERN", "forget_secrets", "mask", "redact",
           "redact_headers", "redact_obj", "register_secrets", "registered_secrets"]

#: A Hokusai API key: ``hk_live_`` or ``hk_test_`` and 32 letters and digits.
KEY_PATTERN = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
#: A key as ``mask`` shows it (``hk_live_ch...cOWL``): still proof that the key itself passed by.
MASKED_KEY_PATTERN = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{2}\.\.\.[A-Za-z0-9]{4}")
#: Headers whose value is a credential whatever it looks like (an opaque token is still a secret).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})
# Anything that looks like a key, even a malformed one, is masked too: a truncated or over-long key
# is still a secret. Admin tokens: the stack's "adm_" + token_urlsafe, the fake's own default
# "fake-admin-" + token_urlsafe.
_SECRETLIKE = re.compile(r"hk_[A-Za-z]+_[A-Za-z0-9]{8,}|(?<![A-Za-z0-9])(?:adm_|fake-admin-)[A-Za-z0-9_-]{8,}")
# A registered secret shorter than this is not masked by value: replacing a short word everywhere
# would garble the report, and nothing that short is a credential worth the name.
_MIN_REGISTERED = 8
_SCHEME = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9_-]*\s+)(\S.*)$")

_registered: set[str] = set()
_lock = threading.Lock()


def mask(secret: str) -> str:
    """Return ``secret`` as first 10 characters, ``...``, last 4."""
    if len(secret) <= 14:
        return "*" * len(secret)
    return f"{secret[:10]}...{secret[-4:]}"


def register_secrets(*secrets: str | None) -> None:
    """Make every later ``redact`` in this process mask these values (``None`` and short ones are skipped)."""
    with _lock:
        _registered.update(s for s in secrets if s and len(s) >= _MIN_REGISTERED)


def registered_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_registered)


def forget_secrets() -> None:
    """Empty the registry (tests)."""
    with _lock:
        _registered.clear()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask every key-like token, every registered secret and every given one inside ``text``."""
    known = {s for s in secrets if s} | registered_secrets()
    # Longest first: a secret holding another is masked whole, not around the inner one.
    for secret in sorted(known, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            if form in text:
                text = text.replace(form, mask(secret))
    return _SECRETLIKE.sub(lambda m: mask(m.group(0)), text)


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """Headers with credential values masked whole (``Bearer `` + masked token) and the rest redacted."""
    secrets = tuple(secrets)
    cleaned: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in CREDENTIAL_HEADERS and value:
            scheme = _SCHEME.match(value) if name.lower().endswith("authorization") else None
            cleaned[name] = scheme.group(1) + mask(scheme.group(2)) if scheme else mask(value)
        else:
            cleaned[name] = redact(value, secrets)
    return cleaned


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
