"""validate_files on GeoJSON: precedence order, overlaps in km², repairs, real US data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from territory_router.territories.report import Severity, ValidationOptions
from territory_router.territories.validate import validate_files

REPO = Path(__file__).resolve().parents[3]
US_STATES = REPO / "tooling" / "territory_router_tools" / "data" / "us_states.geojson"
US_COUNTIES = REPO / "tests" / "data" / "us_counties.geojson"


def square(x0: float, y0: float, size: float = 1.0) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]],
    }


def feature(tid: str | None, geometry: dict | None, **props) -> dict:
    properties = dict(props)
    if tid is not None:
        properties["territory_id"] = tid
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def test_two_squares_at_equator_overlapping_by_half_measure_about_6180_km2():
    data = collection(feature("A", square(0, 0)), feature("B", square(0.5, 0)))
    report = validate_files([("t.geojson", data)])
    assert report.valid
    assert len(report.overlaps) == 1
    ov = report.overlaps[0]
    # 1° of longitude x 0.5° of latitude at the equator on the authalic sphere: 111.195 km x 55.6 km
    assert ov.area_km2 == pytest.approx(6182, rel=0.003)
    # same area, no priority: the id decides
    assert ov.winner == "A"
    assert "id" in ov.resolution
    a_area = report.territory_set.by_id()["A"].area_km2
    assert a_area == pytest.approx(12364, rel=0.003)


def test_precedence_priority_then_smaller_area_then_id():
    data = collection(
        feature("big-low-priority-number", square(0, 0, 4), priority=1),
        feature("small", square(1, 1, 1)),
        feature("medium", square(0.5, 0.5, 2)),
        feature("no-priority-b", square(10, 0, 1.5)),
        feature("no-priority-a", square(20, 0, 1.5)),
        feature("prio5", square(1.5, 1.5, 0.5), priority=5),
    )
    report = validate_files([("t.geojson", data)])
    assert report.valid, report.errors
    order = [t.territory_id for t in report.territory_set.territories]
    assert order == ["big-low-priority-number", "prio5", "small", "no-priority-a", "no-priority-b", "medium"]
    pairs = {(o.a, o.b): o for o in report.overlaps}
    assert (
        pairs[("big-low-priority-number", "small")].resolution
        == "big-low-priority-number wins (priority 1; small has none)"
    )
    assert (
        pairs[("big-low-priority-number", "prio5")].resolution
        == "big-low-priority-number wins (priority 1 < 5)"
    )
    assert pairs[("small", "medium")].resolution.startswith("small wins (smaller area")


def test_adjacent_squares_sharing_a_border_do_not_overlap():
    report = validate_files(
        [("t.geojson", collection(feature("A", square(0, 0)), feature("B", square(1, 0))))]
    )
    assert report.valid
    assert report.overlaps == []


def test_strict_overlap_limit_rejects_the_upload():
    data = collection(feature("A", square(0, 0)), feature("B", square(0.5, 0)))
    report = validate_files([("t.geojson", data)], ValidationOptions(strict_overlap_km2=100))
    assert not report.valid
    assert report.territory_set is None
    assert any("strict limit of 100 km²" in e.reason and e.territory == "A" for e in report.errors)
    # a bigger tolerance accepts it
    assert validate_files([("t.geojson", data)], ValidationOptions(strict_overlap_km2=7000)).valid


def test_leads_in_overlap_are_counted():
    data = collection(feature("A", square(0, 0)), feature("B", square(0.5, 0)))
    leads = ((0.75, 0.5), (0.6, 0.1), (0.2, 0.5), (5.0, 5.0))
    report = validate_files([("t.geojson", data)], ValidationOptions(leads=leads))
    assert report.overlaps[0].leads == 2
    assert report.to_dict()["overlaps"][0]["leads"] == 2


def test_to_dict_has_the_cli_json_shape():
    bad = feature("X", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    report = validate_files(
        [("t.geojson", collection(bad, feature("A", square(0, 0)), feature("B", square(0.5, 0))))]
    )
    out = report.to_dict()
    assert out["valid"] is True
    assert out["territories"] == 3
    assert out["errors"] == []
    assert out["warnings"][0]["territory"] == "X"
    assert "self-intersection" in out["warnings"][0]["reason"]
    assert {"a", "b", "area_km2", "resolution"} <= set(out["overlaps"][0])
    assert isinstance(out["gaps"], list)
    json.dumps(out)


def test_feature_id_is_the_fallback_territory_id_and_metadata_is_kept():
    feat = {
        "type": "Feature",
        "id": 42,
        "properties": {"name": "West", "sla_minutes": 30},
        "geometry": square(0, 0),
    }
    report = validate_files([("t.geojson", collection(feat))])
    territory = report.territory_set.territories[0]
    assert territory.territory_id == "42"
    assert territory.name == "West"
    assert territory.metadata == {"sla_minutes": 30}


def test_mixed_polygons_postal_codes_and_regions_in_one_set():
    data = collection(
        feature("poly", square(0, 0)),
        feature("zips", None, postal_codes=["501", "94105-1234", "02134"]),
        feature("west", None, regions=["US-CA", "US-NV"], countries=["CA"]),
    )
    report = validate_files([("t.geojson", data)])
    assert report.valid, report.errors
    by_id = report.territory_set.by_id()
    assert by_id["zips"].postal_codes == {("US", "00501"), ("US", "94105"), ("US", "02134")}
    assert by_id["west"].regions == {("US", "CA"), ("US", "NV"), ("CA", None)}
    assert by_id["zips"].geometry is None and by_id["zips"].area_km2 is None
    # polygons first (they have an area), then the others by id
    assert [t.territory_id for t in report.territory_set.territories] == ["poly", "west", "zips"]


def test_us_states_delaware_degenerate_part_is_dropped_with_a_warning_and_the_set_is_valid():
    report = validate_files([(US_STATES.name, US_STATES.read_bytes())])
    assert report.valid
    assert len(report.territory_set.territories) == 56
    delaware = [w for w in report.warnings if w.territory == "10"]
    assert delaware and "too few points" in delaware[0].reason
    assert delaware[0].severity is Severity.WARNING
    de = report.territory_set.by_id()["10"]
    assert de.name == "Delaware"
    assert de.geometry.is_valid
    # Delaware is about 6,446 km² (land + water, Census); the 1:10m outline is close to it
    assert 5_000 < de.area_km2 < 7_000
    assert report.overlaps == []
    # Texas is about 695,662 km²
    assert report.territory_set.by_id()["48"].area_km2 == pytest.approx(695_662, rel=0.02)


def test_us_counties_reject_the_one_county_without_area_and_repair_the_rest():
    report = validate_files([(US_COUNTIES.name, US_COUNTIES.read_bytes())])
    assert not report.valid
    assert [(e.territory, e.code) for e in report.errors] == [("51610", "too_few_points")]
    assert "too few points" in report.errors[0].reason
    assert len(report.territories) == 3230
    assert any(w.code == "repaired_geometry" for w in report.warnings)
    assert all(t.geometry.is_valid for t in report.territories)
