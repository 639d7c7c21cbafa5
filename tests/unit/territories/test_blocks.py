"""Block CSVs: US states, counties, ZIP3 prefixes and ZIPs compile to the same territories drawn polygons do."""

from __future__ import annotations

import json

import pytest
import shapely

from territory_router.tagging.index import TerritoryIndex, compile_index
from territory_router.territories import blocks
from territory_router.territories.report import ValidationOptions
from territory_router.territories.validate import validate_files

HEADER = "territory_id,territory_name,block_type,block_id\n"


def _validate(rows: str, **options):
    return validate_files([("set.csv", (HEADER + rows).encode())], ValidationOptions(**options))


def test_catalog_holds_every_county_with_its_state():
    cat = blocks.catalog()
    assert len(cat.counties) == 3231
    assert cat.counties["08031"].label == "Denver, CO"
    assert len(cat.by_state["TX"]) == 254
    assert cat.counties["51610"].geometry is None  # Falls Church has no area at 1:10m
    assert all(c.geometry.is_valid for c in cat.counties.values() if c.geometry is not None)


def test_artifact_round_trip_keeps_coordinates_to_a_micro_degree():
    square = [[[-105.123456, 39.5], [-105.0, 39.5], [-105.0, 39.6], [-105.123456, 39.6], [-105.123456, 39.5]]]
    data = blocks.write_artifact(
        [("08031", "Denver", "CO", [square])], state_fips={"CO": "08"}, state_names={"CO": "Colorado"}
    )
    cat = blocks.BlockCatalog.from_bytes(data)
    got = cat.counties["08031"].geometry
    assert got.equals_exact(shapely.Polygon(square[0]), 1e-6)
    with pytest.raises(ValueError, match="not a building-block artifact"):
        blocks.BlockCatalog.from_bytes(b"XXXX" + data[4:])


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [("county", "8031", "08031"), ("county", "08031.0", "08031"), ("state", "co", "CO"), ("state", "8", "CO"),
     ("zip3", "21", "021"), ("zip", "80202-1234", "80202"), ("ZIP", "501", "00501")],
)  # fmt: skip
def test_block_ids_are_normalised(kind, value, expected):
    assert blocks.catalog().normalise(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [("county", "99999", "not a US county FIPS"), ("state", "XX", "not a US state"), ("zip3", "8021", "3-digit"),
     ("zip", "ABCDE", "5-digit US ZIP"), ("parish", "1", "block_type 'parish'")],
)  # fmt: skip
def test_bad_block_ids_say_why(kind, value, reason):
    with pytest.raises(blocks.BlockError, match=reason):
        blocks.catalog().normalise(kind, value)


def test_counties_dissolve_into_one_polygon_without_slivers():
    report = _validate("fr,Front Range,county,08031\nfr,Front Range,county,08005\nfr,Front Range,county,08059\n")
    assert report.valid, report.format_text()
    (territory,) = report.territories
    assert territory.geometry.geom_type == "Polygon"  # three neighbours: one piece, no hole between them
    assert not list(territory.geometry.interiors)
    cat = blocks.catalog()
    parts = [cat.counties[f].geometry for f in ("08031", "08005", "08059")]
    assert territory.geometry.area == pytest.approx(sum(p.area for p in parts), rel=1e-9)
    assert territory.metadata["blocks"] == ["county:08005", "county:08031", "county:08059"]


def test_state_and_zip_blocks_compile_to_regions_and_postal_keys_and_tag():
    report = _validate("co,Colorado,state,CO\nzips,ZIP areas,zip3,841\nzips,ZIP areas,zip,59001\n")
    assert report.valid, report.format_text()
    by_id = {t.territory_id: t for t in report.territories}
    assert by_id["co"].regions == {("US", "CO")}
    assert by_id["co"].geometry.covers(shapely.Point(-104.99, 39.74))  # Denver
    # the ZIP3 block brings its approximate area; a single ZIP has none
    assert by_id["zips"].geometry.equals(blocks.catalog().zip3_areas["841"])
    assert by_id["zips"].postal_codes == {("US", "841"), ("US", "59001")}
    index = TerritoryIndex.from_bytes(compile_index(report.territory_set))
    assert index.ids[index.polygon_hits(-104.99, 39.74)[0]] == "co"
    assert index.postal_lookup[("US", "841")] == index.positions["zips"]
    assert index.territory("co").metadata["blocks"] == ["state:CO"]


