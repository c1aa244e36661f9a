"""Generated captures for the judge's partition and cluster tests: a few thousand exchanges in a few files.

Registration traffic as ``make bench`` generates it (``commands.bench_traffic``), without the large
artifact bodies, with defects whose evidence differs per occurrence (each line's ids are its own),
a line on no hop and an unreadable line: what merging must count and choose the same way however
the files are cut and whichever worker finishes first. One file of each set is a HAR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hokusai_contracts.commands.bench_traffic import registration_lines

KEY = "hk_live_" + "Q2w3E4r5" * 4
STRAY = {"method": "GET", "url": "http://example.com/index.html", "status": 200}


def _lines(file: int, registrations: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for serial in range(file * 10_000 + 1, file * 10_000 + registrations + 1):
        lines += registration_lines(serial, artifacts=False)
        if serial % 37 == 0:  # incident 1: the key moved from the body into a header
            moved = dict(lines[-4])
            moved["headers"] = {"content-type": "application/json", "authorization": "Bearer <HOKUSAI_API_KEY>"}
            moved["body"] = {"service_id": "platform", "serial": serial}
            lines.append(moved)
    lines.insert(len(lines) // 2, STRAY)
    return lines


def _har(lines: list[dict[str, Any]]) -> str:
    def headers(values: dict[str, str] | None) -> list[dict[str, str]]:
        return [{"name": k, "value": v} for k, v in (values or {}).items()]

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    entries = [{"request": {"method": line["method"], "url": line["url"], "headers": headers(line.get("headers")),
                            **({"postData": {"mimeType": "application/json", "text": text(line["body"])}}
                               if "body" in line else {})},
                "response": {"status": line["status"], "headers": headers(line.get("response_headers")),
                             "content": ({"mimeType": "application/json", "text": text(line["response_body"])}
                                         if "response_body" in line else {"size": 0})}}
               for line in lines]
    return json.dumps({"log": {"version": "1.2", "entries": entries}}, indent=1)


def write_captures(directory: Path, files: int = 4, registrations: int = 125, *, key_in: int | None = None) -> Path:
    """``files`` captures (the last a HAR) in ``directory``; ``key_in``: that file holds a whole key."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in range(files):
        lines = _lines(file, registrations)
        if key_in == file:
            lines.insert(len(lines) * 3 // 4, {**lines[0], "headers": {"authorization": f"Bearer {KEY}"}})
        if file == files - 1:
            (directory / f"capture-{file}.har").write_text(_har(lines), "utf-8")
            continue
        text = "".join(json.dumps(line) + "\n" for line in lines)
        middle = len(text) // 3
        cut = text.index("\n", middle) + 1
        # One unreadable line, between two whole ones.
        (directory / f"capture-{file}.ndjson").write_text(text[:cut] + "{not json\n" + text[cut:], "utf-8")
    return directory
