"""Geometry checks of one uploaded feature: its raw coordinates, then its shapely geometry, safely repaired.

The raw coordinates are checked first so the admin hears what is wrong in their terms ("polygon 2 ring 3 is not
closed", "latitude/longitude look swapped", "crosses the antimeridian") rather than a generic GEOS message; then
the polygon's topology (``make_valid`` when repairs are allowed). Issues go to a ``Checker``; the rest of a feature
(id, priority, postal codes, regions, blocks) and the set as a whole are ``territories.validate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from territory_router.territories import geo
from territory_router.territories.report import Checker, ValidationOptions


def _fmt_point(p: Sequence[float]) -> str:
    return f"[{p[0]:.5f}, {p[1]:.5f}]"


def _ring_array(ring: Any) -> np.ndarray | None:
    """(N,2) float array of a raw ring, or None if it is not a list of numeric positions."""
    if not isinstance(ring, (list, tuple)):
        return None
    out = []
    for pos in ring:
        if not isinstance(pos, (list, tuple)) or len(pos) < 2:
            return None
        x, y = pos[0], pos[1]
        if (
            isinstance(x, bool)
            or isinstance(y, bool)
            or not isinstance(x, (int, float))
            or not isinstance(y, (int, float))
        ):
            return None
        out.append((float(x), float(y)))
    return np.array(out, dtype=float).reshape(-1, 2)


def _parts_of(geometry: dict[str, Any], check: Checker) -> list[list[Any]] | None:
    """The polygons (each a list of raw rings) of a GeoJSON-like geometry, or None after an ERROR."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "GeometryCollection":
        members = geometry.get("geometries") or []
        parts: list[list[Any]] = []
        others = set()
        for member in members:
            if isinstance(member, dict) and member.get("type") in ("Polygon", "MultiPolygon"):
                sub = _parts_of(member, check)
                if sub is None:
                    return None
                parts.extend(sub)
            elif isinstance(member, dict):
                others.add(str(member.get("type")))
        if others and parts:
            check.warn(
                f"ignored non-polygon members of the GeometryCollection ({', '.join(sorted(others))})",
                "ignored_members",
            )
        if not parts:
            check.error("empty geometry: the GeometryCollection holds no Polygon", "empty_geometry")
            return None
        return parts
    if kind not in ("Polygon", "MultiPolygon"):
        check.error(
            f"geometry is a {kind}, not a Polygon or MultiPolygon (a territory needs an area)", "not_polygon"
        )
        return None
    if coords is None or (isinstance(coords, list) and not coords):
        check.error("empty geometry: no coordinates", "empty_geometry")
        return None
    if not isinstance(coords, list):
        check.error("malformed coordinates: expected nested lists of [lon, lat]", "malformed_coordinates")
        return None
    return [coords] if kind == "Polygon" else coords


