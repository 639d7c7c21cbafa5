"""Great-circle distances in km between a lead and a territory polygon (numpy + shapely, no pyproj).

The spatial tree works in degrees, which are not a distance: a degree of longitude is 111 km at the equator
and 39 km at 70° N. So the nearest-territory step asks the tree for candidates within a deliberately generous
box in degrees (:func:`degree_window`), then measures each candidate properly: the polygon is clipped to that
window, projected onto a local equirectangular plane centred on the lead (exact enough over tens of km), the
nearest boundary point is found there, and the distance to it is taken with the haversine formula.
Territories that cross the antimeridian are measured on the side of the lead only.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0  # ~111.195 km along a meridian


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km between two lon/lat points in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def degree_window(lat: float, km: float) -> tuple[float, float]:
    """Half sizes ``(dlon, dlat)`` in degrees of a box that holds every point within ``km`` of latitude ``lat``."""
    dlat = km / KM_PER_DEGREE * 1.01
    far_lat = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, dlat / max(math.cos(math.radians(far_lat)), 1e-6))
    return dlon, dlat


def nearest_distance_km(
    geometry: BaseGeometry, lon: float, lat: float, window_km: float
) -> tuple[float, float, float]:
    """``(km, lon, lat)`` of the point of ``geometry`` nearest to the lead. Only the part of the polygon inside
    the :func:`degree_window` of ``window_km`` is looked at: ``(inf, nan, nan)`` when that part is empty, and a
    distance somewhat above ``window_km`` can come back (the window is a box, not a circle)."""
    dlon, dlat = degree_window(lat, window_km)
    part = shapely.clip_by_rect(geometry, lon - dlon, lat - dlat, lon + dlon, lat + dlat)
    if part.is_empty:
        return math.inf, math.nan, math.nan
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)

    def to_local(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - lon) * cos_lat * KM_PER_DEGREE
        out[:, 1] = (coords[:, 1] - lat) * KM_PER_DEGREE
        return out

    local = shapely.transform(part, to_local)
    if shapely.intersects_xy(local, 0.0, 0.0):  # on or inside: distance 0
        return 0.0, lon, lat
    line = shapely.shortest_line(local, shapely.Point(0.0, 0.0))
    x, y = shapely.get_coordinates(line)[0]
    near_lon = lon + x / (cos_lat * KM_PER_DEGREE)
    near_lat = lat + y / KM_PER_DEGREE
    return haversine_km(lon, lat, near_lon, near_lat), near_lon, near_lat
