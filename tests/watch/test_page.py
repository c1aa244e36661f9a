"""The status page: rendered from rounds, escaped, and (in a real browser) drawn without a console error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hokusai_contracts.watch.page import PageContext, render_page
from hokusai_contracts.watch.rounds import RoundStatus, WatchedCause, round_that_failed

from ..browser import chromium_missing, load_page
from .rounds_fixtures import AUTH_DOWN, make_round

NOW = time.time()
CONTEXT = PageContext(every="15m", targets={"proxy": "https://registry.example/api/mlflow"}, probe_experiment="7")


def _rounds() -> list:
    rounds = [make_round(RoundStatus.PASS, started_at=NOW - 3600 + 600 * i,
                         latencies={"auth_validate": [0.01 + i / 1000], "registration": [4.0 + i / 10]})
              for i in range(5)]
    rounds.append(make_round(RoundStatus.FAIL, [AUTH_DOWN], started_at=NOW - 120, latencies={}))
    return [r.model_copy(update={"id": n}) for n, r in enumerate(rounds, 1)][::-1]


def test_the_hops_are_coloured_by_the_last_round() -> None:
    html = render_page(_rounds(), [AUTH_DOWN], CONTEXT)
    assert 'data-hop="client-to-auth" data-state="fail"' in html
    assert 'data-hop="client-to-proxy" data-state="ok"' in html
    assert html.count('class="round"') == 6 and 'data-status="fail"' in html
    assert "Registration is broken" in html and "curl -sS -X POST" in html
    assert '<polyline data-target="auth_validate"' in html and '<polyline data-target="registration"' in html
    assert "https://registry.example/api/mlflow" in html and "probe experiment: 7" in html
    assert "<script src" not in html and "http://" not in html.replace('href="/metrics"', "")  # no CDN


def test_no_round_yet_and_no_latency_yet() -> None:
    html = render_page([], [], CONTEXT)
    assert "the first one is running" in html and 'data-state="unknown"' in html and 'id="latency-empty"' in html
    crashed = round_that_failed(1_800_000_000.0, RoundStatus.ERROR, "OSError: no space left").model_copy(
        update={"id": 1})
    assert 'data-state="unknown"' in render_page([crashed], crashed.causes, CONTEXT)


def test_everything_shown_is_escaped() -> None:
    evil = WatchedCause(hop="client->proxy", kind="response_schema", location="<script>alert(1)</script>",
                        observed="</pre><img src=x onerror=alert(2)>", curl="curl '<b>'")
    html = render_page(_rounds(), [evil], CONTEXT)
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "&lt;script&gt;" in html


browser = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))


@browser
def test_the_page_in_chromium_has_its_parts_and_a_clean_console(tmp_path: Path) -> None:
    page_file = tmp_path / "page.html"
    page_file.write_text(render_page(_rounds(), [AUTH_DOWN], CONTEXT), "utf-8")
    page = load_page(page_file.as_uri(), screenshot=tmp_path / "page.png")
    assert page.console == []
    assert 'id="hops"' in page.dom and 'id="latency"' in page.dom and page.dom.count('class="round"') == 6
    assert " ago</time>" in page.dom  # the inline script ran
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000


@browser
def test_the_browser_check_fails_a_page_with_a_script_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(render_page(_rounds(), [], CONTEXT).replace("<script>", "<script>undefinedCall();"), "utf-8")
    page = load_page(broken.as_uri())
    assert any("Uncaught ReferenceError: undefinedCall is not defined" in line for line in page.console), page.console
