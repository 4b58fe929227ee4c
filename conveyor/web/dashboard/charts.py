"""Server-rendered SVG charts: throughput (completed vs failed) per minute for the last hour and per hour
for the last day.

Rendering on the server keeps the dashboard free of a JavaScript charting library and makes a chart part
of the HTML fragment the live view swaps in, so it updates the same way as every table. Colours come from
CSS classes (``c-ok``, ``c-bad``, …) with plain presentation attributes as a fallback: inside the page the
stylesheet's variables win (dark mode included); saved as a standalone file the chart still draws.
Tooltips are ``<title>`` elements, which every browser shows on hover and screen readers announce.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from conveyor.web.dashboard.filters import compact, number

#: Fallback colours, used only when no stylesheet applies (the page's CSS classes override them).
OK_COLOUR = "#2f9e6e"
BAD_COLOUR = "#e5484d"


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 × 10ⁿ) that divides ``span`` into about ``ticks`` intervals, so the y axis
    reads 0, 50, 100, 150 rather than 0, 37, 74, 111."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return float(max(1.0, m * magnitude))
    return float(10 * magnitude)  # pragma: no cover - the loop always returns


def _clock(ts: float, with_date: bool) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    return d.strftime("%b %d %H:%M UTC") if with_date else d.strftime("%H:%M UTC")


def throughput_chart(
    points: Sequence[Mapping[str, Any]],
    *,
    bucket_seconds: float,
    title: str,
    width: int = 460,
    height: int = 200,
    empty_text: str = "Nothing finished in this period",
) -> Markup:
    """Stacked bars of completed (bottom) and failed (top) jobs per bucket, with a y axis of round steps,
    relative time labels on the x axis ("−45 min" … "now") and a tooltip per bar with the bucket's UTC
    time and both counts. ``points`` are ``{t, completed, failed}`` oldest first, ``t`` the bucket start."""
    left, right, top, bottom = 40, 8, 26, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(points))
    totals = [int(p.get("completed") or 0) + int(p.get("failed") or 0) for p in points]
    peak = max(totals, default=0)
    step = nice_step(peak or 1)
    y_max = step * max(1, math.ceil((peak or 1) / step))

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v / y_max)

    out: list[str] = []
    label = escape(title)
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}" font-size="11" font-family="system-ui, sans-serif">'
    )
    out.append(f"<title>{label}</title>")
    # Legend, top left: the two series and their totals for the whole period. One <text> with coloured
    # squares as <tspan>s, so it flows at whatever font size the page gives it.
    done_sum = sum(int(p.get("completed") or 0) for p in points)
    fail_sum = sum(int(p.get("failed") or 0) for p in points)
    out.append(
        f'<text class="legend c-label" fill="currentColor" x="{left}" y="16">'
        f'<tspan class="c-ok" fill="{OK_COLOUR}">■</tspan> completed {escape(number(done_sum))}'
        f'<tspan class="c-bad" fill="{BAD_COLOUR}" dx="14">■</tspan> failed {escape(number(fail_sum))}'
        "</text>"
    )
    # Y axis: gridlines at each round step, labels right-aligned left of the plot.
    ticks = round(y_max / step)
    for i in range(ticks + 1):
        v = i * step
        yy = y(v)
        out.append(
            f'<line class="c-grid" stroke="currentColor" stroke-opacity="0.14" x1="{left}" x2="{width - right}" '
            f'y1="{yy:.1f}" y2="{yy:.1f}"/>'
        )
        out.append(
            f'<text class="c-axis" fill="currentColor" fill-opacity="0.7" x="{left - 6}" y="{yy + 4:.1f}" '
            f'text-anchor="end">{escape(compact(v))}</text>'
        )
    # Bars: one group per bucket with a full-height transparent hit area, so thin or empty bars still
    # have a tooltip.
    slot = plot_w / n
    gap = min(2.0, slot * 0.2)
    bar_w = max(0.8, slot - gap)
    with_date = bucket_seconds >= 3600
    for i, p in enumerate(points):
        done, failed = int(p.get("completed") or 0), int(p.get("failed") or 0)
        x = left + i * slot + gap / 2
        t = float(p.get("t") or 0)
        tip = (
            f"{_clock(t, with_date)}–{_clock(t + bucket_seconds, False)}: "
            f"{number(done)} completed, {number(failed)} failed"
        )
        out.append(f'<g class="bar"><title>{escape(tip)}</title>')
        out.append(
            f'<rect class="hit" x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" fill="transparent"/>'
        )
        if done:
            out.append(
                f'<rect class="c-ok" fill="{OK_COLOUR}" x="{x:.1f}" y="{y(done):.1f}" width="{bar_w:.1f}" '
                f'height="{y(0) - y(done):.1f}"/>'
            )
        if failed:
            out.append(
                f'<rect class="c-bad" fill="{BAD_COLOUR}" x="{x:.1f}" y="{y(done + failed):.1f}" '
                f'width="{bar_w:.1f}" height="{y(done) - y(done + failed):.1f}"/>'
            )
        out.append("</g>")
    # X axis: baseline and five relative labels ("−60 min" … "now"); relative needs no time zone.
    out.append(
        f'<line class="c-axisline" stroke="currentColor" stroke-opacity="0.35" x1="{left}" x2="{width - right}" '
        f'y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
    )
    span = bucket_seconds * n
    unit, size = ("h", 3600) if span >= 6 * 3600 else ("min", 60)
    for k in range(5):
        frac = k / 4
        xx = left + plot_w * frac
        ago = span * (1 - frac) / size
        text = "now" if k == 4 else f"−{ago:g} {unit}"
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        out.append(
            f'<text class="c-axis" fill="currentColor" fill-opacity="0.7" x="{xx:.1f}" y="{height - 6}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    if not peak:
        out.append(
            f'<text class="c-empty" fill="currentColor" fill-opacity="0.6" x="{left + plot_w / 2:.1f}" '
            f'y="{top + plot_h / 2:.1f}" text-anchor="middle">{escape(empty_text)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def hour_chart(points: Sequence[Mapping[str, Any]]) -> Markup:
    """Throughput of the last hour, one bar per minute."""
    return throughput_chart(
        points, bucket_seconds=60, title="Jobs finished per minute, last hour", empty_text="No jobs finished this hour"
    )


def day_chart(points: Sequence[Mapping[str, Any]]) -> Markup:
    """Throughput of the last day, one bar per hour."""
    return throughput_chart(
        points, bucket_seconds=3600, title="Jobs finished per hour, last 24 hours", empty_text="No jobs finished today"
    )
