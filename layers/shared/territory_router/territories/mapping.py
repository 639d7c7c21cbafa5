"""One self-contained HTML map of a territory set: inline SVG, no scripts from anywhere, no network requests.

Layers (SVG ``<g>`` ids or classes, bottom to top): ``context-land`` (countries), ``blocks`` (the faint outlines of the building
blocks of block territories), ``territories`` (slightly transparent), ``context-states`` (state outlines),
``labels``, ``context-labels`` (country and state names that fit), ``overlaps``, ``gaps``, ``leads``; plus an HTML
legend. The geographic context comes from ``context.py``.
The projection is equirectangular scaled by cos(mid latitude), computed here; geometry is simplified to
about one pixel so that even 3,000 counties stay a few MB.
"""

from __future__ import annotations

import colorsys
import html
import math
from collections.abc import Sequence

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from territory_router.domain.territory import Territory, TerritorySet
from territory_router.territories.report import Gap, Overlap, ValidationReport

WIDTH = 1000
MAX_HEIGHT = 760
MAX_LABELS = 400
MAX_LEGEND_ROWS = 300
_UNSET = object()


def territory_colour(index: int) -> str:
    """Distinct colours by the golden angle (hex, for SVG fill)."""
    hue = (index * 0.618033988749895) % 1.0
    light = 0.62 if index % 2 == 0 else 0.52
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.65)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _wrap_pacific(parts: list[BaseGeometry]) -> bool:
    """True when drawing eastern-hemisphere parts at lon - 360 makes the map much narrower.

    US data (Guam, the Aleutians west of 180°) otherwise spans the whole globe. Only parts entirely east of
    the prime meridian move, so nothing is cut.
    """
    if not parts:
        return False
    bounds = shapely.bounds(parts)
    minx, maxx = bounds[:, 0].min(), bounds[:, 2].max()
    shifted_min = [b[0] - 360 if b[0] >= 0 else b[0] for b in bounds]
    shifted_max = [b[2] - 360 if b[0] >= 0 else b[2] for b in bounds]
    return (max(shifted_max) - min(shifted_min)) < 0.6 * (maxx - minx)