def check_geometry(
    geometry: dict[str, Any], check: Checker, options: ValidationOptions
) -> BaseGeometry | None:
    """Validate and (safely) repair one raw geometry. Issues go to ``check``; returns None after an ERROR."""
    parts = _parts_of(geometry, check)
    if parts is None:
        return None

    # 1. structure: every ring a list of numeric positions
    arrays: list[list[np.ndarray]] = []
    for p_index, part in enumerate(parts, start=1):
        if not isinstance(part, list):
            check.error(
                f"malformed coordinates in polygon {p_index}: expected a list of rings",
                "malformed_coordinates",
            )
            return None
        rings = []
        for r_index, ring in enumerate(part, start=1):
            arr = _ring_array(ring)
            if arr is None:
                check.error(
                    f"malformed coordinates in polygon {p_index} ring {r_index}: expected a list of [lon, lat] numbers",
                    "malformed_coordinates",
                )
                return None
            rings.append(arr)
        arrays.append(rings)
    flat = [r for rings in arrays for r in rings if len(r)]
    if not flat:
        check.error("empty geometry: no coordinates", "empty_geometry")
        return None
    allpts = np.concatenate(flat)

    # 2. numbers: finite, in range, not swapped
    if not np.isfinite(allpts).all():
        check.error("coordinates contain NaN or infinity", "non_finite")
        return None
    lon, lat = allpts[:, 0], allpts[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        if (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all():
            bad = allpts[np.argmax(np.abs(lat))]
            check.error(
                f"latitude/longitude look swapped: {_fmt_point(bad)} has |latitude| > 90 but would be valid as "
                "[lat, lon]; GeoJSON and KML order is [longitude, latitude]",
                "swapped_lat_lon",
            )
        else:
            idx = int(np.argmax(np.maximum(np.abs(lon) - 180, np.abs(lat) - 90)))
            check.error(
                f"coordinates out of range: {_fmt_point(allpts[idx])} (longitude must be within ±180, "
                "latitude within ±90; is the file in a projected coordinate system instead of WGS84?)",
                "out_of_range",
            )
        return None

    # Swapped but still in range (e.g. New York as [40.7, -74.0]): the polygon lands in the Southern Ocean or
    # Antarctica, where no sales territory lives, while [lat, lon] would be a real place.
    if (lat < -60).all() and (np.abs(lon) <= 90).all():
        check.error(
            f"latitude/longitude look swapped: every point is south of 60°S (e.g. {_fmt_point(allpts[0])}), "
            "but read as [lat, lon] they would be at "
            f"lat {allpts[0][0]:.3f}, lon {allpts[0][1]:.3f}; GeoJSON and KML order is [longitude, latitude]",
            "swapped_lat_lon",
        )
        return None

    # 3. antimeridian: consecutive points more than 180° apart in longitude
    for p_index, rings in enumerate(arrays, start=1):
        for r_index, ring in enumerate(rings, start=1):
            if len(ring) > 1:
                jumps = np.abs(np.diff(ring[:, 0]))
                if (jumps > 180).any():
                    j = int(np.argmax(jumps))
                    check.error(
                        f"polygon {p_index} ring {r_index} crosses the antimeridian (longitude jumps "
                        f"{jumps[j]:.1f}° between {_fmt_point(ring[j])} and {_fmt_point(ring[j + 1])}); "
                        "split it at ±180° into a MultiPolygon",
                        "antimeridian",
                    )
                    return None

    # 4. rings: closed, enough distinct points; drop degenerate parts when something remains
    polygons: list[Polygon] = []
    many = len(arrays) > 1
    for p_index, rings in enumerate(arrays, start=1):
        where = f"polygon {p_index} " if many else ""
        shell: np.ndarray | None = None
        holes: list[np.ndarray] = []
        for r_index, ring in enumerate(rings, start=1):
            what = f"{where}{'outer ring' if r_index == 1 else f'hole {r_index - 1}'}"
            if len(ring) and not np.array_equal(ring[0], ring[-1]):
                check.warn(
                    f"{what} is not closed (first point {_fmt_point(ring[0])} != last point "
                    f"{_fmt_point(ring[-1])}); closed it",
                    "unclosed_ring",
                )
                ring = np.vstack([ring, ring[:1]])
            distinct = _distinct_count(ring)
            if distinct < 3:
                if r_index == 1:
                    shell = None
                    reason = (
                        f"{what} has too few points ({distinct} distinct, a ring needs at least 3 distinct "
                        "points and 4 positions)"
                    )
                    if many:
                        check.warn(f"{reason}; dropped that degenerate part", "degenerate_ring")
                    else:
                        check.error(reason, "too_few_points")
                        return None
                    break
                check.warn(
                    f"{what} has too few points ({distinct} distinct); dropped that hole", "degenerate_ring"
                )
                continue
            if r_index == 1:
                shell = ring
            else:
                holes.append(ring)
        if shell is not None:
            polygons.append(Polygon(shell, holes))
    if not polygons:
        check.error("too few points: every ring of the geometry is degenerate", "too_few_points")
        return None
    shape: BaseGeometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)

    # 5. topology: self-intersections, bad holes... repaired with make_valid when allowed
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        if not options.repair:
            check.error(f"invalid geometry: {_readable_reason(reason)}", "invalid_geometry")
            return None
        repaired = geo.polygonal_part(shapely.make_valid(shape))
        if repaired is None or repaired.is_empty or repaired.area == 0:
            check.error(
                f"invalid geometry: {_readable_reason(reason)}, and repairing it leaves no area",
                "invalid_geometry",
            )
            return None
        check.warn(
            f"invalid geometry: {_readable_reason(reason)}; repaired with make_valid "
            f"(area {geo.area_km2(repaired):,.1f} km²)",
            "repaired_geometry",
        )
        shape = repaired
    if shape.area == 0:
        check.error("empty geometry: the polygon has no area", "empty_geometry")
        return None
    return shape


def _distinct_count(ring: np.ndarray) -> int:
    if len(ring) == 0:
        return 0
    return len(np.unique(ring, axis=0))


def _readable_reason(reason: str) -> str:
    """GEOS reasons with lon/lat made explicit: "Self-intersection[-75.1 39.6]" -> "self-intersection at ..."."""
    text, _, rest = reason.partition("[")
    text = text.strip()
    if rest:
        coords = rest.rstrip("]").split()
        if len(coords) >= 2:
            try:
                return f"{text.lower()} at lon {float(coords[0]):.5f}, lat {float(coords[1]):.5f}"
            except ValueError:
                pass
    return text.lower()