def test_overlaps_are_reported_per_block_and_a_whole_state_once():
    rows = "a,A,state,UT\nb,B,state,UT\nc,C,county,08031\nd,D,state,CO\n"
    report = _validate(rows, leads=((-104.99, 39.74),))
    blocks_listed = sorted((o.a, o.b, o.block) for o in report.overlaps)
    assert blocks_listed == [("a", "b", "state UT (Utah)"), ("c", "d", "county 08031 (Denver, CO)")]
    denver = next(o for o in report.overlaps if o.a == "c")
    assert denver.leads == 1 and "c wins (smaller area" in denver.resolution
    assert "both list county 08031 (Denver, CO), 1 lead -> c wins" in report.format_text()
    assert json.loads(json.dumps(report.to_dict()))["overlaps"][0]["block"]


def test_gaps_are_the_unlisted_counties_of_touched_states():
    cat = blocks.catalog()
    delaware = cat.by_state["DE"]  # three counties
    report = _validate("".join(f"de,Delaware,county,{f}\n" for f in delaware[:2]))
    assert report.valid
    assert [g.block for g in report.gaps] == [cat.label(f"county:{delaware[2]}")]
    assert report.gaps[0].area_km2 > 100


def test_a_drawn_polygon_covering_a_county_is_not_a_gap():
    cat = blocks.catalog()
    delaware = cat.by_state["DE"]
    block_csv = (HEADER + "".join(f"de,Delaware,county,{f}\n" for f in delaware[:2])).encode()
    rest = cat.counties[delaware[2]].geometry.buffer(0.01)
    drawn = {"type": "Feature", "properties": {"territory_id": "drawn"}, "geometry": shapely.geometry.mapping(rest)}
    report = validate_files([("set.csv", block_csv), ("drawn.geojson", json.dumps(drawn).encode())])
    assert not [g for g in report.gaps if g.block]


def test_bad_rows_are_errors_with_the_line():
    report = _validate("a,A,county,99999\na,A,county,\nb,B,state,CO\n")
    assert not report.valid
    reasons = sorted(f"{i.territory}: {i.reason}" for i in report.errors)
    assert reasons == [
        "a: line 2: county '99999' is not a US county FIPS code (5 digits, e.g. 08031)",
        "a: line 3: empty block_type or block_id",
    ]


def test_a_block_listed_twice_by_one_territory_is_a_warning():
    report = _validate("a,A,county,08031\na,A,county,8031\n")
    assert report.valid
    assert [w.code for w in report.warnings] == ["duplicate_block"]


def test_every_located_zip_has_its_county_from_the_full_gazetteer():
    from territory_router.geography.gazetteer import NO_LOCATION, default_gazetteer

    cat = blocks.catalog()
    gaz = default_gazetteer()
    located = {f"{int(z):05d}" for z, lat in zip(gaz.zips, gaz.zip_lat, strict=True) if lat != NO_LOCATION}
    assert len(located) > 41_000  # every US ZIP with a centroid, not a sample
    counted = {code for codes in cat.zips.values() for code in codes}
    # all but Palau, the Marshall Islands and one APO, which lie in no US county
    assert located - counted == {"96507", "96940", "96960"}
    assert cat.county_of_zip("80202") == "08031"  # downtown Denver
    assert cat.county_of_zip("94105") == "06075"  # San Francisco
    assert cat.county_of_zip("99999") is None and cat.county_of_zip("802") is None
    assert cat.zip_source["located_zips"] == len(located)


