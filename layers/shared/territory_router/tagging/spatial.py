"""The geometry side of tagging: which territory polygons hold a point, and which polygon is nearest to it.

``PolygonLookup`` answers for a whole batch at once (``locate``: one tree query + one prepared ``intersects_xy``
call for the points, the same for the swapped readings of the misses, one ``dwithin`` tree query + numpy segment
distances for the nearest polygon) and for single points (``hits_one``: tree candidates cached per grid cell,
bounding boxes checked before the prepared point-in-polygon test). Positions are territory positions in precedence
order (``TerritoryIndex``); what the answers mean for a lead — the fallback ladder, notes, precision — is
``tagging.triage``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.lib

from territory_router.tagging.geo import BoundarySegments, search_radius_deg
from territory_router.tagging.index import TerritoryIndex


@dataclass(frozen=True, slots=True)
class PointFacts:
    """What the geometry says about one point: polygon hits, the swapped reading's hits, the nearest polygon."""

    hits: list[int]  # positions (precedence order) of the polygons holding the point
    swap_hits: list[int] | None  # the same for (lat, lon) read the other way round; None: not applicable
    nearest: tuple[int, float] | None  # (position, km) of the nearest candidate, possibly beyond tolerance


NO_FACTS = PointFacts([], None, None)


@dataclass(frozen=True)
class BatchHits:
    """Polygon hits of a batch of points (arrays of the batch's length)."""

    first: np.ndarray  # first hit position in precedence order, -1: none
    count: np.ndarray  # number of polygons holding the point
    extra: dict[int, list[int]]  # point -> every hit position, for the points held by several polygons

    def of(self, i: int) -> list[int]:
        """Every hit position of point ``i``."""
        c = int(self.count[i])
        return self.extra[i] if c > 1 else [int(self.first[i])] if c else []


@dataclass(frozen=True)
class BatchLocation:
    """The geometry's answers for a batch of ``(lat, lon)`` readings."""

    usable: np.ndarray  # bool: in range and not (0, 0)
    swappable: np.ndarray  # bool: (lon, lat) read the other way round is in range too (and swapping is allowed)
    hits: BatchHits  # of the usable points
    swap_hits: BatchHits  # of the swapped readings of the swappable points that missed or are out of range
    nearest: dict[int, tuple[int, float]]  # usable points that hit nothing -> (position, km) of the nearest polygon