class _Projection:
    def __init__(self, extent: list[BaseGeometry]) -> None:
        parts = [p for g in extent for p in getattr(g, "geoms", [g]) if not p.is_empty]
        self.wrap = _wrap_pacific(parts)
        if parts:
            minx, miny, maxx, maxy = shapely.bounds(
                shapely.GeometryCollection([self._shift(p) for p in parts])
            ).tolist()
        else:
            minx, miny, maxx, maxy = (-125.0, 24.0, -66.0, 50.0)
        if maxx - minx < 1e-6:
            minx, maxx = minx - 0.5, maxx + 0.5
        if maxy - miny < 1e-6:
            miny, maxy = miny - 0.5, maxy + 0.5
        pad_x, pad_y = (maxx - minx) * 0.03, (maxy - miny) * 0.03
        self.minx, self.maxx = minx - pad_x, maxx + pad_x
        self.miny, self.maxy = max(-90.0, miny - pad_y), min(90.0, maxy + pad_y)
        self.kx = max(0.05, math.cos(math.radians((self.miny + self.maxy) / 2)))
        span_x = (self.maxx - self.minx) * self.kx
        span_y = self.maxy - self.miny
        self.scale = min(WIDTH / span_x, MAX_HEIGHT / span_y)
        self.width = span_x * self.scale
        self.height = span_y * self.scale
        # degrees per pixel, to simplify geometry to what can be seen
        self.tolerance = 0.7 / self.scale

    def _shift(self, part: BaseGeometry) -> BaseGeometry:
        if self.wrap and part.bounds[0] >= 0:
            return shapely.transform(part, lambda c: c - [360.0, 0.0])
        return part

    def lon(self, lon: float) -> float:
        return lon - 360.0 if self.wrap and lon > 0 else lon

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Pixel position of a point (points east of 0° move west with the Pacific wrap)."""
        return self._xy(self.lon(lon), lat)

    def _xy(self, lon: float, lat: float) -> tuple[float, float]:
        return ((lon - self.minx) * self.kx * self.scale, (self.maxy - lat) * self.scale)

    def point(self, geometry: BaseGeometry) -> tuple[float, float]:
        """Pixel position of a label point of ``geometry`` (in the same wrap as its part)."""
        part = self._shift(geometry)
        p = part.representative_point()
        return self._xy(p.x, p.y)

    def box(self, geometry: BaseGeometry) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self._shift(geometry).bounds
        x0, y0 = self._xy(minx, maxy)
        x1, y1 = self._xy(maxx, miny)
        return x0, y0, x1, y1

    def path(self, geometry: BaseGeometry) -> str:
        simple = shapely.simplify(geometry, self.tolerance, preserve_topology=True)
        parts = []
        for poly in getattr(simple, "geoms", [simple]):
            if not isinstance(poly, Polygon) or poly.is_empty:
                continue
            poly = self._shift(poly)
            for ring in (poly.exterior, *poly.interiors):
                coords = ring.coords
                if len(coords) < 3:
                    continue
                pts = [self._xy(x, y) for x, y, *_ in coords]
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        return "".join(parts)


def _unpack(source) -> tuple[list[Territory], list[Overlap], list[Gap], str]:
    if isinstance(source, ValidationReport):
        verdict = source.summary()
        return list(source.territories), list(source.overlaps), list(source.gaps), verdict
    if isinstance(source, TerritorySet):
        return list(source.territories), [], [], f"{len(source.territories)} territories"
    territories = list(source)
    return territories, [], [], f"{len(territories)} territories"


def render_map_html(
    territory_set_or_report: TerritorySet | ValidationReport | Sequence[Territory],
    *,
    overlaps: Sequence[Overlap] | None = _UNSET,  # type: ignore[assignment]
    gaps: Sequence[Gap] | None = _UNSET,  # type: ignore[assignment]
    leads: Sequence[tuple[float, float]] | None = None,
    title: str = "",
    blocks: Sequence[BaseGeometry] | None = _UNSET,  # type: ignore[assignment]
    context: bool = True,
) -> str:
    """The HTML page. ``leads`` are ``(lon, lat)`` points. Overlaps/gaps default to the report's; ``blocks``
    (outlines drawn faintly under the territories) default to the building blocks of block territories."""
    territories, report_overlaps, report_gaps, verdict = _unpack(territory_set_or_report)
    overlaps = report_overlaps if overlaps is _UNSET else list(overlaps or [])
    gaps = report_gaps if gaps is _UNSET else list(gaps or [])
    leads = list(leads or [])
    title = title or "Territory map"

    extent: list[BaseGeometry] = [t.geometry for t in territories if t.geometry is not None]
    extent += [g.geometry for g in gaps if g.geometry is not None]
    extent += [shapely.Point(lon, lat) for lon, lat in leads]
    proj = _Projection(extent)

    colours = {t.territory_id: territory_colour(i) for i, t in enumerate(territories)}
    if blocks is _UNSET:
        blocks = []
        if any("blocks" in t.metadata for t in territories):
            from territory_router.territories.blocks import block_outlines

            blocks = block_outlines(territories)
    esc = html.escape
    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="map" viewBox="0 0 {proj.width:.0f} {proj.height:.0f}" '
        f'width="{proj.width:.0f}" height="{proj.height:.0f}" role="img" aria-label="{esc(title)}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ff0000" fill-opacity="0.35"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#b00000" stroke-width="3"/></pattern></defs>',
        f'<rect x="0" y="0" width="{proj.width:.0f}" height="{proj.height:.0f}" fill="#eef3f7"/>',
    ]
    if context:
        from territory_router.territories.context import context_svg

        svg.append(context_svg(proj, layers=("land",)))
    svg.append('<g id="blocks" fill="none" stroke="#1a1a1a" stroke-opacity="0.22" stroke-width="0.4">')
    for shape in blocks or []:
        d = proj.path(shape)
        if d:
            svg.append(f'<path class="block" d="{d}"/>')
    svg.append("</g>")
    svg.append('<g id="territories" stroke="#ffffff" stroke-width="0.6" fill-rule="evenodd" fill-opacity="0.8">')
    # Draw in reverse precedence so the winner of an overlap is painted on top.
    for t in reversed(territories):
        if t.geometry is None:
            continue
        d = proj.path(t.geometry)
        if not d:
            continue
        tip = f"{t.territory_id} — {t.name}"
        if t.priority is not None:
            tip += f" (priority {t.priority})"
        if t.area_km2 is not None:
            tip += f", {t.area_km2:,.0f} km²"
        svg.append(
            f'<path class="territory" data-id="{esc(t.territory_id)}" fill="{colours[t.territory_id]}" '
            f'd="{d}"><title>{esc(tip)}</title></path>'
        )
    svg.append("</g>")
    if context:
        svg.append(context_svg(proj, layers=("states",)))

    svg.append('<g id="labels" font-family="sans-serif" text-anchor="middle" fill="#1a1a1a">')
    labelled = 0
    for t in territories:
        if t.geometry is None or labelled >= MAX_LABELS:
            continue
        largest = max(getattr(t.geometry, "geoms", [t.geometry]), key=lambda p: p.area)
        x0, y0, x1, y1 = proj.box(largest)
        size = min(x1 - x0, y1 - y0)
        if size < 14 and len(territories) > 60:
            continue  # too small to carry a readable label (the tooltip still names it)
        x, y = proj.point(largest)
        font = max(7.0, min(13.0, size / 4))
        svg.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{font:.0f}" paint-order="stroke" stroke="#ffffff" '
            f'stroke-width="2">{esc(t.name or t.territory_id)}</text>'
        )
        labelled += 1
    svg.append("</g>")

    if context:
        svg.append(context_svg(proj, layers=("labels",)))

    svg.append('<g id="overlaps" fill="url(#hatch)" stroke="#b00000" stroke-width="1.2" fill-rule="evenodd">')
    for ov in overlaps:
        if ov.geometry is None:
            continue
        d = proj.path(ov.geometry)
        if not d:
            x, y = proj.point(ov.geometry)
            d = f"M{x - 3:.1f},{y - 3:.1f}h6v6h-6Z"  # tiny overlaps still get a visible marker
        tip = f"overlap {ov.a} / {ov.b}: {ov.area_km2:,.2f} km² — {ov.resolution}"
        if ov.leads is not None:
            tip += f", {ov.leads} leads"
        svg.append(f'<path class="overlap" d="{d}"><title>{esc(tip)}</title></path>')
    svg.append("</g>")

    svg.append(
        '<g id="gaps" fill="#555555" fill-opacity="0.45" stroke="#000000" stroke-dasharray="4 2" '
        'stroke-width="1" fill-rule="evenodd">'
    )
    for gap in gaps:
        if gap.geometry is None:
            continue
        d = proj.path(gap.geometry)
        if d:
            tip = f"gap: {gap.area_km2:,.2f} km² around {gap.centroid}"
            svg.append(f'<path class="gap" d="{d}"><title>{esc(tip)}</title></path>')
    svg.append("</g>")

    svg.append('<g id="leads" fill="#111111" stroke="#ffffff" stroke-width="0.8">')
    for lon, lat in leads:
        x, y = proj.xy(lon, lat)
        svg.append(
            f'<circle class="lead" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{lat:.5f}, {lon:.5f}</title></circle>'
        )
    svg.append("</g></svg>")

    legend = [
        '<table id="legend"><thead><tr><th></th><th>id</th><th>name</th><th>priority</th><th>area km²</th>'
        "<th>postal codes / regions</th></tr></thead><tbody>"
    ]
    for t in territories[:MAX_LEGEND_ROWS]:
        swatch = colours[t.territory_id] if t.geometry is not None else "#ffffff"
        codes = []
        if t.postal_codes:
            codes.append(f"{len(t.postal_codes)} postal codes")
        if t.regions:
            regions = sorted(f"{c}-{s}" if s else c for c, s in t.regions)
            codes.append(", ".join(regions[:8]) + (" …" if len(regions) > 8 else ""))
        legend.append(
            f'<tr><td><span class="sw" style="background:{swatch}"></span></td><td>{esc(t.territory_id)}</td>'
            f"<td>{esc(t.name)}</td><td>{'' if t.priority is None else t.priority}</td>"
            f"<td>{'' if t.area_km2 is None else f'{t.area_km2:,.0f}'}</td><td>{esc('; '.join(codes))}</td></tr>"
        )
    if len(territories) > MAX_LEGEND_ROWS:
        legend.append(f'<tr><td colspan="6">… and {len(territories) - MAX_LEGEND_ROWS} more</td></tr>')
    legend.append("</tbody></table>")

    keys = (
        '<ul id="keys"><li><span class="sw" style="background:#ff000066;'
        f'border:1px solid #b00000"></span> overlaps ({len(overlaps)}): the winner paints on top</li>'
        '<li><span class="sw" style="background:#55555573;border:1px dashed #000"></span> '
        f"gaps ({len(gaps)})</li>"
        f'<li><span class="sw dot"></span> leads ({len(leads)})</li></ul>'
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:16px;color:#1a1a1a;background:#fff}"
        "h1{font-size:20px;margin:0 0 4px}p{margin:0 0 10px;color:#444}"
        "#map{border:1px solid #ccd;max-width:100%;height:auto}"
        "table{border-collapse:collapse;font-size:12px;margin-top:12px}"
        "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}"
        ".sw{display:inline-block;width:14px;height:14px;border:1px solid #999;vertical-align:middle}"
        ".dot{border-radius:50%;background:#111;width:8px;height:8px}"
        "#keys{list-style:none;padding:0;display:flex;gap:18px;font-size:13px}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{esc(title)}</title><style>{style}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(verdict)}</p>{keys}"
        + "".join(svg)
        + "".join(legend)
        + "</body></html>\n"
    )
