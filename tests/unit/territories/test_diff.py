"""diff_sets: added/removed/changed territories and leads that would change territory."""

from __future__ import annotations

import json

import pytest

from territory_router.territories.validate import validate_files
from territory_router_tools.territories.diff import LeadPoint, diff_sets, locate, read_leads_csv


def _set(*features):
    data = json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()
    report = validate_files([("t.geojson", data)])
    assert report.valid
    return report.territory_set.territories


def _sq(tid, x, y, size=1.0, **props):
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {
        "type": "Feature",
        "properties": {"territory_id": tid, "name": props.pop("name", tid), **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_diff_lists_added_removed_changed_and_lead_moves():
    old = _set(_sq("A", 0, 0), _sq("B", 1, 0), _sq("C", 5, 5), _sq("D", 8, 8, name="Dee"))
    new = _set(_sq("A", 0, 0, 1.5), _sq("B", 1, 0, priority=1), _sq("E", 5, 5), _sq("D", 8, 8, name="D"))
    leads = [
        LeadPoint("in-A", 0.5, 0.5),
        LeadPoint("A-B-border-zone", 1.2, 0.5),  # B before; now in A (bigger) and B (priority 1): B wins
        LeadPoint("A-grown", 0.5, 1.2),  # nowhere before; now in A
        LeadPoint("C-to-E", 5.5, 5.5),
        LeadPoint("nowhere", 50, 50),
    ]
    diff = diff_sets(old, new, leads=leads)
    assert diff.added == ["E"] and diff.removed == ["C"]
    changes = {c.territory_id: c.changes for c in diff.changed}
    assert set(changes) == {"A", "B", "D"}
    assert changes["B"] == ("priority None -> 1",)
    assert changes["D"] == ("name 'Dee' -> 'D'",)
    assert changes["A"][0].startswith("area +") and "-0.00 km²" in changes["A"][0]
    moves = {m.lead_id: (m.old, m.new) for m in diff.lead_moves}
    assert moves == {"A-grown": (None, "A"), "C-to-E": ("C", "E")}
    assert diff.leads_checked == 5
    assert "2 of 5 leads would change territory" in diff.format_text()


def test_locate_uses_precedence():
    territories = _set(_sq("big", 0, 0, 4), _sq("small", 1, 1, 1))
    assert locate(territories, [LeadPoint("x", 1.5, 1.5), LeadPoint("y", 3.5, 3.5)]) == ["small", "big"]


def test_read_leads_csv_salesforce_export():
    data = b"Id,Company,Latitude,Longitude\n00Q1,Acme,37.77,-122.41\n00Q2,NoGeo,,\n00Q3,Bad,95,10\n"
    points, skipped = read_leads_csv(data)
    assert points == [LeadPoint("00Q1", -122.41, 37.77)]
    assert skipped == 2
    with pytest.raises(ValueError, match="Latitude and Longitude"):
        read_leads_csv(b"Id,Name\n1,x\n")
