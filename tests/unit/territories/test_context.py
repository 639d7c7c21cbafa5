"""Every map gets light geographic context: land and country outlines, US state lines, names that fit."""

from __future__ import annotations

import re

import shapely

from territory_router.domain.territory import Territory
from territory_router.territories import context
from territory_router.territories.mapping import render_map_html
from territory_router.territories.validate import validate_files


def _square(tid, x, y, size):
    geometry = shapely.box(x, y, x + size, y + size)
    return Territory(territory_id=tid, name=tid.title(), geometry=geometry, area_km2=1.0)


def test_artifact_has_countries_and_every_state_with_label_points():
    features = context.features()
    countries = {f.name for f in features if f.kind == "country"}
    states = {f.code for f in features if f.kind == "state"}
    assert {"Canada", "Mexico", "United States of America", "France"} <= countries
    assert len(states) == 56 + 13 and {"CO", "PR", "DC"} <= states  # US states and Canada's provinces
    colorado = next(f for f in features if f.code == "CO")
    assert colorado.geometry.contains(shapely.Point(colorado.label_at))
    # no part spans the antimeridian (it would draw a line across the whole map)
    assert all(p.bounds[2] - p.bounds[0] <= 180 for f in features for p in getattr(f.geometry, "geoms", [f.geometry]))


def test_a_us_map_shows_neighbouring_countries_state_lines_and_state_names():
    page = render_map_html([_square("west", -110, 30, 10), _square("east", -95, 40, 10)], title="t")
    land = re.search(r'<g class="context context-land".*?</g>', page).group(0)
    assert 'data-name="Canada"' in land and 'data-name="Mexico"' in land
    assert 'data-name="France"' not in land  # clipped to the frame
    states = re.search(r'<g class="context context-states".*?</g>', page).group(0)
    assert 'data-name="Colorado"' in states
    labels = re.search(r'<g class="context context-labels".*?</g>', page).group(0)
    assert ">Colorado<" in labels or ">CO<" in labels
    # land under the territories, state lines and names over them
    assert page.index("context-land") < page.index('id="territories"') < page.index("context-states")


def test_canadian_provinces_and_territories_are_outlined_and_named():
    from territory_router.geography.regions import CA_PROVINCES

    provinces = {f.code: f for f in context.features() if f.kind == "state" and f.code in CA_PROVINCES}
    assert set(provinces) == set(CA_PROVINCES)
    assert provinces["ON"].name == "Ontario"
    assert provinces["ON"].geometry.contains(shapely.Point(-80.99, 46.49))  # Sudbury
    assert provinces["QC"].geometry.contains(shapely.Point(-71.89, 45.40))  # Sherbrooke
    assert provinces["BC"].geometry.contains(shapely.Point(-120.33, 50.67))  # Kamloops
    page = render_map_html([_square("prairies", -120, 49, 22)], title="t")
    states = re.search(r'<g class="context context-states".*?</g>', page).group(0)
    assert {'data-name="Alberta"', 'data-name="Saskatchewan"', 'data-name="Montana"'} <= set(
        re.findall(r'data-name="[^"]+"', states)
    )
    labels = re.search(r'<g class="context context-labels".*?</g>', page).group(0)
    assert ">Saskatchewan<" in labels or ">SK<" in labels


def test_small_features_get_no_name_and_names_do_not_collide():
    page = render_map_html([_square("conus", -125, 24, 58)], title="t")
    labels = re.findall(r'<text class="context-label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]+)<', page)
    assert labels
    assert not any(text in ("Rhode Island", "RI") for _, _, text in labels)  # a few pixels wide at this zoom
    boxes = [(float(x), float(y), len(t)) for x, y, t in labels]
    for i, (x1, y1, n1) in enumerate(boxes):
        for x2, y2, n2 in boxes[i + 1 :]:
            assert abs(y1 - y2) >= 9 or abs(x1 - x2) >= (n1 + n2) * 3, "two names drawn on top of each other"


def test_context_can_be_turned_off():
    page = render_map_html([_square("a", 0, 0, 1)], context=False)
    assert "context-land" not in page


def test_block_territories_show_their_block_outlines_faintly():
    csv = b"territory_id,territory_name,block_type,block_id\nde,Delaware,state,DE\n"
    report = validate_files([("de.csv", csv)])
    page = render_map_html(report)
    layer = re.search(r'<g id="blocks"[^>]*>(.*?)</g>', page)
    assert 'stroke-opacity="0.22"' in layer.group(0)
    assert layer.group(1).count('class="block"') == 3  # Delaware's three counties
    assert page.index('id="blocks"') < page.index('id="territories"')
