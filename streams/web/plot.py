"""The patient page's plot as SVG: K and Mg over the visit with thresholds, and the orders as bars below."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from alerts.rulesfile import RulesConfig
from streams.web.labtext import lab_text
from streams.web.patients import LabPoint, OrderBar

__all__ = ["plot_svg"]

WIDTH, LEFT, RIGHT = 960, 64, 24
PANEL_H, PANEL_GAP, TOP = 190, 34, 28
BAR_H, BAR_GAP = 20, 6
# Colour is never the only cue: every point and bar is also labelled in text.
_INK, _GRID, _MUTED = "#1f2933", "#d9dee3", "#52606d"
_SERIES = {"potassium": "#1d4ed8", "magnesium": "#0f766e"}
_CLASS_COLOUR = {
    "loop": "#b45309",
    "thiazide": "#b45309",
    "carbonic_anhydrase_inhibitor": "#b45309",
    "potassium_replacement": "#6d28d9",
    "magnesium_replacement": "#047857",
}
_CLASS_WORD = {
    "loop": "loop diuretic",
    "thiazide": "thiazide",
    "carbonic_anhydrase_inhibitor": "carbonic anhydrase inhibitor",
    "potassium_replacement": "K replacement",
    "magnesium_replacement": "Mg replacement",
}


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()})
    if text is not None:
        node.text = text
    return node


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%d %b %Y %H:%M")


def _ticks(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    span = (end - start).total_seconds()
    steps = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400)
    step = next((s for s in steps if span / s <= 8), steps[-1])
    local = start.astimezone(tz)
    first = local.replace(minute=0, second=0, microsecond=0)
    if step >= 86400:
        first = first.replace(hour=0)
    ticks, moment = [], first
    while moment <= end:
        if moment >= start:
            ticks.append(moment)
        moment += timedelta(seconds=step)
    return ticks


class _Axis:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.span = start, max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (moment - self.start).total_seconds() / self.span


def _panel(
    svg: ET.Element,
    axis: _Axis,
    top: float,
    analyte: str,
    points: Sequence[LabPoint],
    lines: Sequence[tuple[float, str]],
    floor: tuple[float, float],
    tz: tzinfo,
) -> None:
    values = [p.value for p in points if p.value is not None]
    low, high = min([floor[0], *values]) - 0.1, max([floor[1], *values]) + 0.1
    height = PANEL_H

    def y(value: float) -> float:
        return top + height - height * (value - low) / (high - low)

    name = "K" if analyte == "potassium" else "Mg"
    group = _el(svg, "g", role="group", aria_label=f"{name} results in mmol/L", data_series=analyte)
    _el(group, "rect", x=LEFT, y=top, width=WIDTH - LEFT - RIGHT, height=height, fill="none", stroke=_GRID)
    _el(group, "text", f"{name} (mmol/L)", x=8, y=top - 8, font_size=13, font_weight="bold", fill=_INK)
    for value, label in lines:
        if low <= value <= high:
            _el(
                group,
                "line",
                x1=LEFT,
                x2=WIDTH - RIGHT,
                y1=y(value),
                y2=y(value),
                stroke="#b91c1c",
                stroke_dasharray="6 4",
                stroke_width=1,
                data_threshold=value,
            )
            _el(
                group,
                "text",
                label,
                x=WIDTH - RIGHT - 4,
                y=y(value) - 4,
                font_size=11,
                fill="#b91c1c",
                text_anchor="end",
            )
    for tick in (low + (high - low) * i / 4 for i in range(5)):
        _el(
            group,
            "text",
            f"{tick:.1f}" if analyte == "potassium" else f"{tick:.2f}",
            x=LEFT - 6,
            y=y(tick) + 4,
            font_size=11,
            fill=_MUTED,
            text_anchor="end",
        )
    plotted = sorted((p for p in points if p.value is not None), key=lambda p: p.collected_at)
    if len(plotted) > 1:
        path = " ".join(f"{axis.x(p.collected_at):.1f},{y(p.value or 0):.1f}" for p in plotted)
        _el(group, "polyline", points=path, fill="none", stroke=_SERIES[analyte], stroke_width=1.5)
    for i, point in enumerate(plotted):
        value = point.value or 0.0
        if point.sent_value is not None and point.sent_unit:
            sent = lab_text(analyte, point.sent_value, point.sent_unit)
        else:
            sent = lab_text(analyte, value, "mmol/L")
        when = _when(point.collected_at, tz)
        label = f"{name} {sent}, collected {when}"
        if point.sent_unit and point.sent_unit.casefold() != "mmol/l":
            label += f" (= {lab_text(analyte, value, 'mmol/L')})"
        cx, cy = axis.x(point.collected_at), y(value)
        node = _el(
            group,
            "circle",
            cx=f"{cx:.1f}",
            cy=f"{cy:.1f}",
            r=4.5,
            fill=_SERIES[analyte],
            stroke="#ffffff",
            stroke_width=1.5,
            role="img",
            aria_label=label,
            data_analyte=analyte,
            data_value=value,
            data_sent_value=point.sent_value if point.sent_value is not None else value,
            data_unit=point.sent_unit or "mmol/L",
            data_time=point.collected_at.isoformat(),
            data_result_id=point.result_id,
        )
        _el(node, "title", label)
        # Labels alternate above and below the point so that neighbours do not overwrite each other.
        above = i % 2 == 0
        ly = cy - 10 if above else cy + 18
        _el(
            group,
            "text",
            sent,
            x=f"{cx:.1f}",
            y=f"{ly:.1f}",
            font_size=11,
            fill=_INK,
            text_anchor="middle",
            aria_hidden="true",
        )
        _el(
            group,
            "text",
            point.collected_at.astimezone(tz).strftime("%d %b %H:%M"),
            x=f"{cx:.1f}",
            y=f"{ly - 12 if above else ly + 12:.1f}",
            font_size=9,
            fill=_MUTED,
            text_anchor="middle",
            aria_hidden="true",
        )


def plot_svg(
    labs: Sequence[LabPoint],
    orders: Sequence[OrderBar],
    rules: RulesConfig,
    tz: tzinfo,
    *,
    now: datetime | None = None,
) -> bytes:
    """The SVG document; every point and bar carries its values as data-* attributes and a text label."""
    moments = [p.collected_at for p in labs if p.value is not None] + [o.start for o in orders]
    moments += [o.end for o in orders if o.end is not None]
    if not moments:
        moments = [now] if now is not None else []
    start = min(moments) if moments else datetime.fromtimestamp(0).astimezone(tz)
    end = max(moments) if moments else start
    pad = max((end - start) * 0.05, timedelta(minutes=1))
    start, end = start - pad, end + pad
    axis = _Axis(start, end)
    bars = sorted(orders, key=lambda o: o.start)
    bars_top = TOP + 2 * (PANEL_H + PANEL_GAP) + 8
    axis_top = bars_top + max(len(bars), 1) * (BAR_H + BAR_GAP) + 8
    height = axis_top + 40
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {WIDTH} {height}",
            "width": str(WIDTH),
            "height": str(height),
            "role": "group",
            "aria-label": "Potassium and magnesium over the visit, and the orders that waste or replace them",
            "font-family": "system-ui, sans-serif",
            "class": "patient-plot",
        },
    )
    for tick in _ticks(start, end, tz):
        x = axis.x(tick)
        _el(svg, "line", x1=f"{x:.1f}", x2=f"{x:.1f}", y1=TOP, y2=axis_top, stroke=_GRID, stroke_width=0.6)
        _el(
            svg,
            "text",
            tick.strftime("%d %b %H:%M"),
            x=f"{x:.1f}",
            y=axis_top + 14,
            font_size=10,
            fill=_MUTED,
            text_anchor="middle",
        )
    _el(
        svg,
        "text",
        f"time ({getattr(tz, 'key', str(tz))})",
        x=WIDTH - RIGHT,
        y=axis_top + 28,
        font_size=10,
        fill=_MUTED,
        text_anchor="end",
    )
    t, s, c = rules.thresholds, rules.severity.high, rules.severity.critical
    k_lines = [
        (t.potassium_low, f"low < {t.potassium_low:.1f}"),
        (s.potassium_below, f"high < {s.potassium_below:.1f}"),
        (c.potassium_below, f"critical < {c.potassium_below:.1f}"),
    ]
    mg_lines = [
        (t.magnesium_low, f"low < {t.magnesium_low:.2f}"),
        (s.magnesium_below, f"high < {s.magnesium_below:.2f}"),
        (c.magnesium_below, f"critical < {c.magnesium_below:.2f}"),
    ]
    _panel(
        svg, axis, TOP, "potassium", [p for p in labs if p.analyte == "potassium"], k_lines, (2.0, 5.0), tz
    )
    _panel(
        svg,
        axis,
        TOP + PANEL_H + PANEL_GAP,
        "magnesium",
        [p for p in labs if p.analyte == "magnesium"],
        mg_lines,
        (0.4, 1.1),
        tz,
    )
    lane = _el(svg, "g", role="group", aria_label="Orders", data_series="orders")
    _el(lane, "text", "Orders", x=8, y=bars_top - 4, font_size=13, font_weight="bold", fill=_INK)
    if not bars:
        _el(
            lane,
            "text",
            "No diuretic, potassium or magnesium orders received",
            x=LEFT,
            y=bars_top + 14,
            font_size=12,
            fill=_MUTED,
        )
    for i, bar in enumerate(bars):
        y = bars_top + i * (BAR_H + BAR_GAP)
        x0 = axis.x(bar.start)
        x1 = axis.x(bar.end) if bar.end is not None else WIDTH - RIGHT
        kind = ", ".join(_CLASS_WORD.get(c, c) for c in bar.classes)
        detail = " · ".join(x for x in (bar.dose, bar.route) if x)
        running = "until " + _when(bar.end, tz) if bar.end is not None else "still running"
        label = (
            f"{bar.display} ({kind}){' · ' + detail if detail else ''}, from {_when(bar.start, tz)} {running}"
        )
        node = _el(
            lane,
            "rect",
            x=f"{x0:.1f}",
            y=y,
            width=f"{max(x1 - x0, 3):.1f}",
            height=BAR_H,
            rx=3,
            fill=_CLASS_COLOUR.get(bar.classes[0], _MUTED),
            fill_opacity=0.85,
            role="img",
            aria_label=label,
            data_order_id=bar.order_id,
            data_classes=" ".join(bar.classes),
            data_start=bar.start.isoformat(),
            data_end=bar.end.isoformat() if bar.end else "",
        )
        _el(node, "title", label)
        text = f"{bar.display}{' · ' + detail if detail else ''}"
        inside = x1 - x0 > 7 * len(text)
        _el(
            lane,
            "text",
            text,
            x=f"{x0 + 6 if inside else min(x1 + 6, WIDTH - RIGHT - 4):.1f}",
            y=y + 14,
            font_size=11,
            fill="#ffffff" if inside else _INK,
            text_anchor="start" if inside or x1 + 200 < WIDTH else "end",
            aria_hidden="true",
        )
    return ET.tostring(svg, encoding="utf-8", xml_declaration=False)
