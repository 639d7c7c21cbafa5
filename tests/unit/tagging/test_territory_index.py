"""The compiled index: bytes round trip, same answers as plain shapely, deterministic, refuses bad bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box, shape

from territory_router.domain import Territory, TerritorySet
from territory_router.tagging.index import IndexFormatError, TerritoryIndex, compile_index

COUNTIES = Path(__file__).resolve().parents[2] / "data" / "us_counties.geojson"


@pytest.fixture(scope="module")
def counties() -> TerritorySet:
    features = json.loads(COUNTIES.read_text())["features"]
    # Counties of the south-east: real, irregular polygons with shared borders, big enough to be meaningful.
    chosen = [f for f in features if f["id"][:2] in {"01", "12", "13", "28", "45", "47"}]
    return TerritorySet(
        tuple(Territory(f["id"], f["properties"]["name"], geometry=shape(f["geometry"])) for f in chosen)
    )


def test_round_trip_gives_the_same_hits_as_plain_shapely(counties):
    index = TerritoryIndex.from_bytes(compile_index(counties))
    assert index.ids == tuple(t.territory_id for t in counties.territories)
    rng = np.random.default_rng(7)
    xs = rng.uniform(-92, -79, 1500)
    ys = rng.uniform(24, 37, 1500)
    geoms = [t.geometry for t in counties.territories]
    hits_seen = 0
    for x, y in zip(xs, ys, strict=True):
        expected = [i for i, g in enumerate(geoms) if g.intersects(Point(x, y))]
        assert index.polygon_hits(x, y) == expected
        hits_seen += bool(expected)
    assert hits_seen > 500  # the test exercised real hits, not only misses
    # Geometries survive exactly (WKB keeps every double).
    for original, loaded in zip(geoms, index.territories, strict=True):
        assert shapely.equals_exact(original, loaded.geometry, tolerance=0)


def test_compile_is_deterministic(counties):
    assert compile_index(counties) == compile_index(counties)
    a = TerritoryIndex.from_bytes(compile_index(counties))
    b = TerritoryIndex.from_bytes(compile_index(counties))
    assert a.digest == b.digest and a.digest


def test_precedence_order_lookups_and_metadata_are_kept():
    territories = (
        Territory("B", "Bee", priority=1, geometry=box(0, 0, 2, 2), regions=frozenset({("US", "TX")}),
                  metadata={"sla_minutes": 30, "group": "g1"}, area_km2=12.5),
        Territory("A", "Ay", priority=2, geometry=box(1, 1, 3, 3), postal_codes=frozenset({("US", "75001")})),
        Territory("P", "Postal", postal_codes=frozenset({("US", "75001"), ("CA", "K1A0B1")}),
                  regions=frozenset({("CA", None)})),
        Territory("Z", "Catch-all"),
    )  # fmt: skip
    index = TerritoryIndex.from_bytes(
        compile_index(TerritorySet(territories, catch_all_territory_id="Z", metadata={"version": "v7"}))
    )
    assert index.ids == ("B", "A", "P", "Z")
    assert index.catch_all_territory_id == "Z" and dict(index.set_metadata) == {"version": "v7"}
    assert index.polygon_hits(1.5, 1.5) == [0, 1]
    assert index.postal_lookup[("US", "75001")] == 1  # first in precedence order wins
    assert index.postal_lookup[("CA", "K1A0B1")] == 2
    assert index.region_lookup[("CA", None)] == 2 and index.region_lookup[("US", "TX")] == 0
    b = index.territory("B")
    assert b.metadata == {"sla_minutes": 30, "group": "g1"} and b.area_km2 == 12.5 and b.priority == 1
    assert index.territory("P").geometry is None and index.territory("nope") is None
    assert index.to_territory_set().territories == index.territories


def test_empty_and_polygon_free_sets_load():
    empty = TerritoryIndex.from_bytes(compile_index(TerritorySet(())))
    assert len(empty) == 0 and empty.polygon_hits(1, 1) == []
    postal_only = TerritoryIndex.from_bytes(
        compile_index(TerritorySet((Territory("P", "P", postal_codes=frozenset({("US", "00501")})),)))
    )
    assert postal_only.polygon_hits(1, 1) == [] and postal_only.postal_lookup == {("US", "00501"): 0}


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        compile_index(TerritorySet((Territory("A", "a"), Territory("A", "b"))))


def test_bad_bytes_are_refused():
    good = compile_index(TerritorySet((Territory("A", "a", geometry=box(0, 0, 1, 1)),)))
    with pytest.raises(IndexFormatError, match="magic"):
        TerritoryIndex.from_bytes(b"XXXX" + good[4:])
    with pytest.raises(IndexFormatError, match="version"):
        TerritoryIndex.from_bytes(good[:4] + struct.pack("<H", 99) + good[6:])
    with pytest.raises(IndexFormatError):
        TerritoryIndex.from_bytes(good[:-5])
    with pytest.raises(IndexFormatError):
        TerritoryIndex.from_bytes(good[:10])
    with pytest.raises(IndexFormatError, match="GeoJSON|magic"):
        TerritoryIndex.from_bytes(b'{"type": "FeatureCollection", "features": []}')
