"""Great-circle distances from leads to polygon boundaries."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from territory_router.geography.distance import haversine_km, haversine_km_many
from territory_router.tagging.geo import BoundarySegments, search_radius_deg


def _oracle_km(geometry, lon: float, lat: float) -> float:
    """Independent check: densify the boundary finely and take the smallest haversine to any vertex."""
    dense = shapely.segmentize(shapely.boundary(geometry), max_segment_length=0.0005)
    coords = shapely.get_coordinates(dense)
    return float(haversine_km_many(lon, lat, coords[:, 0], coords[:, 1]).min())


def test_haversine_known_distances():
    assert math.isclose(haversine_km(0, 0, 1, 0), 111.195, rel_tol=1e-4)  # a degree on the equator
    assert math.isclose(haversine_km(0, 60, 1, 60), 55.60, rel_tol=1e-3)  # half of that at 60° N
    assert haversine_km(-122.4, 37.8, -122.4, 37.8) == 0.0
    # San Francisco -> New York, ~4,130 km
    assert 4100 < haversine_km(-122.42, 37.77, -74.0, 40.71) < 4160


def test_boundary_segments_match_a_dense_oracle():
    geoms = np.array(
        [
            box(10, 59, 12, 61),
            MultiPolygon([box(-100, 30, -99, 31), box(-98, 30, -97.5, 30.5)]),
            Polygon(
                [(0, 40), (5, 40), (5, 45), (0, 45)], [[(1, 41), (4, 41), (4, 44), (1, 44)]]
            ),  # with a hole
            Polygon([(-80, 25), (-79.5, 25.2), (-79.7, 25.9), (-80.3, 25.6)]),  # slanted edges
        ],
        dtype=object,
    )
    segments = BoundarySegments(geoms)
    rng = np.random.default_rng(3)
    pairs = []
    for g, geometry in enumerate(geoms):
        minx, miny, maxx, maxy = geometry.bounds
        for _ in range(25):
            pairs.append((g, rng.uniform(minx - 0.4, maxx + 0.4), rng.uniform(miny - 0.4, maxy + 0.4)))
    gi = np.array([p[0] for p in pairs])
    lon = np.array([p[1] for p in pairs])
    lat = np.array([p[2] for p in pairs])
    km = segments.distance_km(gi, lon, lat)
    for (g, x, y), got in zip(pairs, km, strict=True):
        expected = _oracle_km(geoms[g], x, y)
        # The local plane is exact to well under 0.5 % over these distances; the oracle's vertices are <60 m apart.
        assert abs(got - expected) <= 0.005 * expected + 0.06, (g, x, y, got, expected)


def test_boundary_segments_edge_cases():
    segments = BoundarySegments(np.array([box(0, 0, 1, 1), Polygon()], dtype=object))
    assert segments.distance_km(np.array([], dtype=int), np.array([]), np.array([])).size == 0
    km = segments.distance_km(np.array([1, 0]), np.array([5.0, 0.5]), np.array([5.0, 1.0]))
    assert km[0] == math.inf and km[1] == 0.0  # no boundary; on the boundary


def test_search_radius_holds_every_point_within_the_distance():
    rng = np.random.default_rng(5)
    for lat0 in (0.0, 35.0, 60.0, 75.0, -50.0):
        radius = float(search_radius_deg(np.array([lat0]), 25.0)[0])
        bearings = rng.uniform(0, 2 * math.pi, 200)
        # Points ~24.9 km away in every direction stay within the planar radius (in degrees).
        dlat = 24.9 / 111.195 * np.cos(bearings)
        dlon = 24.9 / (111.195 * np.cos(np.radians(lat0 + dlat))) * np.sin(bearings)
        assert np.all(np.hypot(dlon, dlat) <= radius)