def test_county_territories_answer_for_every_located_zip_inside_them():
    """A postal-only lead finds its county territory for every located ZIP: one territory per county of four
    states (so many ZIP3 areas are split between territories), tagged without the gazetteer's centroids, so only the
    postal keys the counties answer for can place the leads."""
    from territory_router.domain.leads import Lead
    from territory_router.tagging.triage import Tagger, TaggingConfig

    cat = blocks.catalog()
    states = ("CO", "UT", "WY", "NM")
    report = _validate("".join(f"c{f},{f},county,{f}\n" for s in states for f in cat.by_state[s]))
    assert report.valid, report.format_text()
    index = TerritoryIndex.from_bytes(compile_index(report.territory_set))
    expected = {code: f"c{fips}" for s in states for fips in cat.by_state[s] for code in cat.zips.get(fips, ())}
    assert len(expected) > 1_500
    leads = [Lead(lead_id=f"00Q{n:012d}AAA", postal_code=code) for n, code in enumerate(sorted(expected))]
    tags = Tagger(index, TaggingConfig(use_gazetteer=False)).tag_many(leads)
    got = {lead.postal_code: tag.territory_id for lead, tag in zip(leads, tags, strict=True)}
    assert got == expected
    assert {tag.method.value for tag in tags} == {"POSTAL_CODE"}
    # compact: a prefix wholly inside one county stands for its ZIPs; split prefixes list their ZIPs
    denver = {code for t in report.territories if t.territory_id == "c08031" for _, code in t.postal_codes}
    assert "80202" in denver and "802" not in denver  # 802 is shared by the Denver metro counties


def test_a_whole_zip3_area_inside_a_territory_also_answers_for_zips_the_gazetteer_does_not_know():
    from territory_router.domain.leads import Lead
    from territory_router.tagging.triage import Tagger, TaggingConfig

    cat = blocks.catalog()
    report = _validate("".join(f"co,Colorado,county,{f}\n" for f in cat.by_state["CO"]))
    (territory,) = report.territories
    codes = {code for _, code in territory.postal_codes}
    assert {"800", "802", "816"} <= codes  # every located 800xx, 802xx, 816xx ZIP is in Colorado
    assert not any(len(c) == 5 and c[:3] in codes for c in codes)  # no ZIP repeated under its prefix
    assert not any(len(c) == 3 and not c.startswith(("80", "81")) for c in codes)
    unknown = next(f"802{n:02d}" for n in range(100) if cat.county_of_zip(f"802{n:02d}") is None)
    index = TerritoryIndex.from_bytes(compile_index(report.territory_set))
    (tag,) = Tagger(index, TaggingConfig()).tag_many([Lead(lead_id="00Q000000000001AAA", postal_code=unknown)])
    assert (tag.territory_id, tag.method.value) == ("co", "POSTAL_CODE")
    assert "postal code US 802 is listed by" in tag.note


def test_zips_derived_from_a_shared_county_are_not_a_second_overlap():
    denver_zip = blocks.catalog().zips["08031"][0]
    report = _validate(f"a,A,county,08031\nb,B,county,08031\nc,C,zip,{denver_zip}\n")
    assert [o.block for o in report.overlaps if o.block] == ["county 08031 (Denver, CO)"]
    postal = [o for o in report.overlaps if o.postal_codes]
    # a and b also share Denver's other derived ZIPs: not repeated; the ZIP listed by c is a real conflict
    assert postal and all(f"US-{denver_zip}" in o.postal_codes for o in postal)
    assert {(o.a, o.b) for o in postal} <= {("a", "c"), ("b", "c"), ("a", "b")}


def test_zip3_areas_tile_the_states_and_hold_their_zips():
    cat = blocks.catalog()
    areas = cat.zip3_areas
    assert len(areas) > 900 and cat.zip3_states["802"] == ("CO",)
    geoms = list(areas.values())
    assert shapely.coverage_is_valid(shapely.GeometryCollection(geoms))  # neighbours share identical edges
    denver = shapely.Point(-104.99, 39.74)
    assert [p for p, g in areas.items() if g.covers(denver)] == ["802"]
    # the areas tile Colorado (the union of its counties) up to the simplification
    colorado = shapely.union_all([g for p, g in areas.items() if cat.zip3_states[p][0] == "CO"])
    state = cat.state_geometry("CO")
    assert colorado.symmetric_difference(state).area < 0.002 * state.area
    assert cat.label("zip3:802") == "zip3 802 (CO)"