class PolygonLookup:
    """Point-in-polygon and nearest-polygon answers over one loaded :class:`TerritoryIndex`.

    Not thread safe (the grid cache); one per tagger. ``tolerance_km`` only sizes the nearest search: a polygon
    within it is always found (farther ones may be), and the caller decides what is near enough."""

    def __init__(
        self, index: TerritoryIndex, *, tolerance_km: float, grid_cell_degrees: float = 0.1,
        grid_cache_cells: int = 200_000,
    ) -> None:
        self.index = index
        self._tolerance = float(tolerance_km)
        self.owner: list[int] = index.geometry_owner.tolist()  # territory position of each geometry
        self._geoms = list(index.geometries)
        self._segments: BoundarySegments | None = None  # polygon boundaries, built on the first nearest look-up
        self._cell_size = grid_cell_degrees
        self._inv_cell = 1.0 / grid_cell_degrees
        self._cache_cells = grid_cache_cells
        self._cells: dict[tuple[int, int], tuple[tuple, ...]] = {}  # cell -> (owner, geom, bounds)

    @property
    def cached_cells(self) -> int:
        return len(self._cells)

    # ------------------------------------------------------------------ batches

    def locate(self, lat: np.ndarray, lon: np.ndarray, *, try_swapped: bool) -> BatchLocation:
        """Every pass of a batch (``nan`` for a missing coordinate)."""
        with np.errstate(invalid="ignore"):
            zero = (lat == 0) & (lon == 0)
            usable = (np.abs(lat) <= 90) & (np.abs(lon) <= 180) & ~zero
            swappable = (np.abs(lon) <= 90) & (np.abs(lat) <= 180) & ~zero
        if not try_swapped:
            swappable[:] = False
        hits = self.hits_many(lon, lat, np.flatnonzero(usable))
        missed = usable & (hits.count == 0)
        swap_hits = self.hits_many(lat, lon, np.flatnonzero(swappable & (missed | ~usable)))
        nearest = self.nearest_many(lon, lat, np.flatnonzero(missed))
        return BatchLocation(usable, swappable, hits, swap_hits, nearest)

    def hits_many(self, lon: np.ndarray, lat: np.ndarray, idx: np.ndarray) -> BatchHits:
        """Polygon hits of the points ``idx`` (the others get none)."""
        n = len(lon)
        count = np.zeros(n, dtype=np.int64)
        first = np.full(n, -1, dtype=np.int64)
        extra: dict[int, list[int]] = {}
        if not len(idx) or not len(self._geoms):
            return BatchHits(first, count, extra)
        inp, tree_i = self.index.tree.query(shapely.points(lon[idx], lat[idx]))
        by_polygon = np.argsort(tree_i, kind="stable")  # one polygon's tests together: its locator stays hot
        inp, tree_i = idx[inp[by_polygon]], tree_i[by_polygon]
        keep = shapely.intersects_xy(self.index.geometries[tree_i], lon[inp], lat[inp])
        inp, tree_i = inp[keep], tree_i[keep]
        if not len(inp):
            return BatchHits(first, count, extra)
        order = np.argsort(inp * len(self._geoms) + tree_i)  # by lead, then precedence
        inp, tree_i = inp[order], tree_i[order]
        starts = np.flatnonzero(np.r_[True, inp[1:] != inp[:-1]])
        leads_hit = inp[starts]
        owner = self.index.geometry_owner
        first[leads_hit] = owner[tree_i[starts]]
        count[leads_hit] = np.diff(np.r_[starts, len(inp)])
        multi = count[inp] > 1
        if multi.any():
            for lead_i, tree_j in zip(inp[multi].tolist(), tree_i[multi].tolist(), strict=True):
                extra.setdefault(lead_i, []).append(int(owner[tree_j]))
        return BatchHits(first, count, extra)

    def nearest_many(self, lon: np.ndarray, lat: np.ndarray, idx: np.ndarray) -> dict[int, tuple[int, float]]:
        """For points that hit no polygon: ``(position, km)`` of the nearest polygon among those the tree finds
        within a generous radius in degrees (``search_radius_deg``), measured in great-circle km (it may be
        beyond the tolerance: the caller decides). Points with no candidate are left out. Ties: precedence."""
        if not len(idx) or not len(self._geoms):
            return {}
        radius = search_radius_deg(lat[idx], self._tolerance)
        inp, tree_i = self.index.tree.query(
            shapely.points(lon[idx], lat[idx]), predicate="dwithin", distance=radius
        )
        if not len(inp):
            return {}
        leads_i = idx[inp]
        if self._segments is None:
            self._segments = BoundarySegments(self.index.geometries)
        km = self._segments.distance_km(tree_i, lon[leads_i], lat[leads_i])
        order = np.lexsort((tree_i, km, leads_i))  # per lead: smallest km, then precedence
        leads_sorted = leads_i[order]
        first_of_lead = np.ones(len(order), dtype=bool)
        first_of_lead[1:] = leads_sorted[1:] != leads_sorted[:-1]
        best = order[first_of_lead]
        owner = self.owner
        return {
            int(lead_i): (owner[int(t)], float(d))
            for lead_i, t, d in zip(leads_i[best], tree_i[best], km[best], strict=True)
            if math.isfinite(d)
        }

    # ------------------------------------------------------------------ single points

    def nearest_one(self, lon: float, lat: float) -> tuple[int, float] | None:
        return self.nearest_many(np.array([lon]), np.array([lat]), np.array([0])).get(0)

    def hits_one(self, lon: float, lat: float) -> list[int]:
        """Polygon hits for one point: tree candidates cached per grid cell, prepared ``intersects_xy``."""
        inv = self._inv_cell
        key = (math.floor(lon * inv), math.floor(lat * inv))
        candidates = self._cells.get(key)
        if candidates is None:
            candidates = self._cell_candidates(key)
        intersects_xy = shapely.lib.intersects_xy
        return [
            owner
            for owner, geom, x0, y0, x1, y1 in candidates
            if x0 <= lon <= x1 and y0 <= lat <= y1 and intersects_xy(geom, lon, lat)
        ]

    def _cell_candidates(self, key: tuple[int, int]) -> tuple[tuple, ...]:
        size = self._cell_size
        x0, y0 = key[0] * size, key[1] * size
        found = np.sort(self.index.tree.query(shapely.box(x0, y0, x0 + size, y0 + size))).tolist()
        bounds = shapely.bounds(self.index.geometries[found]).tolist() if found else []
        candidates = tuple((self.owner[i], self._geoms[i], *b) for i, b in zip(found, bounds, strict=True))
        if len(self._cells) >= self._cache_cells:
            self._cells.clear()
        self._cells[key] = candidates
        return candidates
