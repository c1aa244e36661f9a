"""Contracts already checked: one marker file per checked text, so a run does not check them again.

Checking a document (``_source.check_document``: every $ref, every schema, the whole document by
openapi-spec-validator) takes about a second for the committed contracts, at the start of every
run, before the stack can start. The verdict depends only on the text and on the checking code,
so a marker named by the digest of both (this toolkit's version, the validator's, ``_source.py``)
stands for "this text passed". Only passes are remembered; a cache that cannot be written is no
cache, never an error.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version
from pathlib import Path

from hokusai_contracts._version import __version__
from hokusai_contracts.contracts import _source
from hokusai_contracts.settings import cache_root

__all__ = ["passed_before", "remember_passed"]

_DIRECTORY = "checked-contracts"


@cache
def _checker_digest() -> bytes:
    checker = hashlib.sha256(version("openapi-spec-validator").encode())
    checker.update(__version__.encode())
    try:
        checker.update(Path(_source.__file__).read_bytes())
    except OSError:
        checker.update(b"?")
    return checker.digest()


def _marker(text: str) -> Path:
    return cache_root() / _DIRECTORY / hashlib.sha256(_checker_digest() + text.encode("utf-8")).hexdigest()


def passed_before(text: str) -> bool:
    try:
        return _marker(text).is_file()
    except OSError:
        return False


def remember_passed(text: str) -> None:
    marker = _marker(text)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        return
