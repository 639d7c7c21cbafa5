"""Properties of precedence and overlaps on random squares (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory_router.territories.validate import precedence_key, validate_files

squares = st.lists(
    st.tuples(
        st.integers(min_value=-20, max_value=20),  # x0 in 0.25° steps
        st.integers(min_value=-20, max_value=20),  # y0
        st.integers(min_value=1, max_value=12),  # size in 0.25° steps
        st.one_of(st.none(), st.integers(min_value=0, max_value=3)),  # priority
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(squares)
def test_order_and_overlaps_are_consistent(specs):
    features = []
    for i, (x, y, size, priority) in enumerate(specs):
        x0, y0, s = x / 4, y / 4, size / 4
        ring = [[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s], [x0, y0]]
        props = {"territory_id": f"t{i}"}
        if priority is not None:
            props["priority"] = priority
        features.append(
            {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        )
    report = validate_files(
        [("r.geojson", json.dumps({"type": "FeatureCollection", "features": features}).encode())]
    )
    assert report.valid
    territories = report.territory_set.territories
    keys = [precedence_key(t) for t in territories]
    assert keys == sorted(keys)
    position = {t.territory_id: i for i, t in enumerate(territories)}
    by_id = report.territory_set.by_id()
    for ov in report.overlaps:
        # the winner comes first in the set's order, and the overlap is no bigger than either territory
        assert ov.winner == ov.a and position[ov.a] < position[ov.b]
        assert ov.area_km2 <= min(by_id[ov.a].area_km2, by_id[ov.b].area_km2) + 1e-6
        assert ov.area_km2 >= 0.01
        assert ov.resolution.startswith(f"{ov.a} wins (")
        a, b = by_id[ov.a], by_id[ov.b]
        if a.priority is not None and b.priority is not None and a.priority != b.priority:
            assert a.priority < b.priority and "priority" in ov.resolution
