"""A replayable ``curl`` from an ``Exchange``: the one place a finding's reproduction is written.

An exchange is redacted when it is built, so a credential in it is masked text
(``hk_live_ab...WXYZ``), which a server would refuse: replaying it would not reproduce the finding.
A masked value that is the mask of a secret this process knows (the run's key, its admin token)
becomes an environment reference instead (``"$HOKUSAI_API_KEY"``), which the shell fills in when
the user replays it; a masked value of anything else (a probe's deliberately wrong key) stays as
it is, since any wrong key reproduces a refusal. Every other word is quoted with ``shlex``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Sequence

from hokusai_contracts.domain.findings import Exchange
from hokusai_contracts.domain.redact import mask, registered_secrets

__all__ = ["INLINE_BODY_LIMIT", "curl_for", "curl_of_exchanges", "env_name", "with_env_references"]

#: Bodies up to this many characters are inlined (``--data-binary``); longer ones become a comment.
INLINE_BODY_LIMIT = 4096
# Headers curl or the server sets from the connection: replaying them would be wrong or noise.
_SKIP_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding", "transfer-encoding",
                           "user-agent", "keep-alive"})
_MASKED = re.compile(r"[^\s\"',;:=&]{1,10}\.\.\.[^\s\"',;:=&]{1,4}|\*{8,14}")


def env_name(secret: str) -> str:
    """The environment variable a user keeps this kind of secret in."""
    if secret.startswith(("adm_", "fake-admin-")):
        return "HOKUSAI_ADMIN_TOKEN"
    return "HOKUSAI_API_KEY"


def _masks(secrets: Iterable[str]) -> dict[str, str]:
    return {mask(s): env_name(s) for s in secrets}


def _word(text: str, masks: dict[str, str]) -> str:
    """``text`` as one shell word, each masked known secret replaced by its (double-quoted) variable."""
    parts: list[str] = []
    last = 0
    for match in _MASKED.finditer(text):
        name = masks.get(match.group(0))
        if name is None:
            continue
        if match.start() > last:
            parts.append(shlex.quote(text[last:match.start()]))
        parts.append(f'"${name}"')
        last = match.end()
    if last < len(text) or not parts:
        parts.append(shlex.quote(text[last:]))
    return "".join(parts)


def curl_for(exchange: Exchange, base_url: str | None = None, secrets: Iterable[str] | None = None) -> str:
    """A curl that sends ``exchange``'s request again; ``base_url`` completes a URL recorded as a path."""
    masks = _masks(registered_secrets() if secrets is None else secrets)
    url = exchange.url
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        url = (base_url or "http://127.0.0.1").rstrip("/") + "/" + url.lstrip("/")
    words = ["curl", "-sS", "-i", "-X", shlex.quote(exchange.method.upper())]
    for name, value in exchange.request_headers.items():
        if name.lower() in _SKIP_HEADERS:
            continue
        words += ["-H", _word(f"{name}: {value}", masks)]
    comment = None
    body = exchange.request_body
    if body:
        if len(body) <= INLINE_BODY_LIMIT:
            words += ["--data-binary", _word(body, masks)]
        else:
            digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
            comment = (f"# the request body was {len(body.encode('utf-8'))} bytes (sha256 {digest} of the "
                       f"recorded text), not inlined: send your own with --data-binary @FILE")
    elif exchange.request_body_size:
        # A body too large to keep (a streamed upload): what was sent, by size and digest.
        comment = (f"# the request body was {exchange.request_body_size} bytes (sha256 "
                   f"{exchange.request_body_sha256 or 'not recorded'}), not inlined: send your own with "
                   "--data-binary @FILE")
    words.append(_word(url, masks))
    command = " ".join(words)
    return f"{comment}\n{command}" if comment else command


def curl_of_exchanges(exchanges: Sequence[Exchange], base_url: str | None = None,
                      cause_base_url: str | None = None, secrets: Iterable[str] | None = None) -> str | None:
    """The first exchange's curl; any later ones (the client's request that caused it) follow, commented."""
    if not exchanges:
        return None
    secrets = list(registered_secrets() if secrets is None else secrets)
    lines = [curl_for(exchanges[0], base_url, secrets)]
    for other in exchanges[1:]:
        lines += ["# caused by this request:", curl_for(other, cause_base_url, secrets)]
    return "\n".join(lines)


def with_env_references(command: str, secrets: Iterable[str] | None = None) -> str:
    """A curl written elsewhere (Schemathesis'), with each masked known secret made an env reference.

    Each line is split into words as the shell would and each word quoted again, so a reference
    lands outside single quotes wherever the secret stood; a line the shell could not split stays.
    """
    masks = _masks(registered_secrets() if secrets is None else secrets)
    lines = []
    for line in command.split("\n"):
        if not any(masked in line for masked in masks):
            lines.append(line)
            continue
        try:
            words = shlex.split(line, comments=False)
        except ValueError:
            lines.append(line)
            continue
        lines.append(" ".join(_word(word, masks) for word in words))
    return "\n".join(lines)
