"""Geodesy helpers in pure numpy + shapely: equal-area areas in km², distances, bounding boxes.

Areas are computed by projecting a lon/lat geometry to a Lambert azimuthal equal-area projection (on the
authalic sphere) centred on the geometry itself, so every polygon is measured where its distortion of shape
is smallest while its area is exact. No pyproj needed.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_KM = 6371.0072  # radius of the sphere with the WGS84 ellipsoid's area (authalic)
# Edges are straight in lon/lat (that is what point-in-polygon tests see); long edges are densified before
# projecting so that they keep that shape on the equal-area plane (a 4-vertex 10° box is otherwise off by ~1%).
DENSIFY_DEGREES = 0.25


def laea_transform(lon0: float, lat0: float):
    """Return a vectorised function (N,2) lon/lat degrees -> (N,2) km in LAEA centred on (lon0, lat0)."""
    phi0 = math.radians(lat0)
    lam0 = math.radians(lon0)
    sin_phi0 = math.sin(phi0)
    cos_phi0 = math.cos(phi0)

    def project(coords: np.ndarray) -> np.ndarray:
        lam = np.radians(coords[:, 0]) - lam0
        phi = np.radians(coords[:, 1])
        sin_phi = np.sin(phi)
        cos_phi = np.cos(phi)
        cos_lam = np.cos(lam)
        denom = 1.0 + sin_phi0 * sin_phi + cos_phi0 * cos_phi * cos_lam
        # The antipode of the centre (denom == 0) cannot be projected; territories never span a hemisphere.
        k = np.sqrt(2.0 / np.maximum(denom, 1e-12))
        x = EARTH_RADIUS_KM * k * cos_phi * np.sin(lam)
        y = EARTH_RADIUS_KM * k * (cos_phi0 * sin_phi - sin_phi0 * cos_phi * cos_lam)
        return np.column_stack([x, y])

    return project


def project_equal_area(geometry: BaseGeometry, centre: tuple[float, float] | None = None) -> BaseGeometry:
    """The geometry in km on a Lambert azimuthal equal-area plane (centred on its bbox unless ``centre``)."""
    if centre is None:
        minx, miny, maxx, maxy = geometry.bounds
        centre = ((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    return shapely.transform(geometry, laea_transform(*centre))


def area_km2(geometry: BaseGeometry | None) -> float:
    """Equal-area size of a lon/lat (multi)polygon in km² (0 for empty or non-areal geometries)."""
    if geometry is None or geometry.is_empty:
        return 0.0
    return float(project_equal_area(shapely.segmentize(geometry, DENSIFY_DEGREES)).area)


def areas_km2(geometries) -> np.ndarray:
    """``area_km2`` for many geometries."""
    return np.array([area_km2(g) for g in geometries], dtype=float)


def rounded_bbox(geometry: BaseGeometry, ndigits: int = 5) -> list[float]:
    return [round(v, ndigits) for v in geometry.bounds]


def representative_lonlat(geometry: BaseGeometry, ndigits: int = 5) -> list[float]:
    """A point inside the geometry (its centroid when that is inside), as ``[lon, lat]``."""
    centroid = geometry.centroid
    point = centroid if geometry.contains(centroid) else geometry.representative_point()
    return [round(point.x, ndigits), round(point.y, ndigits)]


def polygonal_part(geometry: BaseGeometry | None) -> BaseGeometry | None:
    """Only the polygons of a geometry (``make_valid`` may return lines/points next to the polygons)."""
    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        polys = []
        for part in geometry.geoms:
            sub = polygonal_part(part)
            if sub is not None:
                polys.extend(getattr(sub, "geoms", [sub]))
        if not polys:
            return None
        return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
    return None
