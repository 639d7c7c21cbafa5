"""Great-circle distances in km between a lead and a territory polygon (numpy + shapely, no pyproj).

The spatial tree works in degrees, which are not a distance: a degree of longitude is 111 km at the equator
and 39 km at 70° N. So the nearest-territory step asks the tree for candidates within a deliberately generous
radius in degrees (:func:`search_radius_deg`), then measures each candidate properly, many at once: every
boundary segment is projected onto a local equirectangular plane centred on the lead (exact enough over tens
of km), the nearest boundary point is found there, and the distance to it is taken with the haversine
formula of ``geography.distance`` (:class:`BoundarySegments`, pure numpy). Territories that cross the
antimeridian are measured on the side of the lead only.
"""

from __future__ import annotations

import numpy as np
import shapely

from territory_router.geography.distance import KM_PER_DEGREE, haversine_km_many


def search_radius_deg(lat: np.ndarray, km: float) -> np.ndarray:
    """Planar radius in degrees around points at latitudes ``lat`` that holds every point within ``km``."""
    dlat = km / KM_PER_DEGREE * 1.01
    far = np.minimum(89.9, np.abs(lat) + dlat)
    dlon = np.minimum(180.0, dlat / np.maximum(np.cos(np.radians(far)), 1e-6))
    # Every such point lies in the ellipse of semi-axes (dlon, dlat), hence in the circle of the larger one.
    return np.maximum(dlon, dlat)


class BoundarySegments:
    """Every boundary segment of a geometry array, flattened into numpy arrays once, so that the distance from
    many points to many polygons is pure numpy: :meth:`distance_km` needs no shapely object per pair."""

    def __init__(self, geometries: np.ndarray) -> None:
        lines = shapely.boundary(geometries)
        parts, part_geom = shapely.get_parts(lines, return_index=True)
        coords, coord_part = shapely.get_coordinates(parts, return_index=True)
        same = coord_part[:-1] == coord_part[1:]  # a segment joins two coordinates of the same line
        self.a = coords[:-1][same]
        self.b = coords[1:][same]
        seg_geom = part_geom[coord_part[:-1][same]]
        n = len(geometries)
        self.start = np.searchsorted(seg_geom, np.arange(n), side="left")
        self.end = np.searchsorted(seg_geom, np.arange(n), side="right")

    def distance_km(self, geom: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Pairwise great-circle km from ``(lon[i], lat[i])`` to the nearest boundary point of geometry
        ``geom[i]`` (``inf`` for a geometry without boundary)."""
        pairs = len(geom)
        out = np.full(pairs, np.inf)
        if pairs == 0:
            return out
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        counts = self.end[geom] - self.start[geom]
        total = int(counts.sum())
        if total == 0:
            return out
        pair_of = np.repeat(np.arange(pairs), counts)
        offsets = np.cumsum(counts) - counts
        seg = np.repeat(self.start[geom], counts) + (np.arange(total) - np.repeat(offsets, counts))
        cos_lat = np.maximum(np.cos(np.radians(lat)), 1e-6)
        sx = cos_lat[pair_of] * KM_PER_DEGREE
        ax = (self.a[seg, 0] - lon[pair_of]) * sx
        ay = (self.a[seg, 1] - lat[pair_of]) * KM_PER_DEGREE
        dx = (self.b[seg, 0] - self.a[seg, 0]) * sx
        dy = (self.b[seg, 1] - self.a[seg, 1]) * KM_PER_DEGREE
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(length2 > 0, -(ax * dx + ay * dy) / length2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        px, py = ax + t * dx, ay + t * dy  # nearest point of each segment, local km, lead at the origin
        d2 = px * px + py * py
        # Segments of a pair are contiguous: the minimum per pair, then the first segment reaching it.
        has = counts > 0
        mins = np.full(pairs, np.inf)
        mins[has] = np.minimum.reduceat(d2, offsets[has])
        hit = np.flatnonzero(d2 == mins[pair_of])
        firsts = hit[np.r_[True, pair_of[hit][1:] != pair_of[hit][:-1]]]
        which = pair_of[firsts]
        near_lon = lon[which] + px[firsts] / (cos_lat[which] * KM_PER_DEGREE)
        near_lat = lat[which] + py[firsts] / KM_PER_DEGREE
        out[which] = haversine_km_many(lon[which], lat[which], near_lon, near_lat)
        return out
