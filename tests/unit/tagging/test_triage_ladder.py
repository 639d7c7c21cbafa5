"""The triage ladder, one step at a time, and the rules for doubtful input."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import box

from territory_router.domain import TagMethod, Territory, TerritorySet
from territory_router.geography.distance import haversine_km


def test_polygon_hit(tagger, lead):
    result = tagger.tag(lead(latitude=30.0, longitude=-100.0))
    assert (result.territory_id, result.territory_name, result.method) == ("TX", "Texas", TagMethod.POLYGON)
    assert "inside the polygon of TX" in result.note


def test_point_on_the_border_counts_as_inside(tagger, lead):
    assert tagger.tag(lead(latitude=26.0, longitude=-100.0)).territory_id == "TX"


def test_overlap_goes_to_the_first_territory_in_precedence_order(tagger, lead, sample, tagger_for):
    point = lead(latitude=35.0, longitude=-98.0)
    result = tagger.tag(point)
    assert (result.territory_id, result.method) == ("TX", TagMethod.POLYGON)
    assert "also inside OVERLAP; TX wins by precedence" in result.note
    # Same polygons, precedence reversed: the other one wins.
    territories = list(sample().territories)
    territories[0], territories[1] = territories[1], territories[0]
    reversed_tagger = tagger_for(TerritorySet(tuple(territories), catch_all_territory_id="UNASSIGNED"))
    assert reversed_tagger.tag(point).territory_id == "OVERLAP"
    assert reversed_tagger.tag_many([point])[0].territory_id == "OVERLAP"


@pytest.mark.parametrize(
    ("lon", "lat", "expected_km"),
    [
        (12.3, 60.0, haversine_km(12.0, 60.0, 12.3, 60.0)),  # ~16.7 km east at 60° N
        (11.0, 61.2, haversine_km(11.0, 61.0, 11.0, 61.2)),  # ~22.2 km north
    ],
)
def test_nearest_within_the_tolerance_in_km(tagger, lead, lon, lat, expected_km):
    result = tagger.tag(lead(latitude=lat, longitude=lon, country="Norway"))
    assert (result.territory_id, result.method) == ("NORTH", TagMethod.NEAREST)
    assert f"at {expected_km:.1f} km (tolerance 25 km)" in result.note


def test_nearest_beyond_the_tolerance_falls_through(tagger, lead):
    # At 60° N a degree of longitude is ~55.6 km: 0.5° east is ~27.8 km, beyond 25 km although it is "only"
    # half a degree away; 0.44° (~24.5 km) is within. Distances are great-circle km, never degrees.
    assert tagger.tag(lead(latitude=60.0, longitude=12.44)).method is TagMethod.NEAREST
    east = tagger.tag(lead(latitude=60.0, longitude=12.5))
    assert east.method is TagMethod.CATCH_ALL
    assert "no territory polygon contains the point or lies within 25 km of it" in east.note
    # 0.4° north is 44.5 km: a candidate for the tree (within 0.46° of the polygon), measured, rejected.
    north = tagger.tag(lead(latitude=61.4, longitude=11.0))
    assert north.method is TagMethod.CATCH_ALL
    assert "nearest is NORTH (North) at 44.5 km, beyond the 25 km tolerance" in north.note


def test_tolerance_is_configurable(tagger_for, lead):
    point = lead(latitude=60.0, longitude=12.3)  # ~16.7 km away
    assert tagger_for(nearest_tolerance_km=10).tag(point).method is TagMethod.CATCH_ALL
    assert tagger_for(nearest_tolerance_km=0).tag(point).method is TagMethod.CATCH_ALL
    assert tagger_for(nearest_tolerance_km=20).tag(point).method is TagMethod.NEAREST


def test_postal_code_then_prefix(tagger, lead):
    result = tagger.tag(lead(postal_code="94105-1234"))
    assert (result.territory_id, result.method) == ("ZIP941", TagMethod.POSTAL_CODE)
    assert "no coordinates" in result.note and "postal code US 94105 is listed by ZIP941" in result.note
    assert tagger.tag(lead(postal_code="501", country="US")).territory_id == "ZIP941"  # lost leading zeros
    assert tagger.tag(lead(postal_code="501", state="NY")).territory_id == "ZIP941"  # country from the state
    assert tagger.tag(lead(postal_code="501")).method is TagMethod.CATCH_ALL  # 3 digits alone: no country
    scf = tagger.tag(lead(postal_code="10001", country="USA"))
    assert (scf.territory_id, scf.method) == ("SCF100", TagMethod.POSTAL_CODE)
    canada = tagger.tag(lead(postal_code="k1a 0b1"))  # country inferred from the code's shape
    assert (canada.territory_id, canada.method) == ("ONT", TagMethod.POSTAL_CODE)


def test_state_then_country(tagger, lead):
    state = tagger.tag(lead(state="California", postal_code="90210"))
    assert (state.territory_id, state.method) == ("CAL", TagMethod.STATE)
    assert "postal code US 90210 is listed by no territory" in state.note
    province = tagger.tag(lead(state="Québec"))
    assert (province.territory_id, province.method) == ("CANADA", TagMethod.COUNTRY)
    assert "state CA-QC is listed by no territory" in province.note
    assert tagger.tag(lead(state="ontario", country="Canada")).territory_id == "ONT"


def test_catch_all_and_untagged_always_say_why(tagger, tagger_for, sample, lead):
    result = tagger.tag(lead(country="Germany"))
    assert (result.territory_id, result.territory_name, result.method) == (
        "UNASSIGNED",
        "Unassigned queue",
        TagMethod.CATCH_ALL,
    )
    assert "no coordinates" in result.note and "country DE is listed by no territory" in result.note
    untagged = tagger_for(sample(catch_all=None)).tag(lead())
    assert (untagged.territory_id, untagged.method) == (None, TagMethod.UNTAGGED)
    assert "no catch-all territory is configured" in untagged.note
    assert "no postal code, state or country" in untagged.note


def test_configured_catch_all_overrides_the_set(tagger_for, lead):
    result = tagger_for(catch_all_territory_id="QUEUE_42").tag(lead())
    assert (result.territory_id, result.territory_name, result.method) == (
        "QUEUE_42",
        None,
        TagMethod.CATCH_ALL,
    )


@pytest.mark.parametrize("coords", [(0.0, 0.0), (0, 0)])
def test_zero_zero_is_no_coordinates(tagger, lead, coords):
    result = tagger.tag(lead(latitude=coords[0], longitude=coords[1], state="TX"))
    # A territory polygon covering (0, 0) must not matter: (0, 0) is "unknown", here the state decides.
    assert (result.territory_id, result.method) == ("TX", TagMethod.STATE)
    assert "coordinates (0, 0) are treated as no coordinates" in result.note


def test_zero_zero_never_hits_a_polygon_there(tagger_for, lead):
    gulf = TerritorySet(
        (Territory("GULF", "Gulf of Guinea", geometry=box(-1, -1, 1, 1)),), catch_all_territory_id="CA1"
    )
    territories = (*gulf.territories, Territory("CA1", "Catch-all"))
    tagger = tagger_for(TerritorySet(territories, catch_all_territory_id="CA1"))
    for result in (
        tagger.tag(lead(latitude=0.0, longitude=0.0)),
        tagger.tag_many([lead(latitude=0.0, longitude=0.0)])[0],
    ):
        assert (result.territory_id, result.method) == ("CA1", TagMethod.CATCH_ALL)
    assert tagger.tag(lead(latitude=0.5, longitude=0.5)).territory_id == "GULF"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(95.0, -100.0), (30.0, -200.0), (math.nan, -100.0), (math.inf, 10.0), (None, -100.0), (30.0, None)],
)
def test_out_of_range_or_missing_coordinates_are_no_coordinates(tagger, lead, lat, lon):
    result = tagger.tag(lead(latitude=lat, longitude=lon, postal_code="94105"))
    assert (result.territory_id, result.method) == ("ZIP941", TagMethod.POSTAL_CODE)
    assert "no coordinates" in result.note


def test_swapped_out_of_range_pair_is_read_the_other_way(tagger, lead):
    result = tagger.tag(lead(latitude=-100.0, longitude=30.0))  # |lat| > 90: only one reading makes sense
    assert (result.territory_id, result.method) == ("TX", TagMethod.POLYGON)
    assert "looked swapped" in result.note and "swapped reading used" in result.note


def test_swapped_out_of_range_pair_contradicting_the_state_is_not_used(tagger, lead):
    result = tagger.tag(lead(latitude=-100.0, longitude=30.0, state="CA"))
    assert (result.territory_id, result.method) == ("CAL", TagMethod.STATE)
    assert "would fall in TX (Texas) but declared state US-CA" in result.note and "not used" in result.note


def test_swapped_in_range_pair_needs_the_declared_country_to_agree(tagger, lead):
    # (lat 11, lon 60) is a valid point in the Arabian Sea that hits nothing; read swapped it is in NORTH.
    agreed = tagger.tag(lead(latitude=11.0, longitude=60.0, country="NO"))
    assert (agreed.territory_id, agreed.method) == ("NORTH", TagMethod.POLYGON)
    assert "agrees with the declared country NO" in agreed.note
    unconfirmed = tagger.tag(lead(latitude=11.0, longitude=60.0))
    assert unconfirmed.method is TagMethod.CATCH_ALL
    assert "nothing declared confirms it; not used" in unconfirmed.note
    contradicted = tagger.tag(lead(latitude=11.0, longitude=60.0, country="Sweden"))
    assert contradicted.method is TagMethod.CATCH_ALL
    assert "declared country SE but NORTH (North) covers NO" in contradicted.note


def test_polygon_contradicting_the_declared_state_keeps_the_coordinates(tagger, lead):
    result = tagger.tag(lead(latitude=30.0, longitude=-100.0, state="California"))
    assert (result.territory_id, result.method) == ("TX", TagMethod.POLYGON)
    assert "declared state US-CA but TX (Texas) covers US-TX" in result.note
    assert "coordinates win" in result.note
    agreeing = tagger.tag(lead(latitude=30.0, longitude=-100.0, state="Texas"))
    assert agreeing.note == "inside the polygon of TX (Texas)"


def test_nearest_contradicting_the_declared_state_loses_to_it(tagger, lead):
    outside_tx = {"latitude": 30.0, "longitude": -93.9}  # ~9.6 km east of the TX box
    result = tagger.tag(lead(**outside_tx, state="CA"))
    assert (result.territory_id, result.method) == ("CAL", TagMethod.STATE)
    assert "nearest polygon TX (Texas) is 9.6 km away but declared state US-CA" in result.note
    assert "declared address wins" in result.note
    # When the declared address leads nowhere, the nearest territory is still better than the catch-all.
    fallback = tagger.tag(lead(**outside_tx, state="NV"))
    assert (fallback.territory_id, fallback.method) == ("TX", TagMethod.NEAREST)
    assert "declared address matched no territory, so the nearest one (9.6 km) is used" in fallback.note
    agreeing = tagger.tag(lead(**outside_tx, state="TX"))
    assert (agreeing.territory_id, agreeing.method) == ("TX", TagMethod.NEAREST)


def test_unrecognised_input_is_reported(tagger, lead):
    result = tagger.tag(lead(state="Atlantis", country="Narnia", postal_code="!!"))
    assert "state 'Atlantis' not recognised" in result.note
    assert "country 'Narnia' not recognised" in result.note
    assert "postal code '!!' not recognised" in result.note
    mismatch = tagger.tag(lead(state="Ontario", country="US"))
    assert "state 'Ontario' is in CA, not in the declared country US" in mismatch.note


def test_territory_state_given_as_country(tagger_for, lead):
    pr = TerritorySet((Territory("PR", "Puerto Rico", regions=frozenset({("US", "PR")})),))
    result = tagger_for(pr).tag(lead(country="Puerto Rico"))
    assert (result.territory_id, result.method) == ("PR", TagMethod.STATE)


def test_tagger_config_is_checked():
    from territory_router.tagging.triage import TaggingConfig

    with pytest.raises(ValueError):
        TaggingConfig(nearest_tolerance_km=-1)
    with pytest.raises(ValueError):
        TaggingConfig(nearest_tolerance_km=math.nan)
