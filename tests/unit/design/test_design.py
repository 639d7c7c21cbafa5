"""Territory design on the shipped blocks: the graph, lead histories, the balance report, proposals and --keep."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from territory_router.territories.validate import validate_files
from territory_router_tools.design import propose as design
from territory_router_tools.design.balance import balance, cv, territory_blocks
from territory_router_tools.design.graph import DesignError, build_graph
from territory_router_tools.design.leads import LeadFileError, read_lead_history

REPO = Path(__file__).resolve().parents[3]
ZIPS = REPO / "tooling/territory_router_tools/data/us_zip_sample.csv"


def _leads_csv(states: set[str] | None = None, postal_every: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Id", "Latitude", "Longitude", "PostalCode"])
    for n, z in enumerate(csv.DictReader(io.StringIO(ZIPS.read_text()))):
        if states and z["state"] not in states:
            continue
        if postal_every and n % postal_every == 0:
            writer.writerow([f"L{n}", "", "", z["zip_code"]])
        else:
            writer.writerow([f"L{n}", z["lat"], z["lon"], z["zip_code"]])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def counties():
    return build_graph("counties")


def test_county_graph_joins_neighbours_by_shared_borders_and_bridges_other_land_masses(counties):
    index = counties.index()
    denver = index["08031"]
    neighbours = {counties.ids[n] for n in counties.graph.neighbors(denver)}
    assert {"08001", "08005", "08059"} <= neighbours  # Adams, Arapahoe, Jefferson
    assert len(counties.ids) == 3230  # Falls Church has no area at 1:10m
    import networkx as nx

    assert nx.is_connected(counties.graph)
    assert counties.land_mass[index["02020"]] != counties.land_mass[denver]  # Anchorage: another land mass
    assert counties.land_mass[index["25019"]] != counties.land_mass[denver]  # Nantucket: an island
    bridges = [(a, b) for a, b, bridge in counties.graph.edges(data="bridge") if bridge]
    assert len(bridges) == counties.land_mass.max()  # one bridge per land mass besides the largest


def test_within_keeps_only_those_states_and_refuses_unknown_codes():
    graph = build_graph("counties", ["co", "UT"])
    assert len(graph.ids) == 64 + 29 and set(graph.states) == {"CO", "UT"}
    with pytest.raises(DesignError, match="XX not US state codes"):
        build_graph("counties", ["CO", "XX"])
    with pytest.raises(DesignError, match="use counties, states or zip3"):
        build_graph("parishes")


def test_lead_history_uses_coordinates_then_zip_then_zip3():
    data = (b"Id,Latitude,Longitude,PostalCode\n1,39.74,-104.99,\n2,,,80202\n3,,,80298\n4,,,\n"
            b"5,0,0,09001\n")  # fmt: skip
    history = read_lead_history(data)
    assert history.how[:4] == ["coordinates", "zip", "zip3", "unlocated"]  # 80298 is no ZIP the gazetteer knows
    assert history.lonlat[1] == pytest.approx((-104.99, 39.75), abs=0.02)  # the gazetteer's 80202 centroid
    assert history.how[4] == "unlocated"  # (0, 0) is no place, 09001 is an APO ZIP without one
    assert history.located.tolist() == [True, True, True, False, False]
    with pytest.raises(LeadFileError, match="needs Latitude and Longitude columns or a PostalCode"):
        read_lead_history(b"Id,Name\n1,x\n")
    with pytest.raises(LeadFileError, match="no leads"):
        read_lead_history(b"Id,PostalCode\n")


def test_proposal_within_two_states_is_contiguous_and_balanced():
    graph = build_graph("counties", ["CO", "UT"])
    graph.count_leads(read_lead_history(_leads_csv({"CO", "UT"})).lonlat)
    assignment, eps = design.propose(graph, 4, seed=3)
    loads = np.bincount(assignment, weights=graph.leads, minlength=4)
    assert cv(loads) <= 0.05 and eps <= 0.04  # ~100 leads: lumpy counties may need ±4%
    for t in range(4):
        pieces, masses = graph.pieces(np.flatnonzero(assignment == t).tolist())
        assert pieces == masses == 1
    again, _ = design.propose(graph, 4, seed=3)
    assert (again == assignment).all()  # the seed makes it reproducible
    ids, names = design.names_for(graph, assignment, 4)
    assert ids == ["T01", "T02", "T03", "T04"] and all(names)
    report = validate_files([("p.csv", design.to_block_csv(graph, assignment, ids, names))])
    assert report.valid and not report.overlaps and not report.gaps


def test_states_that_cannot_be_split_finely_relax_the_tolerance_and_say_so():
    graph = build_graph("states", ["CO", "UT", "WY", "NM", "AZ", "NV"])
    graph.count_leads(read_lead_history(_leads_csv()).lonlat)
    assignment, eps = design.propose(graph, 3, seed=0)
    assert eps > 0.02 and len(set(assignment.tolist())) == 3


def test_proposal_refuses_impossible_requests():
    graph = build_graph("counties", ["DE"])
    with pytest.raises(DesignError, match="more territories than there are blocks"):
        design.propose(graph, 4)
    graph.leads = np.zeros(3, dtype=np.int64)
    with pytest.raises(DesignError, match="no lead falls in any building block"):
        design.propose(graph, 2)


def test_keep_moves_few_blocks_to_rebalance_and_keeps_territories_contiguous():
    graph = build_graph("counties", ["CO", "UT", "WY", "NM"])
    history = read_lead_history(_leads_csv({"CO", "UT", "WY", "NM"}))
    graph.count_leads(history.lonlat)
    start, _ = design.propose(graph, 4, seed=1)
    # the lead history changes: one territory's leads double
    graph.leads = graph.leads + np.where(start == 0, graph.leads, 0)
    before = cv(np.bincount(start, weights=graph.leads, minlength=4))
    assert before > 0.1
    repaired = design.repair(graph, start, 4, target_cv=0.05)
    after = cv(np.bincount(repaired, weights=graph.leads, minlength=4))
    moved = int((repaired != start).sum())
    assert after <= 0.05
    assert 0 < moved < 0.25 * len(graph.ids)
    for t in range(4):
        pieces, masses = graph.pieces(np.flatnonzero(repaired == t).tolist())
        assert pieces == masses


def test_balance_reports_leads_share_per_rep_compactness_and_contiguity(tmp_path):
    rows = ["territory_id,territory_name,block_type,block_id", "co,Colorado,state,CO", "ut,Utah,state,UT"]
    territories = validate_files([("s.csv", ("\n".join(rows) + "\n").encode())]).territories
    history = read_lead_history(_leads_csv({"CO", "UT", "WY"}))
    graph = build_graph("counties")
    report = balance(territories, history, graph)
    by_id = {r.territory_id: r for r in report.rows}
    assert by_id["co"].leads + by_id["ut"].leads == report.total_leads
    assert report.outside > 0  # the Wyoming leads
    assert by_id["co"].contiguous and by_id["co"].blocks == 64
    assert 0.5 < by_id["co"].compactness < 1  # a near rectangle
    assert report.basis == "leads per territory"
    assert report.cv == pytest.approx(cv([by_id["co"].leads, by_id["ut"].leads]))

    from territory_router.assignment.roster import parse_roster

    reps = [{"rep_id": f"005000000000{n:03d}AAA", "name": f"Rep {n}"} for n in range(3)]
    doc = {"default_fallback_owner": "00G000000000000AAA", "reps": reps,
           "groups": [{"group_id": "co", "territories": ["co"], "members": [r["rep_id"] for r in reps[:2]]},
                      {"group_id": "ut", "territories": ["ut"], "members": [reps[2]["rep_id"]]}]}  # fmt: skip
    roster = parse_roster("r.json", json.dumps(doc).encode()).roster
    with_reps = balance(territories, history, graph, roster)
    rows_ = {r.territory_id: r for r in with_reps.rows}
    assert rows_["co"].reps == 2 and rows_["co"].leads_per_rep == pytest.approx(by_id["co"].leads / 2)
    assert with_reps.basis == "leads per rep"
    loads = [by_id["co"].leads / 2] * 2 + [by_id["ut"].leads]
    assert with_reps.cv == pytest.approx(cv(loads))
    assert "CV of leads per rep" in with_reps.format_text()


def test_blocks_follow_drawn_territories_by_their_inside_point():
    import shapely

    from territory_router.domain.territory import Territory

    graph = build_graph("counties", ["CO"])
    west = Territory("west", "West", geometry=shapely.box(-110, 36, -105.2, 42), area_km2=1.0)
    owners = territory_blocks(graph, [west])
    assert owners[graph.index()["08077"]] == 0  # Mesa
    assert owners[graph.index()["08031"]] == -1  # Denver is east of the box


def test_runtime_never_imports_the_design_tooling():
    code = (
        "import sys\n"
        "from territory_router.territories.validate import validate_files\n"
        "import territory_router.services.territory_upload, territory_router.territories.mapping\n"
        "validate_files([('s.csv', b'territory_id,territory_name,block_type,block_id\\na,A,state,CO\\n')])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('networkx', 'gerrychain', 'geopandas', 'pandas')"
        " or m.startswith('territory_router_tools.design') or m.startswith('territory_router_tools.cli')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_zip3_graph_counts_a_lead_with_a_zip_in_its_prefix_area_and_proposes_contiguous_territories():
    graph = build_graph("zip3", ["CO", "UT"])
    assert set(graph.states) == {"CO", "UT"} and "802" in graph.ids and "841" in graph.ids
    index = graph.index()
    assert {graph.ids[n] for n in graph.graph.neighbors(index["802"])} >= {"801", "800"}
    # a lead whose coordinates lie in 802's approximate area but whose ZIP is an 801 ZIP counts for 801
    x, y = graph.geometries[index["802"]].representative_point().coords[0]
    graph.count_leads(np.array([[x, y], [x, y], [np.nan, np.nan]]), ["80120", None, "84101"])
    assert (graph.leads[index["801"]], graph.leads[index["802"]], graph.leads[index["841"]]) == (1, 1, 1)
    assert graph.unplaced_leads == 0
    history = read_lead_history(_leads_csv({"CO", "UT"}, postal_every=10))
    graph.count_leads(history.lonlat, history.postal)
    assignment, _ = design.propose(graph, 3, seed=1)
    assert cv(np.bincount(assignment, weights=graph.leads, minlength=3)) <= 0.05
    for t in range(3):
        pieces, masses = graph.pieces(np.flatnonzero(assignment == t).tolist())
        assert pieces == masses
    ids, names = design.names_for(graph, assignment, 3)
    report = validate_files([("p.csv", design.to_block_csv(graph, assignment, ids, names))])
    assert report.valid, report.format_text()
    assert all(t.geometry is not None and t.metadata["blocks"][0].startswith("zip3:") for t in report.territories)
    result = balance(list(report.territories), history, graph)
    assert result.cv <= 0.05 and result.outside == 0


def test_balance_counts_leads_the_way_the_tagger_routes_them():
    """Inside an approximate ZIP3 area the lead's ZIP decides; a lead without coordinates goes to the territory
    listing its ZIP; a county territory's polygon is exact and keeps its leads."""
    from territory_router_tools.design.balance import lead_owners

    rows = ("territory_id,territory_name,block_type,block_id\nden,Denver,zip3,802\nsub,Suburbs,zip3,801\n"
            "cos,Springs,county,08041\n")  # fmt: skip
    territories = list(validate_files([("s.csv", rows.encode())]).territories)
    graph = build_graph("zip3", ["CO"])
    x, y = graph.geometries[graph.index()["802"]].representative_point().coords[0]
    leads = (f"Id,Latitude,Longitude,PostalCode\na,{y},{x},80120\nb,{y},{x},80202\nc,,,80120\n"
             "d,38.85,-104.8,80202\n")  # fmt: skip
    history = read_lead_history(leads.encode())
    assert lead_owners(territories, history) == ["sub", "den", "sub", "cos"]
