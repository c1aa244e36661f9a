"""A page loaded in a real browser: Debian's headless Chromium, its DOM after scripts ran, its console, a screenshot.

Chromium with ``--enable-logging=stderr --v=0`` writes every console message of the page, and every
uncaught exception, as an ``INFO:CONSOLE`` line on stderr; ``--dump-dom`` prints the DOM once the
page has loaded and its scripts ran. A page under test is expected to log nothing at all, so every
console line counts as an error. Each load gets a new, empty profile directory.

``.ci/run`` installs Chromium where it is missing; elsewhere the tests that need it skip with the reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHROMIUM", "PageLoad", "chromium_missing", "load_page"]

CHROMIUM = "/usr/bin/chromium"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
          "--enable-logging=stderr", "--v=0"]
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?(?::\d+)?\] (.*)$")
_TIMEOUT_S = 90


@dataclass(frozen=True)
class PageLoad:
    dom: str
    console: list[str]
    screenshot: Path | None


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)"
    return None


def _chromium(url: str, extra: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)


def load_page(url: str, screenshot: Path | None = None, window: str = "1100,1900") -> PageLoad:
    """``url`` rendered: its DOM, the console lines (messages and uncaught errors), and a PNG if asked."""
    with tempfile.TemporaryDirectory(prefix="hokusai-chromium-") as scratch:
        dumped = _chromium(url, ["--dump-dom"], Path(scratch) / "dom-profile")
        console = [m.group(1) for line in dumped.stderr.splitlines() if (m := _CONSOLE.search(line))]
        if screenshot is not None:
            shot = _chromium(url, [f"--screenshot={screenshot}", f"--window-size={window}"],
                             Path(scratch) / "shot-profile")
            console += [m.group(1) for line in shot.stderr.splitlines() if (m := _CONSOLE.search(line))]
    if dumped.returncode != 0 or not dumped.stdout.strip():
        raise RuntimeError(f"chromium could not load {url} (exit {dumped.returncode}): {dumped.stderr[-2000:]}")
    return PageLoad(dumped.stdout, console, screenshot if screenshot is not None and screenshot.exists() else None)