def test_a_zip3_without_located_zips_routes_by_postal_code_only_with_a_warning():
    report = _validate("x,X,zip3,000\n")
    assert report.valid
    assert [w.code for w in report.warnings] == ["zip3_without_area"]
    assert report.territories[0].geometry is None


def test_inside_an_approximate_zip3_area_the_leads_own_zip_decides():
    """Two neighbouring ZIP3 areas (Denver 802, Aurora-Littleton 801): a lead whose coordinates fall in 802's
    approximate area but whose ZIP is an 801 ZIP goes to the 801 territory, by its postal code; without a postal
    code, or with one nobody lists, the polygon decides."""
    from territory_router.domain.leads import Lead
    from territory_router.tagging.triage import Tagger, TaggingConfig

    report = _validate("den,Denver,zip3,802\nsub,Suburbs,zip3,801\ncos,Springs,county,08041\n")
    assert report.valid, report.format_text()
    index = TerritoryIndex.from_bytes(compile_index(report.territory_set))
    assert index.approximate_positions == {index.positions["den"], index.positions["sub"]}
    x, y = blocks.catalog().zip3_areas["802"].representative_point().coords[0]
    leads = [
        Lead(lead_id="00Q000000000001AAA", latitude=y, longitude=x, postal_code="80120"),  # an 801 ZIP
        Lead(lead_id="00Q000000000002AAA", latitude=y, longitude=x, postal_code="80202"),
        Lead(lead_id="00Q000000000003AAA", latitude=y, longitude=x),
        Lead(lead_id="00Q000000000004AAA", latitude=y, longitude=x, postal_code="59001"),  # listed by nobody
    ]
    tagger = Tagger(index, TaggingConfig())
    many = tagger.tag_many(leads)
    one = [Tagger(index, TaggingConfig()).tag(lead) for lead in leads]
    for tags in (many, one):
        assert [(t.territory_id, t.method.value) for t in tags] == [
            ("sub", "POSTAL_CODE"), ("den", "POLYGON"), ("den", "POLYGON"), ("den", "POLYGON"),
        ]  # fmt: skip
        assert "an approximate ZIP3 area; the lead's ZIP decides: postal code US 801 is listed by" in tags[0].note
    # a county territory's polygon is exact: its leads are not second-guessed by their ZIP
    springs = blocks.catalog().counties["08041"].geometry.representative_point()
    (tag,) = tagger.tag_many([Lead(lead_id="00Q000000000005AAA", latitude=springs.y, longitude=springs.x,
                                   postal_code="80202")])  # fmt: skip
    assert (tag.territory_id, tag.method.value) == ("cos", "POLYGON")


def test_zip3_territories_report_overlaps_and_gaps_per_area_and_draw_their_outlines():
    cat = blocks.catalog()
    utah = sorted(p for p, states in cat.zip3_states.items() if states[0] == "UT")
    assert len(utah) >= 3
    rows = "".join(f"a,A,zip3,{p}\n" for p in utah[:-1]) + f"b,B,zip3,{utah[0]}\n"
    report = _validate(rows)
    assert [(o.a, o.b, o.block) for o in report.overlaps] == [("b", "a", cat.label(f"zip3:{utah[0]}"))]
    assert [g.block for g in report.gaps] == [cat.label(f"zip3:{utah[-1]}")]  # the one Utah area nobody lists
    outlines = blocks.block_outlines(report.territories)
    assert len(outlines) == len(utah) - 1
    # a ZIP3 territory against a county territory: their shared ground is one area overlap
    mixed = _validate(f"z,Z,zip3,{utah[0]}\nc,C,state,UT\n")
    assert [(o.block, o.area_km2 > 0) for o in mixed.overlaps] == [(None, True)]
