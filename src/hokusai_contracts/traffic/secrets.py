"""Secrets in recorded traffic: refused unless accepted, then masked everywhere; placeholders in HAR.

A recording this toolkit writes never holds a key: each is replaced by ``PLACEHOLDER`` (the
HAR's user substitutes their own, a replay the seeded key). A recording made elsewhere may: the
``judge`` command refuses it (one line, exit 2) unless ``--accept-secrets``, and then registers
each secret with ``domain.redact`` so every output masks it (first 10 + ``...`` + last 4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from hokusai_contracts.domain.redact import CREDENTIAL_HEADERS, KEY_PATTERN, mask, redact

__all__ = ["OTHER_PLACEHOLDER", "PLACEHOLDER", "STAND_IN", "from_placeholders", "header_to_placeholder", "secrets_in",
           "to_placeholders"]

#: What a written recording holds where a key or token was.
PLACEHOLDER = "<HOKUSAI_API_KEY>"
#: What a written recording holds where a key other than the run's own was (a revoked or made-up one a
#: probe sent): a replay sends an unknown key there, so the answer is a refusal again.
OTHER_PLACEHOLDER = "<OTHER_API_KEY>"
#: What the judge reads in a placeholder's place: a key as ``redact.mask`` shows it, so that a key
#: that crossed a hop (a leak, an undeclared credential) is still seen as one, as in a hop journal.
STAND_IN = "hk_live_re...cted"
# An opaque Bearer token, not a masked one (those hold "...") nor a placeholder ("<...>").
_BEARER = re.compile(r"\bBearer\s+([A-Za-z0-9_~+/=.-]{8,})", re.IGNORECASE)
# A key or token as this toolkit masks it: already no secret, but still a credential's place.
_MASKED = re.compile(r"(?:hk_[A-Za-z]+_|adm_|fake-admin-)[A-Za-z0-9_-]{0,10}\.\.\.[A-Za-z0-9_-]{0,4}|\*{8,}")
_KEY_LIKE = re.compile(r"hk_[A-Za-z]+_[A-Za-z0-9]{8,}")


def secrets_in(texts: Iterable[str]) -> list[str]:
    """The whole keys and Bearer tokens in ``texts``: what a recording must not hold unredacted."""
    found: dict[str, None] = {}
    for text in texts:
        for key in KEY_PATTERN.findall(text):
            found[key] = None
        for token in _BEARER.findall(text):
            if "..." not in token:
                found[token] = None
    return list(found)


def to_placeholders(text: str, own_key: str | None = None) -> str:
    """``text`` with the run's key (whole or masked) made ``PLACEHOLDER``, every other key or token
    (whole, masked, or registered) ``OTHER_PLACEHOLDER``."""
    if own_key:
        for form in (own_key, quote(own_key, safe=""), mask(own_key)):
            text = text.replace(form, PLACEHOLDER)
    text = redact(text)
    text = _MASKED.sub(OTHER_PLACEHOLDER, text)
    return _KEY_LIKE.sub(OTHER_PLACEHOLDER, text)


def header_to_placeholder(name: str, value: str, own_key: str | None = None) -> str:
    """A credential header's whole value (its scheme kept), any other header's keys, as placeholders."""
    if name.lower() in CREDENTIAL_HEADERS and value.strip():
        scheme, _, rest = value.partition(" ")
        credential = rest if rest.strip() and name.lower().endswith("authorization") else value
        replaced = to_placeholders(credential, own_key)
        if PLACEHOLDER not in replaced and OTHER_PLACEHOLDER not in replaced:
            replaced = OTHER_PLACEHOLDER
        return f"{scheme} {replaced}" if credential is rest else replaced
    return to_placeholders(value, own_key)


def from_placeholders(text: str, key: str = STAND_IN, other: str = STAND_IN) -> str:
    return text.replace(PLACEHOLDER, key).replace(OTHER_PLACEHOLDER, other)
