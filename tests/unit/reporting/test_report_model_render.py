"""Report model (sums over days, joins roster and territories), files (CSV/JSON) and HTML structure."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime

import pytest
from shapely.geometry import box

from territory_router.domain.territory import Territory
from territory_router_tools.reporting.model import RepInfo, build_report, csv_files, days_between, to_json
from territory_router_tools.reporting.render import render_report_html

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
A, B, GONE = "005000000000001AAA", "005000000000002AAA", "005000000000009AAA"
TERRITORIES = [
    Territory("WEST", "West", geometry=box(-124, 32, -114, 49)),
    Territory("EAST", "East", geometry=box(-80, 30, -70, 45)),
    Territory("HAWAII", "Hawaii", geometry=box(-160, 19, -155, 22)),  # far away: drawn as an inset
    Territory("ZIPS", "By postal code"),  # no polygon: in the tables, not on the map
]
REPS = [RepInfo(A, "Ada", capacity=10, open_leads=9), RepInfo(B, "Bob", capacity=20, open_leads=2)]


def items():
    return [
        {"pk": "AGG#2026-11-27", "sk": "TERRITORY#WEST", "assigned": 5, "sla_breaches": 1, "ttft_sum_s": 600, "ttft_count": 2,
         "tag_POLYGON": 5, "day": "2026-11-27", "territory_id": "WEST", "updated_at": "x"},
        {"pk": "AGG#2026-11-28", "sk": "TERRITORY#WEST", "assigned": 3, "rerouted": 1, "sla_breaches": 1, "ttft_sum_s": 300,
         "ttft_count": 1},
        {"pk": "AGG#2026-11-28", "sk": "TERRITORY#EAST", "assigned": 2, "attended": 2, "tag_POLYGON": 1,
         "tag_POSTAL_CENTROID": 1, "precision_ROOFTOP": 1, "precision_POSTAL_CODE": 1},
        {"pk": "AGG#2026-11-28", "sk": "TERRITORY#OLD", "assigned": 1},  # retired territory
        {"pk": "AGG#2026-11-28", "sk": "TERRITORY#(none)", "assigned": 1, "tag_UNTAGGED": 1},
        {"pk": "AGG#2026-11-20", "sk": "TERRITORY#WEST", "assigned": 100},  # outside the range
        {"pk": "AGG#2026-11-27", "sk": f"REP#{A}", "assigned": 4, "attended": 2, "ttft_sum_s": 600, "ttft_count": 2},
        {"pk": "AGG#2026-11-28", "sk": f"REP#{A}", "assigned": 1},
        {"pk": "AGG#2026-11-28", "sk": f"REP#{GONE}", "assigned": 2, "missed": 1},
    ]


@pytest.fixture
def model():
    return build_report(items(), start=date(2026, 11, 26), end=date(2026, 11, 28), territories=TERRITORIES, reps=REPS,
                        generated_at=NOW, territory_version="v1")


def test_sums_over_the_range_only(model):
    rows = {r.territory_id: r for r in model.territories}
    assert rows["WEST"].counters == {"assigned": 8, "sla_breaches": 2, "ttft_sum_s": 900, "ttft_count": 3, "tag_POLYGON": 5,
                                     "rerouted": 1}
    assert rows["WEST"].ttft_avg_s == 300 and rows["WEST"].breach_rate == 0.25
    assert model.totals["assigned"] == 8 + 2 + 1 + 1
    assert model.days == ["2026-11-26", "2026-11-27", "2026-11-28"]
    assert model.daily_value("2026-11-28", "WEST", "assigned") == 3


def test_territories_busiest_first_retired_and_untagged_kept(model):
    ids = [r.territory_id for r in model.territories]
    assert ids[:2] == ["WEST", "EAST"]
    rows = {r.territory_id: r for r in model.territories}
    assert rows["OLD"].in_active_set is False and rows["(none)"].in_active_set is False
    assert rows["HAWAII"].volume == 0 and rows["ZIPS"].in_active_set  # active but quiet: still listed


def test_reps_joined_with_roster_and_counters(model):
    reps = {r.rep.rep_id: r for r in model.reps}
    assert reps[A].counters == {"assigned": 5, "attended": 2, "ttft_sum_s": 600, "ttft_count": 2}
    assert reps[A].load_ratio == 0.9
    assert reps[B].counters == {} and reps[B].in_roster
    assert reps[GONE].in_roster is False and reps[GONE].rep.capacity is None
    assert model.reps[0].rep.rep_id == A  # fullest first


def test_csv_and_json_carry_the_same_numbers(model):
    files = csv_files(model)
    territories = {r["territory_id"]: r for r in csv.DictReader(io.StringIO(files["territories.csv"]))}
    assert territories["WEST"]["assigned"] == "8" and territories["WEST"]["ttft_avg_s"] == "300.0"
    daily = list(csv.DictReader(io.StringIO(files["daily.csv"])))
    assert sum(int(r["assigned"]) for r in daily) == model.totals["assigned"]
    reps = {r["rep_id"]: r for r in csv.DictReader(io.StringIO(files["reps.csv"]))}
    assert reps[A]["open_leads"] == "9" and reps[A]["capacity"] == "10" and reps[GONE]["capacity"] == ""
    data = json.loads(json.dumps(to_json(model)))
    assert data["totals"]["assigned"] == 12 and data["from"] == "2026-11-26" and data["territory_version"] == "v1"
    assert {t["territory_id"]: t["assigned"] for t in data["territories"]} == {k: int(v["assigned"]) for k, v in territories.items()}


def test_share_of_leads_by_precision_per_territory(model):
    rows = {r.territory_id: r for r in model.territories}
    assert rows["EAST"].precision_shares == {"ROOFTOP": 0.5, "POSTAL_CODE": 0.5}
    assert rows["WEST"].precision_shares == {}  # aggregates from before precision existed
    territories = {r["territory_id"]: r for r in csv.DictReader(io.StringIO(csv_files(model)["territories.csv"]))}
    assert territories["EAST"]["share_postal_code"] == "0.5" and territories["EAST"]["precision_ROOFTOP"] == "1"
    page = render_report_html(model)
    table = page[page.index('id="table-territories"'):]
    assert "<th>located by</th>" in table and "rooftop 50% · postal code 50%" in table


def test_html_is_self_contained_and_has_every_part(model):
    page = render_report_html(model)
    for element in ("summary", "map-volume", "map-breaches", "chart-volume", "chart-ttft", "chart-rep-load",
                    "table-territories", "table-reps"):
        assert f'id="{element}"' in page, element
    assert "<script" not in page and "@import" not in page and "url(http" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from anywhere
    assert set(re.findall(r"https?://[^\"' ]+", page)) <= {"http://www.w3.org/2000/svg"}
    # each map: every territory with a polygon is drawn and shaded, none without
    volume_map = page[page.index('id="map-volume"'):page.index("</svg>", page.index('id="map-volume"'))]
    assert set(re.findall(r'class="territory" data-id="([^"]+)"', volume_map)) == {"WEST", "EAST", "HAWAII"}
    assert re.search(r'data-id="WEST" data-value="8"', volume_map)
    assert 'class="inset"' in volume_map  # Hawaii is far from the others
    breaches_map = page[page.index('id="map-breaches"'):]
    assert re.search(r'data-id="WEST" data-value="2"', breaches_map)
    # volume chart: one bar per (day, territory) with leads; the rep chart: one bar per roster rep
    volume = page[page.index('id="chart-volume"'):page.index("</svg>", page.index('id="chart-volume"'))]
    assert volume.count('class="bar"') == 5  # 27th: WEST; 28th: WEST, EAST, OLD, (none)
    reps = page[page.index('id="chart-rep-load"'):page.index("</svg>", page.index('id="chart-rep-load"'))]
    assert reps.count('class="bar"') == 2
    ttft = page[page.index('id="chart-ttft"'):page.index("</svg>", page.index('id="chart-ttft"'))]
    assert ttft.count('class="point"') == 2  # WEST on two days


def test_names_are_escaped():
    hostile = [Territory("X", "<script>alert(1)</script>", geometry=box(0, 0, 1, 1))]
    page = render_report_html(build_report([{"pk": "AGG#2026-11-28", "sk": "TERRITORY#X", "assigned": 1}],
                                           start=date(2026, 11, 28), end=date(2026, 11, 28), territories=hostile,
                                           generated_at=NOW))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_empty_stack_still_renders():
    page = render_report_html(build_report([], start=date(2026, 11, 28), end=date(2026, 11, 28), generated_at=NOW))
    assert 'id="map-volume"' in page and "no active roster" in page


def test_date_range_is_checked():
    with pytest.raises(ValueError, match="before"):
        days_between(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(ValueError, match="at most"):
        days_between(date(2020, 1, 1), date(2026, 1, 1))
    assert len(days_between(date(2026, 2, 27), date(2026, 3, 1))) == 3
