"""Roster files: JSON and CSV, validation reasons, derived groups, change warnings."""

from __future__ import annotations

import json
from pathlib import Path

from territory_router.assignment.roster import parse_days, parse_roster, roster_change_warnings, sf_id18

DATA = Path(__file__).resolve().parents[3] / "tooling" / "territory_router_tools" / "data"
R1, R2 = sf_id18("005000000000001"), sf_id18("005000000000002")
Q = sf_id18("00G000000000001")


def parse(doc: dict):
    return parse_roster("r.json", json.dumps(doc).encode())


def test_sample_roster_is_valid_and_complete() -> None:
    result = parse_roster("sample_roster.json", (DATA / "sample_roster.json").read_bytes())
    assert result.valid, result.errors
    roster = result.roster
    expected = {"WEST", "MOUNTAIN", "MIDWEST", "SOUTH_CENTRAL", "SOUTHEAST", "NORTHEAST", "MID_ATLANTIC", "PACIFIC", "PUERTO_RICO"}
    assert {t for g in roster.groups.values() for t in g.territories} == expected
    assert {g.strategy.value for g in roster.groups.values()} == {"round_robin", "weighted_round_robin", "least_loaded"}
    assert all(25 <= r.capacity <= 60 for r in roster.reps.values())
    assert all("spanish" in roster.reps[m].abilities for m in roster.groups["PUERTO_RICO"].members)
    assert sum(1 for r in roster.reps.values() if r.out_of_office) == 1
    assert roster.default_fallback_owner.startswith("00G")
    assert result.warnings == []


def test_errors_name_the_rep_or_group() -> None:
    result = parse(
        {
            "default_fallback_owner": Q,
            "reps": [
                {"rep_id": "00Q000000000001", "name": "Not a user"},
                {"rep_id": R1, "capacity": -1},
                {"rep_id": R2, "working_hours": {"tz": "Mars/Olympus", "days": "Mon-Fri"}},
            ],
            "groups": [
                {"group_id": "G1", "territories": ["WEST"], "members": [R1], "strategy": "random"},
                {"group_id": "G2", "territories": ["EAST"], "members": ["005000000000009"], "overflow_group": "NOPE"},
            ],
        }
    )
    assert not result.valid and result.roster is None
    reasons = {(e.get("rep") or e.get("group")): e["reason"] for e in result.errors}
    assert "User id" in reasons["00Q000000000001"]
    assert "capacity" in reasons[R1]
    assert "Mars/Olympus" in reasons[R2]
    assert "strategy" in reasons["G1"]
    assert any("NOPE" in e["reason"] for e in result.errors if e.get("group") == "G2")
    assert any("not a rep" in e["reason"] for e in result.errors if e.get("group") == "G2")


def test_default_fallback_required_and_territory_claimed_once() -> None:
    result = parse(
        {
            "reps": [{"rep_id": R1}],
            "groups": [
                {"group_id": "A", "territories": ["WEST"], "members": [R1]},
                {"group_id": "B", "territories": ["WEST"], "members": [R1]},
            ],
        }
    )
    assert not result.valid
    assert any(e.get("roster") == "default_fallback_owner" for e in result.errors)
    assert any("already served by group 'A'" in e["reason"] for e in result.errors)


def test_reps_territories_derive_groups_and_15_char_ids_expand() -> None:
    result = parse(
        {
            "default_fallback_owner": "00G000000000001",
            "default_strategy": "least_loaded",
            "reps": [
                {"rep_id": "005000000000001", "territories": ["WEST", "PACIFIC"]},
                {"rep_id": "005000000000002", "territories": "WEST"},
            ],
        }
    )
    assert result.valid, result.errors
    g = result.roster.groups
    assert g["WEST"].members == (R1, R2) and g["PACIFIC"].members == (R1,)
    assert g["WEST"].strategy.value == "least_loaded"
    assert result.roster.default_fallback_owner == Q
    assert result.roster.version.startswith("r-")
    # the same content gives the same version
    again = parse({"default_fallback_owner": Q, "default_strategy": "least_loaded", "reps": [
        {"rep_id": R1, "territories": ["WEST", "PACIFIC"]}, {"rep_id": R2, "territories": ["WEST"]}]})
    assert again.roster.version == result.roster.version


