"""Leads without coordinates: declared postal/state territories first, then the gazetteer point through the
polygon -> nearest steps; every tag says how precise it is."""

from __future__ import annotations

from shapely.geometry import box

from territory_router.domain import TagMethod, TagPrecision, Territory, TerritorySet


def _polygons(*extra: Territory, catch_all: str | None = None) -> TerritorySet:
    """Rough boxes: NORCAL (37-42 N) and SOCAL (32.5-37 N) of California, NEVADA; no regions listed."""
    return TerritorySet(
        territories=(
            Territory("NORCAL", "Northern California", geometry=box(-124.5, 37.0, -120.0, 42.0)),
            Territory("SOCAL", "Southern California", geometry=box(-121.0, 32.5, -114.1, 37.0)),
            Territory("NEVADA", "Nevada", geometry=box(-120.0, 37.0, -114.1, 42.0)),
            *extra,
        ),
        catch_all_territory_id=catch_all,
    )


def test_postal_only_lead_goes_to_the_polygon_of_its_zip_centroid(tagger_for, lead):
    tagger = tagger_for(_polygons())
    result = tagger.tag(lead(postal_code="94105-1234", country="US"))
    assert (result.territory_id, result.method, result.precision) == (
        "NORCAL",
        TagMethod.POSTAL_CENTROID,
        TagPrecision.POSTAL_CODE,
    )
    assert "placed at the ZIP 94105 centroid" in result.note and "no coordinates" in result.note
    south = tagger.tag(lead(postal_code="90012"))  # Los Angeles, no country: a ZIP says US
    assert (south.territory_id, south.method) == ("SOCAL", TagMethod.POSTAL_CENTROID)


def test_city_and_state_only(tagger_for, lead):
    tagger = tagger_for(_polygons())
    result = tagger.tag(lead(city="Reno", state="Nevada"))
    assert (result.territory_id, result.method, result.precision) == ("NEVADA", TagMethod.CITY_CENTROID, TagPrecision.CITY)
    unknown_zip = tagger.tag(lead(city="Los Angeles", state="CA", postal_code="00000"))
    assert unknown_zip.method is TagMethod.CITY_CENTROID and unknown_zip.territory_id == "SOCAL"
    assert tagger.tag(lead(city="Reno")).method is TagMethod.UNTAGGED  # a city alone is ambiguous


def test_postal_and_state_territories_keep_precedence(tagger_for, lead):
    listed = _polygons(
        Territory("SF", "SF ZIPs", postal_codes=frozenset({("US", "94105")})),
        Territory("NV", "Nevada by state", regions=frozenset({("US", "NV")})),
    )
    tagger = tagger_for(listed)
    by_zip = tagger.tag(lead(postal_code="94105"))
    assert (by_zip.territory_id, by_zip.method, by_zip.precision) == ("SF", TagMethod.POSTAL_CODE, TagPrecision.POSTAL_CODE)
    by_state = tagger.tag(lead(city="Reno", state="NV"))
    assert (by_state.territory_id, by_state.method, by_state.precision) == ("NV", TagMethod.STATE, TagPrecision.STATE)
    # A Nevada ZIP without a declared state: the ZIP tells the state, and the state territory wins.
    inferred = tagger.tag(lead(postal_code="89501"))
    assert (inferred.territory_id, inferred.method) == ("NV", TagMethod.STATE)
    assert "state US-NV taken from ZIP 89501" in inferred.note
    # Coordinates still win when present.
    located = tagger.tag(lead(latitude=39.53, longitude=-119.81, postal_code="94105", state="NV"))
    assert (located.territory_id, located.method, located.precision) == ("NEVADA", TagMethod.POLYGON, TagPrecision.ROOFTOP)


def test_centroid_near_a_polygon_and_beyond_everything(tagger_for, lead):
    tagger = tagger_for(_polygons(catch_all="NONE"))
    # Key West FL (33040) is far from every box: catch-all, with the reason.
    far = tagger.tag(lead(postal_code="33040"))
    assert (far.territory_id, far.method, far.precision) == ("NONE", TagMethod.CATCH_ALL, TagPrecision.NONE)
    assert "ZIP 33040 centroid" in far.note and "lies within 25 km of it" in far.note
    # Wendover UT lies ~5 km east of NEVADA's edge (-114.1): within the tolerance.
    near = tagger.tag(lead(city="Wendover", state="UT"))
    assert (near.territory_id, near.method, near.precision) == ("NEVADA", TagMethod.CITY_CENTROID, TagPrecision.CITY)
    assert near.note.endswith("(tolerance 25 km)")
    assert "nearest is NEVADA" in near.note


def test_gazetteer_can_be_turned_off(tagger_for, lead):
    result = tagger_for(_polygons(), use_gazetteer=False).tag(lead(postal_code="94105"))
    assert result.method is TagMethod.UNTAGGED and "centroid" not in result.note


def test_salesforce_geocode_accuracy_lowers_the_precision_of_coordinates(tagger_for, lead):
    tagger = tagger_for(_polygons())
    zip_level = lead(latitude=37.79, longitude=-122.39, sf_fields={"GeocodeAccuracy": "Zip"})
    rooftop = lead(latitude=37.79, longitude=-122.39, sf_fields={"GeocodeAccuracy": "Address"})
    one, many = tagger.tag(zip_level), tagger.tag_many([zip_level, rooftop])
    assert one == many[0]
    assert (one.method, one.precision) == (TagMethod.POLYGON, TagPrecision.POSTAL_CODE)
    assert "Salesforce geocoded these coordinates to Zip accuracy" in one.note
    assert many[1].precision is TagPrecision.ROOFTOP


def test_identical_addresses_share_one_result(tagger_for, lead):
    tagger = tagger_for(_polygons())
    results = tagger.tag_many([lead(n, postal_code="94105") for n in range(50)])
    assert len({id(r) for r in results}) == 1 and results[0].territory_id == "NORCAL"


def test_regions_of_a_polygon_territory_do_not_beat_the_centroid(tagger_for, lead):
    # NORCAL's polygon lists US-CA as its regions (a cross-check, not its definition): a Los Angeles ZIP goes to
    # SOCAL by its centroid; a Californian lead the gazetteer cannot place still falls back on NORCAL's state.
    territories = _polygons().territories
    norcal = Territory("NORCAL", "Northern California", geometry=territories[0].geometry,
                       regions=frozenset({("US", "CA")}))  # fmt: skip
    tagger = tagger_for(TerritorySet(territories=(norcal, *territories[1:])))
    la = tagger.tag(lead(postal_code="90012", state="CA"))
    assert (la.territory_id, la.method) == ("SOCAL", TagMethod.POSTAL_CENTROID)
    assert "contradicts" not in la.note  # SOCAL lists no regions: nothing to cross-check
    unknown = tagger.tag(lead(city="Atlantis", state="CA"))
    assert (unknown.territory_id, unknown.method, unknown.precision) == ("NORCAL", TagMethod.STATE, TagPrecision.STATE)
    assert "city 'Atlantis' (US-CA) is not in the gazetteer" in unknown.note
