"""The report as one self-contained HTML page: inline CSS and SVG, no script, no request to any server.

Sections (element ids): ``summary``, ``map-volume`` and ``map-breaches`` (the territory map shaded by leads
assigned and by SLA breaches), ``chart-volume`` (leads per territory per day, stacked bars), ``chart-ttft``
(time to first touch per territory per day, lines), ``chart-rep-load`` (open leads against capacity per rep),
``table-territories``, ``table-reps``. Every chart is an ``<svg class="chart">``. The maps draw light geographic
context (land, country and state outlines, names that fit: ``territories/context.py``) under the territories.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from territory_router.reporting import aggregates as agg
from territory_router.reporting.model import ReportModel, TerritoryRow
from territory_router.territories.context import context_svg
from territory_router.territories.mapping import _Projection, territory_colour

TOP_SERIES = 8  # territories drawn as their own series; the rest are summed into "other"
OTHER = "other"
esc = html.escape

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px} .muted{color:#667085;font-size:13px}
#summary{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:8px 14px;min-width:96px}
.card b{display:block;font-size:22px} .card span{font-size:12px;color:#667085}
.row{display:flex;gap:16px;flex-wrap:wrap} .panel{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:10px;flex:1 1 460px}
.panel h3{font-size:14px;margin:0 0 6px} svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:12px;background:#fff} th,td{border-bottom:1px solid #eaecf0;padding:4px 8px;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left} th{background:#f2f4f7}
.legend{font-size:11px;color:#475467;margin-top:4px} .swatch{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px}
"""


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _shade(value: float, maximum: float, low: tuple[int, int, int], high: tuple[int, int, int]) -> str:
    t = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    t = math.sqrt(t)  # spread the small values
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


BLUES = ((0xE8, 0xF1, 0xFA), (0x08, 0x3D, 0x8C))
REDS = ((0xFD, 0xF0, 0xE6), (0xA5, 0x0F, 0x15))


# ------------------------------------------------------------------------------------------------ map


MAX_INSETS = 4
CLUSTER_GAP_DEG = 3.0  # parts closer than this (degrees) are drawn in the same frame