def test_csv_roster() -> None:
    text = (
        "rep_id,name,territories,skills,languages,capacity,weight,tz,days,start,end,out_of_office,active,strategy,fallback_owner,sla_minutes,default_fallback_owner\n"
        f"{R1},Ana,PUERTO_RICO,,es;en,30,2,America/Puerto_Rico,Mon-Fri,08:00,17:00,2026-12-24..2026-12-26,true,least_loaded,{Q},45,{Q}\n"
        f"{R2},Ben,PUERTO_RICO|SOUTHEAST,enterprise,en,40,,,,,,,yes,,,,\n"
    )
    result = parse_roster("team.csv", text.encode())
    assert result.valid, result.errors
    r = result.roster
    ana = r.reps[R1]
    assert ana.languages == ("en", "es") and ana.weight == 2 and ana.working_hours.tz == "America/Puerto_Rico"
    assert ana.out_of_office[0].start == "2026-12-24"
    pr = r.groups["PUERTO_RICO"]
    assert pr.members == (R1, R2) and pr.strategy.value == "least_loaded" and pr.sla_minutes == 45
    assert pr.fallback_owner == Q
    assert r.groups["SOUTHEAST"].members == (R2,)


def test_csv_bad_numbers_and_missing_column() -> None:
    bad = parse_roster("x.csv", f"rep_id,capacity,default_fallback_owner\n{R1},lots,{Q}\n".encode())
    assert not bad.valid and "whole number" in bad.errors[0]["reason"]
    nocol = parse_roster("x.csv", b"name\nAna\n")
    assert not nocol.valid and "rep_id" in nocol.errors[0]["reason"]
    assert not parse_roster("x.txt", b"{}").valid
    assert not parse_roster("x.json", b"{not json").valid


def test_removed_rep_with_open_leads_is_reported() -> None:
    old = parse({"default_fallback_owner": Q, "reps": [{"rep_id": R1, "territories": ["W"]}, {"rep_id": R2, "territories": ["W"]}]}).roster
    new = parse({"default_fallback_owner": Q, "reps": [{"rep_id": R2, "territories": ["W"], "capacity": 2}]}).roster
    warnings = roster_change_warnings(old, new, {R1: 4, R2: 3})
    assert {"rep": R1, "reason": warnings[0]["reason"]} == warnings[0] and "4 open lead" in warnings[0]["reason"]
    assert "capacity 2 is below their 3" in warnings[1]["reason"]
    assert roster_change_warnings(old, new, {}) == []


def test_day_specs() -> None:
    assert parse_days("Mon-Fri") == frozenset(range(5))
    assert parse_days("Fri-Mon") == frozenset({4, 5, 6, 0})
    assert parse_days("mon,wed") == frozenset({0, 2})
    assert parse_days("24x7") == frozenset(range(7))


def test_version_always_carries_the_content_hash() -> None:
    base = {"version": "2026-Q4", "default_fallback_owner": Q, "reps": [{"rep_id": R1, "territories": ["W"]}]}
    a = parse(base).roster.version
    changed = json.loads(json.dumps(base))
    changed["reps"][0]["capacity"] = 7
    b = parse(changed).roster.version
    assert a.startswith("2026-Q4-") and b.startswith("2026-Q4-") and a != b
    assert not parse({**base, "version": "bad version!"}).valid


def test_the_document_reports_every_top_level_problem_and_checks_the_rest() -> None:
    result = parse({
        "default_fallback_owner": "005xx",  # not an id
        "default_strategy": "coin_flip",
        "reps": "everyone",  # not a list: read as no reps, the groups are still checked
        "groups": [{"group_id": "G", "territories": ["W"], "members": [R1], "overflow_group": "G"}],
        "max_reroutes": -1,
        "colour": "blue",
    })
    assert not result.valid
    by_key = {e.get("roster") or e.get("group"): e["reason"] for e in result.errors}
    assert by_key["reps"] == "reps must be a list"
    assert "not a Salesforce id" in by_key["default_fallback_owner"]
    assert by_key["default_strategy"] == "unknown strategy 'coin_flip'"
    assert by_key["max_reroutes"].startswith("max_reroutes: Input should be greater than or equal to 0")
    assert any("points to itself" in e["reason"] for e in result.errors if e.get("group") == "G")
    assert any("is not a rep" in e["reason"] for e in result.errors if e.get("group") == "G")
    assert result.warnings[0] == {"roster": "colour", "reason": "unknown top-level key 'colour' ignored"}
