"""Inline SVG charts for the console: a line chart of time series and a bar chart.

Owns: scaling values into a fixed box, axis labels (the largest value, the time span), legends.
Pure: series in, ``Html`` out; labels go through ``kraft.console.html`` like every other text.
Must not: fetch data or know what a series means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kraft.console.html import Html, h

COLOURS = ("#2f7ed8", "#e4572e", "#17a589", "#8e44ad", "#f1a208", "#5d6d7e", "#c0392b", "#27ae60")
WIDTH = 560
HEIGHT = 180
PAD_LEFT = 56
PAD_BOTTOM = 22
PAD_TOP = 22


def human(value: float) -> str:
    """1234567 -> "1.2M": axis labels and table cells."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def line_chart(title: str, series: Mapping[str, Sequence[tuple[int, float]]], *, unit: str = "/s",
               id_: str | None = None) -> Html:
    """One polyline per series of (time ms, value) points, over a common time axis from 0 up."""
    points = [p for s in series.values() for p in s]
    box_w, box_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    children: list[Html] = [h("text", {"x": PAD_LEFT, "y": 14}, title)]
    if not points:
        children.append(h("text", {"x": PAD_LEFT, "y": HEIGHT / 2}, "no samples yet"))
        return _svg(children, id_)
    t0 = min(t for t, _ in points)
    t1 = max(t for t, _ in points)
    top = max(max(v for _, v in points), 1.0)
    span = max(t1 - t0, 1)

    def xy(t: int, v: float) -> str:
        return f"{PAD_LEFT + (t - t0) / span * box_w:.1f},{PAD_TOP + box_h - v / top * box_h:.1f}"

    children += [
        h("line", {"x1": PAD_LEFT, "y1": PAD_TOP, "x2": PAD_LEFT, "y2": PAD_TOP + box_h, "stroke": "#999"}),
        h("line", {"x1": PAD_LEFT, "y1": PAD_TOP + box_h, "x2": PAD_LEFT + box_w, "y2": PAD_TOP + box_h,
                   "stroke": "#999"}),
        h("text", {"x": 4, "y": PAD_TOP + 8}, f"{human(top)}{unit}"),
        h("text", {"x": 4, "y": PAD_TOP + box_h}, f"0{unit}"),
        h("text", {"x": PAD_LEFT, "y": HEIGHT - 6}, f"-{(t1 - t0) / 60000:.1f} min"),
        h("text", {"x": PAD_LEFT + box_w - 24, "y": HEIGHT - 6}, "now"),
    ]
    legend_x = PAD_LEFT + 180
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        if pts:
            children.append(h("polyline", {"fill": "none", "stroke": colour, "stroke-width": 1.5,
                                           "points": " ".join(xy(t, v) for t, v in pts)}))
        children.append(h("text", {"x": legend_x + 90 * i, "y": 14, "fill": colour}, name))
    return _svg(children, id_)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, id_: str | None = None) -> Html:
    """One bar per (label, value), labelled with its value."""
    children: list[Html] = [h("text", {"x": PAD_LEFT, "y": 14}, title)]
    if not bars:
        children.append(h("text", {"x": PAD_LEFT, "y": HEIGHT / 2}, "nothing to show"))
        return _svg(children, id_)
    box_w, box_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    top = max(max(v for _, v in bars), 1.0)
    slot = box_w / len(bars)
    for i, (label, value) in enumerate(bars):
        bar_h = value / top * box_h
        x = PAD_LEFT + i * slot
        children += [
            h("rect", {"x": f"{x + slot * 0.1:.1f}", "y": f"{PAD_TOP + box_h - bar_h:.1f}",
                       "width": f"{slot * 0.8:.1f}", "height": f"{bar_h:.1f}", "fill": COLOURS[0]},
              h("title", None, f"{label}: {value:g}")),
            h("text", {"x": f"{x + slot * 0.1:.1f}", "y": HEIGHT - 6}, label),
            h("text", {"x": f"{x + slot * 0.1:.1f}", "y": f"{PAD_TOP + box_h - bar_h - 3:.1f}"}, human(value)),
        ]
    return _svg(children, id_)


def _svg(children: Sequence[Html], id_: str | None) -> Html:
    return h("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": WIDTH, "height": HEIGHT, "id": id_,
                     "viewBox": f"0 0 {WIDTH} {HEIGHT}", "role": "img"}, children)