def _clusters(parts: Sequence[Any]) -> list[list[int]]:
    """Groups of polygon parts that lie together (union-find over parts within the gap), largest area first."""
    import shapely

    if not parts:
        return []
    parent = list(range(len(parts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    left, right = shapely.STRtree(parts).query(parts, predicate="dwithin", distance=CLUSTER_GAP_DEG)
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[int]] = {}
    for i in range(len(parts)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g_: -sum(parts[i].area for i in g_))


def render_map_svg(model: ReportModel, *, measure: str, element_id: str) -> str:
    """The territories shaded by ``measure``: ``volume`` (leads assigned) or ``breaches`` (SLA breaches).

    Far-apart pieces (Alaska, Hawaii, Puerto Rico next to the contiguous US) are drawn in small inset frames at the
    bottom left, so the main frame stays readable.
    """
    from shapely.geometry import MultiPolygon, Polygon

    rows = [r for r in model.territories if r.territory_id in model.geometries]
    low, high = BLUES if measure == "volume" else REDS
    value = (lambda r: r.volume) if measure == "volume" else (lambda r: r.sla_breaches)
    maximum = max((value(r) for r in rows), default=0)
    label = "leads assigned" if measure == "volume" else "SLA breaches"
    if not rows:
        return (f'<svg class="chart map" id="{element_id}" viewBox="0 0 400 60" width="400" height="60">'
                '<text x="10" y="35" font-size="13" fill="#667085">no territory with a polygon in the active set</text></svg>')
    parts: list[Any] = []
    owner: list[int] = []
    for n, r in enumerate(rows):
        geometry = model.geometries[r.territory_id]
        for part in getattr(geometry, "geoms", [geometry]):
            if isinstance(part, Polygon) and not part.is_empty:
                parts.append(part)
                owner.append(n)
    clusters = _clusters(parts)
    largest_part: dict[int, int] = {}
    for i, n in enumerate(owner):
        if n not in largest_part or parts[i].area > parts[largest_part[n]].area:
            largest_part[n] = i
    main_area = sum(parts[i].area for i in clusters[0])
    carriers = set(largest_part.values())
    # insets: frames holding some territory's main piece, or big enough to matter; tiny far islands are left out
    insets = [c for c in clusters[1:] if carriers & set(c) or sum(parts[i].area for i in c) >= 0.001 * main_area]
    frames = [clusters[0], *insets[:MAX_INSETS]]
    main = _Projection([parts[i] for i in frames[0]])
    width, height = main.width, main.height
    out_paths: list[str] = []
    out_labels: list[str] = []
    labelled: set[int] = set()
    # the largest part of each territory, among the drawn frames, carries its label
    best: dict[int, int] = {}
    for frame in frames:
        for i in frame:
            if owner[i] not in best or parts[i].area > parts[best[owner[i]]].area:
                best[owner[i]] = i
    inset_x = 6.0
    for f, frame in enumerate(frames):
        proj = main if f == 0 else _Projection([parts[i] for i in frame])
        scale, dx, dy = 1.0, 0.0, 0.0
        if f:
            scale = min(width * 0.2 / proj.width, height * 0.24 / proj.height)
            dx, dy = inset_x, height - proj.height * scale - 6
            inset_x += proj.width * scale + 8
            out_paths.append(f'<g class="inset" transform="translate({dx:.1f},{dy:.1f}) scale({scale:.4f})">'
                             f'<rect width="{proj.width:.0f}" height="{proj.height:.0f}" fill="#f4f7fa" stroke="#d0d5dd" '
                             'vector-effect="non-scaling-stroke"/>')
        out_paths.append(context_svg(proj, layers=("land",)))
        by_owner: dict[int, list[Any]] = {}
        for i in frame:
            by_owner.setdefault(owner[i], []).append(parts[i])
        for n, polys in by_owner.items():
            r = rows[n]
            d = proj.path(MultiPolygon(polys) if len(polys) > 1 else polys[0])
            if not d:
                continue
            v = value(r)
            tip = (f"{r.name} ({r.territory_id}): {v} {label}; {r.volume} assigned, breach rate {_pct(r.breach_rate)}, "
                   f"time to first touch {_fmt_duration(r.ttft_avg_s)}")
            out_paths.append(
                f'<path class="territory" data-id="{esc(r.territory_id)}" data-value="{v}" '
                f'fill="{_shade(v, maximum, low, high)}" stroke="#ffffff" stroke-width="0.8" '
                f'vector-effect="non-scaling-stroke" fill-rule="evenodd" d="{d}"><title>{esc(tip)}</title></path>'
            )
            if best.get(n) is not None and best[n] in set(frame) and n not in labelled:
                labelled.add(n)
                x, y = proj.point(parts[best[n]])
                out_labels.append(
                    f'<text x="{dx + x * scale:.1f}" y="{dy + y * scale:.1f}" paint-order="stroke" stroke="#ffffff" '
                    f'stroke-width="2.5">{esc(r.name)}: {v}</text>'
                )
        out_paths.append(context_svg(proj, layers=("states",) if f else ("states", "labels"), font_scale=1.6))
        if f:
            out_paths.append("</g>")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart map" id="{element_id}" '
        f'viewBox="0 0 {width:.0f} {height + 34:.0f}" width="{width:.0f}" height="{height + 34:.0f}" '
        f'role="img" aria-label="territories shaded by {label}">',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#f4f7fa"/>',
        '<g class="territories">', *out_paths, "</g>",
        '<g class="labels" font-size="19" text-anchor="middle" fill="#101828">', *out_labels, "</g>",
    ]
    y0 = height + 8
    steps = 10
    for i in range(steps):
        out.append(f'<rect x="{10 + i * 24}" y="{y0:.0f}" width="24" height="12" '
                   f'fill="{_shade(maximum * (i + 0.5) / steps, maximum, low, high)}"/>')
    out.append(
        f'<text x="10" y="{y0 + 26:.0f}" font-size="15" fill="#475467">0</text>'
        f'<text x="{10 + steps * 24}" y="{y0 + 26:.0f}" font-size="15" text-anchor="end" fill="#475467">{maximum}</text>'
        f'<text x="{20 + steps * 24}" y="{y0 + 12:.0f}" font-size="16" fill="#475467">{esc(label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------------------ charts

W, H = 560, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 12, 34


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _axes(days: Sequence[str], y_max: float, y_label) -> list[str]:
    out = []
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        v = y_max * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaecf0"/>')
        out.append(f'<text x="{PAD_L - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end" fill="#667085">{esc(y_label(v))}</text>')
    n = len(days)
    step = max(1, math.ceil(n / 8))
    slot = (W - PAD_L - PAD_R) / max(n, 1)
    for i, day in enumerate(days):
        if i % step == 0 or i == n - 1:
            x = PAD_L + slot * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{H - PAD_B + 14}" font-size="10" text-anchor="middle" fill="#667085">{day[5:]}</text>')
    return out


def _series_territories(model: ReportModel) -> tuple[list[TerritoryRow], list[TerritoryRow]]:
    busy = [r for r in model.territories if r.volume or r.counters]
    return busy[:TOP_SERIES], busy[TOP_SERIES:]


def _colours(model: ReportModel) -> dict[str, str]:
    return {r.territory_id: territory_colour(i) for i, r in enumerate(model.territories)} | {OTHER: "#98a2b3"}


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(
        f'<span class="swatch" style="background:{c}"></span>{esc(label)}' for label, c in entries
    ) + "</div>"


def render_volume_chart(model: ReportModel) -> str:
    """Leads assigned per day, stacked by territory."""
    top, rest = _series_territories(model)
    colours = _colours(model)
    series = [(r.name, colours[r.territory_id], [model.daily_value(d, r.territory_id, agg.ASSIGNED) for d in model.days]) for r in top]
    if rest:
        series.append(("other", colours[OTHER], [sum(model.daily_value(d, r.territory_id, agg.ASSIGNED) for r in rest) for d in model.days]))
    totals = [sum(s[2][i] for s in series) for i in range(len(model.days))]
    y_max = _nice_max(max(totals, default=0))
    plot_h = H - PAD_T - PAD_B
    slot = (W - PAD_L - PAD_R) / max(len(model.days), 1)
    bar_w = max(2.0, slot * 0.7)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-volume" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="leads assigned per day by territory">']
    out += _axes(model.days, y_max, lambda v: f"{v:.0f}")
    for i, day in enumerate(model.days):
        y = PAD_T + plot_h
        x = PAD_L + slot * i + (slot - bar_w) / 2
        for label, colour, values in series:
            v = values[i]
            if not v:
                continue
            h = plot_h * v / y_max
            y -= h
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                       f'<title>{esc(day)} {esc(label)}: {v}</title></rect>')
    out.append("</svg>")
    return "".join(out) + _legend([(s[0], s[1]) for s in series])


def render_ttft_chart(model: ReportModel) -> str:
    """Average time to first touch per territory per day, one line per territory (seconds, minutes or hours)."""
    top, _rest = _series_territories(model)
    colours = _colours(model)
    series = []
    for r in top:
        values = []
        for d in model.days:
            count = model.daily_value(d, r.territory_id, agg.TTFT_COUNT)
            values.append(model.daily_value(d, r.territory_id, agg.TTFT_SUM) / count if count else None)
        if any(v is not None for v in values):
            series.append((r.name, colours[r.territory_id], values))
    longest = max((v for s_ in series for v in s_[2] if v is not None), default=0)
    unit, per = ("s", 1) if longest < 120 else (("min", 60) if longest < 7200 else ("h", 3600))
    series = [(name, colour, [None if v is None else v / per for v in values]) for name, colour, values in series]
    y_max = _nice_max(longest / per)
    plot_h = H - PAD_T - PAD_B
    slot = (W - PAD_L - PAD_R) / max(len(model.days), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-ttft" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="time to first touch per territory per day">']
    out += _axes(model.days, y_max, lambda v: f"{v:.0f} {unit}" if y_max >= 8 else f"{v:.1f} {unit}")
    for label, colour, values in series:
        points = [(PAD_L + slot * (i + 0.5), PAD_T + plot_h - plot_h * v / y_max) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            out.append(f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), v in zip(points, [v for v in values if v is not None], strict=True):
            out.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{esc(label)}: {v:.1f} {unit}</title></circle>')
    if not series:
        out.append(f'<text x="{W / 2}" y="{H / 2}" font-size="12" text-anchor="middle" fill="#667085">no first touch in this period</text>')
    out.append("</svg>")
    return "".join(out) + _legend([(s[0], s[1]) for s in series])


def render_rep_load_chart(model: ReportModel) -> str:
    """Open leads now against capacity, one bar per rep (orange from 70%, red from 90%); two columns past 12 reps."""
    reps = [r for r in model.reps if r.in_roster]
    columns = 2 if len(reps) > 12 else 1
    per_column = math.ceil(len(reps) / columns) if reps else 0
    row_h = 16
    height = max(40, PAD_T + row_h * per_column + 8)
    width = W * columns
    label_w = 150
    plot_w = W - label_w - 60
    scale = max([r.rep.capacity or 0 for r in reps] + [r.rep.open_leads for r in reps] + [1])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-rep-load" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="open leads against capacity per rep">']
    for i, row in enumerate(reps):
        x0 = W * (i // per_column) if per_column else 0
        y = PAD_T + (i % per_column if per_column else 0) * row_h
        rep = row.rep
        cap = rep.capacity or 0
        ratio = row.load_ratio or 0.0
        colour = "#d92d20" if ratio >= 0.9 else ("#f79009" if ratio >= 0.7 else "#2e90fa")
        out.append(f'<text x="{x0 + label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end" fill="#344054">'
                   f'{esc(rep.name or rep.rep_id)}</text>')
        out.append(f'<rect x="{x0 + label_w}" y="{y + 2}" width="{plot_w * cap / scale:.1f}" height="{row_h - 5}" fill="#eaecf0"/>')
        out.append(f'<rect class="bar" x="{x0 + label_w}" y="{y + 2}" width="{plot_w * rep.open_leads / scale:.1f}" '
                   f'height="{row_h - 5}" fill="{colour}"><title>{esc(rep.name)}: {rep.open_leads} open of {cap} '
                   f'({_pct(row.load_ratio)}); {row.counters.get(agg.ASSIGNED, 0)} assigned in the period</title></rect>')
        out.append(f'<text x="{x0 + label_w + plot_w + 6}" y="{y + 11}" font-size="10" fill="#475467">{rep.open_leads}/{cap}</text>')
    if not reps:
        out.append('<text x="10" y="25" font-size="12" fill="#667085">no active roster</text>')
    out.append("</svg>")
    return "".join(out) + _legend([("open leads", "#2e90fa"), ("≥ 70%", "#f79009"), ("≥ 90%", "#d92d20"), ("capacity", "#eaecf0")])


# ------------------------------------------------------------------------------------------------ page


def _territory_table(model: ReportModel) -> str:
    head = ["territory", "name", "assigned", "kept owner", "re-routed", "escalated", "attended", "closed", "SLA breaches",
            "breach rate", "avg first touch", "fallback", "polygon", "nearest", "postal", "centroid", "state/country",
            "untagged", "located by"]
    rows = []
    for r in model.territories:
        c = r.counters
        rows.append([
            r.territory_id + ("" if r.in_active_set else " *"), r.name, c.get(agg.ASSIGNED, 0), c.get(agg.KEPT, 0),
            c.get(agg.REROUTED, 0),
            c.get(agg.ESCALATED, 0), c.get(agg.ATTENDED, 0), c.get(agg.CLOSED, 0), c.get(agg.SLA_BREACHES, 0),
            _pct(r.breach_rate), _fmt_duration(r.ttft_avg_s), c.get(agg.FALLBACK, 0), c.get("tag_POLYGON", 0),
            c.get("tag_NEAREST", 0), c.get("tag_POSTAL_CODE", 0),
            c.get("tag_POSTAL_CENTROID", 0) + c.get("tag_CITY_CENTROID", 0) + c.get("tag_GEOCODED", 0),
            c.get("tag_STATE", 0) + c.get("tag_COUNTRY", 0), c.get("tag_UNTAGGED", 0) + c.get("tag_CATCH_ALL", 0),
            _precision_text(r.precision_shares),
        ])
    return _table("table-territories", head, rows)


_PRECISION_WORDS = {"ROOFTOP": "rooftop", "POSTAL_CODE": "postal code", "CITY": "city", "STATE": "state",
                    "COUNTRY": "country", "NONE": "none"}  # fmt: skip


def _precision_text(shares: dict[str, float]) -> str:
    """``rooftop 80% · postal code 15% · city 5%``: the share of the territory's leads by precision."""
    return " · ".join(f"{_PRECISION_WORDS.get(p, p)} {_pct(v)}" for p, v in shares.items()) or "–"


def _rep_table(model: ReportModel) -> str:
    head = ["rep", "id", "open now", "capacity", "load", "assigned", "kept own", "re-routed to", "missed", "attended",
            "late", "avg first touch"]
    rows = []
    for r in model.reps:
        c = r.counters
        rows.append([
            (r.rep.name or r.rep.rep_id) + ("" if r.in_roster else " *"), r.rep.rep_id, r.rep.open_leads,
            "–" if r.rep.capacity is None else r.rep.capacity, _pct(r.load_ratio), c.get(agg.ASSIGNED, 0),
            c.get(agg.KEPT, 0),
            c.get(agg.REROUTED_IN, 0), c.get(agg.MISSED, 0), c.get(agg.ATTENDED, 0), c.get(agg.ATTENDED_LATE, 0),
            _fmt_duration(r.ttft_avg_s),
        ])
    return _table("table-reps", head, rows)


def _table(element_id: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = [f'<table id="{element_id}"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_report_html(model: ReportModel, *, title: str = "Territory performance") -> str:
    t = model.totals
    assigned = t.get(agg.ASSIGNED, 0)
    cards = [
        ("leads assigned", f"{assigned}"),
        ("kept by their owner", f"{t.get(agg.KEPT, 0)}"),
        ("re-routed", f"{t.get(agg.REROUTED, 0)}"),
        ("escalated", f"{t.get(agg.ESCALATED, 0)}"),
        ("first touches", f"{t.get(agg.ATTENDED, 0)}"),
        ("SLA breaches", f"{t.get(agg.SLA_BREACHES, 0)}"),
        ("breach rate", _pct(t.get(agg.SLA_BREACHES, 0) / assigned if assigned else None)),
        ("avg time to first touch", _fmt_duration(model.ttft_avg_s)),
        ("to fallback owner", f"{t.get(agg.FALLBACK, 0)}"),
    ]
    period = f"{model.start.isoformat()} to {model.end.isoformat()} (UTC days)"
    version = f", territory set {esc(model.territory_version)}" if model.territory_version else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}: {esc(period)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<div class="muted">{esc(period)}{version}; generated {esc(model.generated_at.strftime("%Y-%m-%d %H:%M UTC"))}. '
        'Same data: <a href="report.json">report.json</a>, <a href="territories.csv">territories.csv</a>, '
        '<a href="reps.csv">reps.csv</a>, <a href="daily.csv">daily.csv</a>.</div>',
        '<div id="summary">' + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in cards) + "</div>",
        '<div class="row">',
        f'<div class="panel"><h3>Leads assigned by territory</h3>{render_map_svg(model, measure="volume", element_id="map-volume")}</div>',
        f'<div class="panel"><h3>SLA breaches by territory</h3>{render_map_svg(model, measure="breaches", element_id="map-breaches")}</div>',
        "</div>",
        '<div class="row">',
        f'<div class="panel"><h3>Leads assigned per day</h3>{render_volume_chart(model)}</div>',
        f'<div class="panel"><h3>Time to first touch per day (average)</h3>{render_ttft_chart(model)}</div>',
        "</div>",
        '<div class="row">',
        f'<div class="panel"><h3>Rep load now: open leads against capacity</h3>{render_rep_load_chart(model)}</div>',
        "</div>",
        "<h2>Territories</h2>",
        _territory_table(model),
        '<div class="muted">* not in the active territory set (a retired territory, or "(none)": leads no territory matched)</div>',
        "<h2>Reps</h2>",
        _rep_table(model),
        '<div class="muted">* not in the active roster. "re-routed to": leads received from a rep who missed the SLA; '
        '"missed": leads taken away after the rep missed the SLA; "late": first touch after the SLA was due.</div>',
        "</body></html>",
    ]
    return "\n".join(parts)
