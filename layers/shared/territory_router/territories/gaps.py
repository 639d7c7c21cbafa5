"""Ground no territory covers: inside a coverage boundary when one is given, else the holes the polygons enclose."""

from __future__ import annotations

from collections.abc import Sequence

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from territory_router.domain.territory import Territory
from territory_router.territories import geo
from territory_router.territories.overlaps import count_points, leads_array
from territory_router.territories.report import MIN_GAP_KM2, Gap


def uncovered(territories: Sequence[Territory], coverage: BaseGeometry | None = None) -> BaseGeometry | None:
    """The uncovered area as one lon/lat geometry (None when there is nothing to measure)."""
    geoms = [t.geometry for t in territories if t.geometry is not None]
    if coverage is not None:
        if not geoms:
            return coverage
        return coverage.difference(shapely.union_all(geoms))
    if not geoms:
        return None
    union = shapely.union_all(geoms)
    holes = []
    for poly in getattr(union, "geoms", [union]):
        if isinstance(poly, Polygon):
            holes.extend(Polygon(ring) for ring in poly.interiors)
    if not holes:
        return None
    return shapely.union_all(holes).difference(union)


def find_gaps(
    territories: Sequence[Territory],
    *,
    coverage: BaseGeometry | None = None,
    leads: Sequence[tuple[float, float]] | None = None,
    limit: int = 20,
    min_area_km2: float = MIN_GAP_KM2,
) -> list[Gap]:
    """The largest uncovered areas (at most ``limit``), largest first."""
    rest = geo.polygonal_part(uncovered(territories, coverage))
    if rest is None:
        return []
    leads_xy = leads_array(leads)
    measured = []
    for part in getattr(rest, "geoms", [rest]):
        area = geo.area_km2(part)
        if area >= min_area_km2:
            measured.append((area, part))
    measured.sort(key=lambda item: -item[0])
    return [
        Gap(
            area_km2=area,
            centroid=geo.representative_lonlat(part),
            bbox=geo.rounded_bbox(part),
            leads=count_points(part, leads_xy),
            geometry=part,
        )
        for area, part in measured[:limit]
    ]
