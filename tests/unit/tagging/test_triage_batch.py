"""tag_many is the vectorised twin of tag: same answers, same order, deterministic."""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import Point

from territory_router.domain import TagMethod


def _mixed_batch(lead):
    cases = [
        {"latitude": 30.0, "longitude": -100.0},  # polygon
        {"latitude": 35.0, "longitude": -98.0},  # overlap
        {"latitude": 60.0, "longitude": 12.3, "country": "NO"},  # nearest
        {"latitude": 60.0, "longitude": 12.5},  # beyond tolerance
        {"latitude": 60.0, "longitude": 14.0},  # far from everything
        {"latitude": 0.0, "longitude": 0.0, "state": "TX"},  # (0, 0)
        {"latitude": -100.0, "longitude": 30.0},  # swapped, out of range
        {"latitude": 11.0, "longitude": 60.0, "country": "Norway"},  # swapped, in range
        {"latitude": 30.0, "longitude": -100.0, "state": "CA"},  # contradiction, polygon wins
        {"latitude": 30.0, "longitude": -93.9, "state": "CA"},  # contradiction, declared wins
        {"latitude": math.nan, "longitude": 1.0, "postal_code": "94105"},
        {"postal_code": "k1a0b1"},
        {"state": "Québec"},
        {"country": "Germany"},
        {},
        {"postal_code": "74103"},  # no coordinates: Tulsa's ZIP centroid lies in OVERLAP
        {"city": "Tulsa", "state": "OK"},  # no coordinates: the city's centroid
        {"postal_code": "74103", "latitude": 36.15, "longitude": -95.99},  # coordinates win
    ]
    return [lead(i, **fields) for i, fields in enumerate(cases)]


def test_tag_many_equals_tag_one_by_one(tagger, lead):
    batch = _mixed_batch(lead)
    many = tagger.tag_many(batch)
    assert many == [tagger.tag(one) for one in batch]
    # Every method but UNTAGGED (there is a catch-all) and GEOCODED (no geocoder configured).
    assert {r.method for r in many} == set(TagMethod) - {TagMethod.UNTAGGED, TagMethod.GEOCODED}
    assert tagger.tag_many([]) == []


def test_results_are_deterministic_across_taggers(tagger_for, lead):
    batch = _mixed_batch(lead) * 3
    first = tagger_for().tag_many(batch)
    second = tagger_for().tag_many(list(reversed(batch)))
    assert first == list(reversed(second))


def test_random_points_match_plain_shapely_first_hit(tagger_for, sample, lead):
    territory_set = sample()
    tagger = tagger_for(territory_set, nearest_tolerance_km=0)
    polygons = [(t.territory_id, t.geometry) for t in territory_set.territories if t.geometry is not None]
    rng = np.random.default_rng(11)
    xs, ys = rng.uniform(-110, -85, 3000), rng.uniform(22, 40, 3000)
    batch = [
        lead(i, latitude=float(y), longitude=float(x)) for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    results = tagger.tag_many(batch)
    for x, y, result in zip(xs, ys, results, strict=True):
        expected = next((tid for tid, g in polygons if g.intersects(Point(x, y))), None)
        if expected is None:
            assert result.method is not TagMethod.POLYGON
        else:
            assert (result.territory_id, result.method) == (expected, TagMethod.POLYGON)
    assert results == [tagger.tag(one) for one in batch]


def test_single_lead_cell_cache_is_bounded(tagger_for, lead):
    tagger = tagger_for(grid_cache_cells=3)
    for i in range(10):
        tagger.tag(lead(i, latitude=27.0 + i, longitude=-100.0 + i * 0.3))
    assert tagger.spatial.cached_cells <= 3
    assert tagger.tag(lead(latitude=30.0, longitude=-100.0)).territory_id == "TX"


def test_sets_without_polygons_or_territories(tagger_for, lead):
    from territory_router.domain import Territory, TerritorySet

    batch = [
        lead(1, latitude=37.0, longitude=-120.0, state="CA"),
        lead(2, latitude=-120.0, longitude=37.0),
        lead(3),
    ]
    empty = tagger_for(TerritorySet(()))
    assert [r.method for r in empty.tag_many(batch)] == [TagMethod.UNTAGGED] * 3
    regions_only = tagger_for(TerritorySet((Territory("S", "State", regions=frozenset({("US", "CA")})),)))
    results = regions_only.tag_many(batch)
    assert [(r.territory_id, r.method) for r in results] == [
        ("S", TagMethod.STATE),
        (None, TagMethod.UNTAGGED),
        (None, TagMethod.UNTAGGED),
    ]
    assert results == [regions_only.tag(one) for one in batch]


def test_property_single_and_batch_agree(tagger_for, lead):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tagger = tagger_for()
    coordinate = st.one_of(
        st.none(),
        st.just(0.0),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-200, max_value=200),
        st.sampled_from([30.0, -100.0, 35.0, -98.0, 60.0, 11.0, 12.4, -93.9]),
    )
    text = st.one_of(st.none(), st.sampled_from(["TX", "California", "ON", "Norway", "NO", "US", "zz", ""]))
    postal = st.one_of(st.none(), st.sampled_from(["94105", "501", "10001-1234", "K1A 0B1", "x"]))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(coordinate, coordinate, text, text, postal), min_size=1, max_size=8))
    def check(rows):
        batch = [
            lead(i, latitude=la, longitude=lo, state=s, country=c, postal_code=p)
            for i, (la, lo, s, c, p) in enumerate(rows)
        ]
        assert tagger.tag_many(batch) == [tagger.tag(one) for one in batch]

    check()
