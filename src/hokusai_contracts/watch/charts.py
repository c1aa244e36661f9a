"""The status page's pictures as inline SVG, drawn on the server: the hops, and latency over time.

No script and no library: an SVG a browser draws as it is, with a ``<title>`` on each hop that
a pointer shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from statistics import median

from hokusai_contracts.watch.rounds import Round

__all__ = ["COLOURS", "hop_slug", "hops_svg", "latency_svg"]

#: Hop state -> stroke colour (and the page's legend).
COLOURS = {"ok": "#2e7d32", "fail": "#c62828", "unknown": "#9e9e9e"}
_NODES = {"client": (70, 130), "proxy": (300, 130), "auth": (560, 50), "mlflow": (560, 210)}
_LABELS = {"client": "client", "proxy": "MLflow proxy", "auth": "auth service", "mlflow": "MLflow"}
#: The hops drawn: the registration's path solid, the watch's direct checks dashed.
_EDGES = (("client->proxy", False), ("proxy->auth", False), ("proxy->mlflow", False),
          ("client->auth", True), ("client->mlflow", True))
_SERIES = {"auth_validate": "#1565c0", "proxy_read": "#ef6c00", "direct_read": "#6a1b9a", "registration": "#00897b"}


def hop_slug(hop: str) -> str:
    """``client->auth`` as ``client-to-auth``: the hop's ``data-hop`` on the page."""
    return escape(hop.replace("->", "-to-"))


def _edge(hop: str, state: str, dashed: bool, why: str) -> str:
    sender, receiver = hop.split("->")
    (x1, y1), (x2, y2) = _NODES[sender], _NODES[receiver]
    if dashed:  # around the proxy, not through it
        y1, y2 = (y1 - 22, y2 - 18) if receiver == "auth" else (y1 + 22, y2 + 18)
    x1, x2 = x1 + 55, x2 - 62
    colour = COLOURS.get(state, COLOURS["unknown"])
    dash = ' stroke-dasharray="7 5"' if dashed else ""
    title = escape(f"{hop}: {state}" + (f" ({why})" if why else ""))
    # data-hop as a slug: "->" would be "-&gt;" in the attribute, whichever way a browser writes it back.
    return (f'<g class="hop" data-hop="{hop_slug(hop)}" data-state="{escape(state)}"><title>{title}</title>'
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="5"{dash} '
            f'marker-end="url(#arrow-{state})"/>'
            f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 8:.0f}" text-anchor="middle" class="hoplabel">'
            f'{escape(hop)}</text></g>')


def hops_svg(states: dict[str, str], why: dict[str, str]) -> str:
    """client -> proxy -> auth / MLflow, each hop coloured by its state (``ok``, ``fail``, ``unknown``)."""
    markers = "".join(
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
        for name, colour in COLOURS.items())
    edges = "".join(_edge(hop, states.get(hop, "unknown"), dashed, why.get(hop, "")) for hop, dashed in _EDGES)
    nodes = "".join(
        f'<g class="node"><rect x="{x - 60}" y="{y - 22}" width="120" height="44" rx="8" fill="#fff" '
        f'stroke="#37474f" stroke-width="1.5"/><text x="{x}" y="{y + 5}" text-anchor="middle">'
        f'{escape(_LABELS[name])}</text></g>' for name, (x, y) in _NODES.items())
    return (f'<svg id="hops" viewBox="0 0 640 260" width="640" height="260" role="img" '
            f'aria-label="hops coloured by the last round"><defs>{markers}</defs>{edges}{nodes}</svg>')


class _LogScale:
    """Milliseconds to a y on a log scale: a 10 ms validate call and a 5 s registration on one chart."""

    def __init__(self, values: Sequence[float], bottom: float = 190.0, height: float = 160.0) -> None:
        self.low = math.floor(math.log10(max(min(values), 0.1)))
        self.high = max(self.low + 1, math.ceil(math.log10(max(max(values), 0.1))))
        self.bottom, self.height = bottom, height

    def y(self, ms: float) -> float:
        share = (math.log10(max(ms, 0.1)) - self.low) / (self.high - self.low)
        return self.bottom - share * self.height

    def ticks(self) -> list[tuple[float, str]]:
        return [(self.y(10.0 ** e), _ms_label(10.0 ** e)) for e in range(self.low, self.high + 1)]


def _ms_label(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def latency_svg(rounds: Sequence[Round]) -> str:
    """The median latency of each target per round, oldest round left, on a log scale; ``rounds`` newest first."""
    ordered = list(reversed(rounds))
    series = {target: [(i, median(r.latencies_s[target]) * 1000) for i, r in enumerate(ordered)
                       if r.latencies_s.get(target)] for target in _SERIES}
    series = {target: values for target, values in series.items() if values}
    if not series:
        return '<p class="empty" id="latency-empty">No latency measured yet: rounds that pass measure it.</p>'
    scale = _LogScale([v for values in series.values() for _, v in values])
    step = 540 / max(1, len(ordered) - 1)
    x_of = {i: 80 + i * step for i in range(len(ordered))}
    lines, legend = [], []
    for n, (target, values) in enumerate(series.items()):
        colour = _SERIES[target]
        points = " ".join(f"{x_of[i]:.1f},{scale.y(v):.1f}" for i, v in values)
        lines.append(f'<polyline data-target="{target}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        lines += [f'<circle cx="{x_of[i]:.1f}" cy="{scale.y(v):.1f}" r="3" fill="{colour}">'
                  f'<title>{target}: {v:.0f} ms (round {ordered[i].id})</title></circle>' for i, v in values]
        legend.append(f'<text x="{80 + n * 140}" y="222" fill="{colour}">■ {target}</text>')
    grid = "".join(f'<line x1="80" x2="620" y1="{y:.0f}" y2="{y:.0f}" stroke="#e0e0e0"/>'
                   f'<text x="74" y="{y + 4:.0f}" text-anchor="end">{label}</text>' for y, label in scale.ticks())
    return (f'<svg id="latency" viewBox="0 0 640 230" width="640" height="230" role="img" '
            f'aria-label="median latency per round, log scale">{grid}{"".join(lines)}{"".join(legend)}</svg>')
