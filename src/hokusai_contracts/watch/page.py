"""The status page at ``/`` of the metrics port: a quick look without Grafana.

Plain HTML with inline CSS and SVG, rendered per request from the history: the verdict of the last
round, the hops as a picture coloured by that round's causes, the last rounds, latency over time,
and the open causes with their curls. The only script is a few inline lines that write times as
"3 min ago" and reload the page every 30 s; the page reads the same without it. Every value is
escaped; nothing in the history holds a secret whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from hokusai_contracts.watch.charts import COLOURS, hops_svg, latency_svg
from hokusai_contracts.watch.rounds import Round, RoundStatus, WatchedCause

__all__ = ["PageContext", "render_page"]

_STATUS_COLOURS = {RoundStatus.PASS: COLOURS["ok"], RoundStatus.FAIL: COLOURS["fail"],
                   RoundStatus.ERROR: COLOURS["fail"], RoundStatus.INTERRUPTED: COLOURS["unknown"],
                   RoundStatus.SKIPPED: COLOURS["unknown"]}
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 980px; padding: 16px 24px; color: #212121; }
h1 { font-size: 24px; margin: 8px 0; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 6px; color: #fff; font-weight: 600; }
.meta { color: #546e7a; font-size: 13px; } table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.status { font-weight: 600; } pre { background: #263238; color: #eceff1; padding: 10px; border-radius: 6px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; font-size: 12.5px; }
.cause { border-left: 4px solid #c62828; padding: 2px 12px; margin: 12px 0; }
.legend span { margin-right: 16px; }
.hoplabel { font-size: 12px; fill: #455a64; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
svg text { font-size: 13px; }
.empty { color: #78909c; }
"""
_SCRIPT = """
(function () {
  function ago(seconds) {
    if (seconds < 0) { return null; }
    if (seconds < 90) { return Math.round(seconds) + " s ago"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min ago"; }
    return Math.round(seconds / 3600) + " h ago";
  }
  var now = Date.now() / 1000;
  document.querySelectorAll("[data-ts]").forEach(function (node) {
    var text = ago(now - Number(node.getAttribute("data-ts")));
    if (text !== null) { node.title = node.textContent; node.textContent = text; }
  });
  window.setTimeout(function () { window.location.reload(); }, 30000);
})();
"""


@dataclass(frozen=True)
class PageContext:
    """What the page says about the watch itself."""

    every: str
    targets: dict[str, str] = field(default_factory=dict)
    probe_experiment: str | None = None


def _when(ts: float) -> str:
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time data-ts="{ts:.0f}">{text}</time>'


def _summary(latest: Round | None, context: PageContext) -> str:
    if latest is None:
        return '<p id="verdict" class="empty">No round yet: the first one is running.</p>'
    colour = _STATUS_COLOURS[latest.status]
    label = {RoundStatus.PASS: "Registration works", RoundStatus.FAIL: "Registration is broken"}.get(
        latest.status, f"Last round: {latest.status.value}")
    reason = f" ({escape(latest.reason)})" if latest.reason else ""
    return (f'<p id="verdict"><span class="verdict" style="background:{colour}">{escape(label)}</span> '
            f'round {latest.id}, ended {_when(latest.finished_at)} in {latest.seconds:.1f} s{reason}</p>')


def _rounds_table(rounds: Sequence[Round]) -> str:
    if not rounds:
        return '<p class="empty">No rounds yet.</p>'
    rows = "".join(
        f'<tr class="round" data-status="{r.status.value}"><td>{r.id}</td><td>{_when(r.started_at)}</td>'
        f'<td class="status" style="color:{_STATUS_COLOURS[r.status]}">{r.status.value}</td>'
        f"<td>{r.seconds:.1f} s</td><td>{r.requests}</td><td>{len(r.causes)}</td>"
        f"<td>{escape(r.reason or r.diagnosis)}</td><td><code>{escape(r.report_path or '')}</code></td></tr>"
        for r in rounds)
    return ('<table id="rounds"><thead><tr><th>#</th><th>started</th><th>verdict</th><th>took</th><th>requests</th>'
            f"<th>causes</th><th>why</th><th>report</th></tr></thead><tbody>{rows}</tbody></table>")


def _cause(cause: WatchedCause) -> str:
    parts = [f"<h3>{escape(cause.title())}</h3>"]
    for label, value in (("rule", cause.rule), ("seen", cause.observed), ("expected", cause.expected),
                         ("diagnosis", cause.diagnosis), ("what to do", cause.recommendation),
                         ("operations", ", ".join(cause.operations[:8]))):
        if value:
            parts.append(f"<div><b>{label}:</b> {escape(value)}</div>")
    if cause.curl:
        parts.append(f"<pre>{escape(cause.curl)}</pre>")
    return f'<div class="cause" data-kind="{escape(cause.kind)}">{"".join(parts)}</div>'


def _why(causes: Sequence[WatchedCause]) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for cause in causes:
        found.setdefault(cause.hop, []).append(f"{cause.kind} at {cause.location}")
    return {hop: "; ".join(items[:3]) for hop, items in found.items()}


def render_page(rounds: Sequence[Round], open_causes: Sequence[WatchedCause], context: PageContext) -> str:
    """The page for ``rounds`` (newest first) and the causes open now."""
    latest = rounds[0] if rounds else None
    states = latest.hop_states() if latest is not None else {}
    legend = "".join(f'<span style="color:{c}">■ {name}</span>' for name, c in COLOURS.items())
    targets = "".join(f"<div>{escape(name)}: <code>{escape(url)}</code></div>" for name, url in context.targets.items())
    probe = f"<div>probe experiment: {escape(context.probe_experiment)}</div>" if context.probe_experiment else ""
    causes = "".join(_cause(c) for c in open_causes) or '<p class="empty" id="no-causes">No open cause.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hokusai-contracts watch</title><style>{_STYLE}</style></head>
<body>
<h1>Is registration working right now?</h1>
{_summary(latest, context)}
<div class="meta">a round every {escape(context.every)}; rendered {_when(time.time())}{targets}{probe}</div>
<h2>Hops, as the last round saw them</h2>
{hops_svg(states, _why(latest.causes if latest else []))}
<div class="legend meta">{legend} (dashed: the watch's direct checks)</div>
<h2>Open causes</h2>
{causes}
<h2>Latency (median per round)</h2>
{latency_svg(rounds)}
<h2>Last rounds</h2>
{_rounds_table(rounds)}
<p class="meta">Metrics for Prometheus: <a href="/metrics">/metrics</a></p>
<script>{_SCRIPT}</script>
</body></html>
"""
