"""Where captures live: each PATH of ``judge`` (a file, a folder, a glob, an ``s3://`` URL) as files.

fsspec reads a local file and an object in S3 alike (``s3fs``; ``AWS_ENDPOINT_URL`` is honoured by
botocore, so a local S3 server works), so the same ``Source`` is opened on this machine or on a
Dask worker. Every PATH is resolved and every file's format told (from its first 64 KB) before any
work starts: a PATH matching nothing, or a bucket that cannot be read, is one line and exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from fsspec.core import url_to_fs  # type: ignore[import-untyped,unused-ignore]

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.traffic.reading import PEEK, Format, detect_format_of

__all__ = ["Source", "open_source", "resolve_sources"]

_GLOB = frozenset("*?[")
# An S3 endpoint that does not answer must not hold the command for minutes before its one line.
_S3_OPTIONS: dict[str, Any] = {"config_kwargs": {"connect_timeout": 10, "read_timeout": 60,
                                                 "retries": {"max_attempts": 3}}}


@dataclass(frozen=True, slots=True)
class Source:
    """One capture file: where it is (a local path or a URL), its size and its format."""

    url: str
    size: int
    format: Format

    @property
    def name(self) -> str:
        """The file's name (``proxy-auth.har``): what ``--hop``'s default reads, and what warnings name."""
        return PurePosixPath(self.url.split("://", 1)[-1]).name


def _options(url: str) -> dict[str, Any]:
    return dict(_S3_OPTIONS) if url.startswith(("s3://", "s3a://")) else {}


def open_source(url: str) -> IO[bytes]:
    """The capture at ``url`` opened for reading bytes (seekable: a partition starts where it owns)."""
    fs, path = url_to_fs(url, **_options(url))
    return cast(IO[bytes], fs.open(path, "rb"))


def resolve_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Every capture the PATHs name, in the order given (a folder's and a glob's files sorted by name)."""
    sources: dict[str, Source] = {}
    for given in paths:
        for source in _expand(str(given)):
            sources.setdefault(source.url, source)
    return list(sources.values())


def _expand(given: str) -> list[Source]:
    remote = "://" in given
    text = given if remote else os.path.abspath(os.path.expanduser(given))
    try:
        fs, path = url_to_fs(text, **_options(text))
        matches = _matches(fs, path)
        if not matches and remote:
            fs.ls(path.split("/", 1)[0])  # a bucket that cannot be listed says why (NoSuchBucket, AccessDenied)
        if not matches:
            raise UsageError(f"{given}: no such file or folder, and no file matches it; give a HAR, JSONL or "
                             "NDJSON capture, a folder of them, a glob or an s3:// URL")
        return [_source(fs, match, remote) for match in matches]
    except UsageError:
        raise
    except Exception as exc:  # botocore's and aiohttp's errors have no common root worth naming
        hint = ("check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_ENDPOINT_URL"
                if remote else "check the file's permissions")
        raise UsageError(f"{given}: cannot be read ({type(exc).__name__}: {redact(str(exc))[:300]}); "
                         f"{hint}") from None


def _matches(fs: Any, path: str) -> list[dict[str, Any]]:
    if _GLOB & set(path):
        infos = fs.glob(path, detail=True).values()
    elif fs.isdir(path):
        infos = fs.find(path, detail=True).values()
    elif fs.exists(path):
        infos = [fs.info(path)]
    else:
        return []
    files = [info for info in infos if info.get("type") == "file"
             and not PurePosixPath(str(info["name"])).name.startswith(".")]
    return sorted(files, key=lambda info: str(info["name"]))


def _source(fs: Any, info: dict[str, Any], remote: bool) -> Source:
    name = str(info["name"])
    url = fs.unstrip_protocol(name) if remote else name
    with fs.open(name, "rb") as handle:
        head = handle.read(PEEK)
    return Source(url=url, size=int(info.get("size") or 0), format=detect_format_of(head, url))
