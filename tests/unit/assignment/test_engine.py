"""The pure decision: eligibility order, the trail, overflow and fallbacks, exclusions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from territory_router.assignment.engine import decide, format_trail
from territory_router.assignment.roster import Roster, parse_roster, sf_id18
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, TagMethod, TagResult

R = [sf_id18(f"005{i:012d}") for i in range(10)]
Q = sf_id18("00G000000000001")
QG = sf_id18("00G000000000002")
# Monday 2026-11-30 15:00 UTC = 10:00 in New York, 07:00 in Los Angeles
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def roster(reps: list[dict], groups: list[dict], **extra) -> Roster:
    import json

    result = parse_roster("r.json", json.dumps({"default_fallback_owner": Q, "reps": reps, "groups": groups, **extra}).encode())
    assert result.valid, result.errors
    return result.roster


def lead(**fields) -> Lead:
    return Lead(lead_id="00Q000000000001AAA", **fields)


def tag(t: str | None = "WEST") -> TagResult:
    return TagResult(territory_id=t, method=TagMethod.POLYGON)


def candidates(decision) -> dict[str, str]:
    return {c["rep_id"]: c.get("reason", "eligible") for g in decision.trail["groups"] for c in g["candidates"]}


def test_each_filter_gives_its_reason() -> None:
    r = roster(
        [
            {"rep_id": R[1], "name": "Inactive", "active": False},
            {"rep_id": R[2], "name": "Early", "working_hours": {"tz": "America/Los_Angeles", "days": "Mon-Fri", "start": "08:00", "end": "17:00"}},
            {"rep_id": R[3], "name": "Away", "out_of_office": [{"start": "2026-11-27", "end": "2026-12-02", "note": "vacation"}],
             "working_hours": {"tz": "America/New_York"}},
            {"rep_id": R[4], "name": "No Spanish", "languages": ["en"]},
            {"rep_id": R[5], "name": "Full", "languages": ["es"], "capacity": 2},
            {"rep_id": R[6], "name": "Ok", "languages": ["es"], "capacity": 2},
        ],
        [{"group_id": "WEST", "territories": ["WEST"], "members": R[1:7]}],
        skill_rules=[{"field": "language", "values": ["es", "spanish"], "skills": ["es"]}],
    )
    d = decide(lead(language="Spanish"), tag(), r, {R[5]: 2, R[6]: 1}, {}, NOW)
    reasons = candidates(d)
    assert reasons[R[1]] == "inactive"
    assert reasons[R[2]] == "outside working hours (Mon 07:00 America/Los_Angeles; works Mon-Fri 08:00-17:00)"
    assert reasons[R[3]] == "out of office until 2026-12-03T00:00-05:00 (vacation)"
    assert reasons[R[4]] == "missing skill es"
    assert reasons[R[5]] == "at capacity 2/2"
    assert reasons[R[6]] == "eligible"
    assert d.owner_id == R[6] and d.outcome == "rep" and d.rep_id == R[6] and not d.fallback
    assert d.trail["required_skills"] == ["es"]
    text = format_trail(d.trail)
    assert "✓ " + R[6] in text and "at capacity 2/2" in text


def test_inactive_is_reported_before_other_reasons() -> None:
    r = roster(
        [{"rep_id": R[1], "active": False, "capacity": 0, "working_hours": {"tz": "UTC", "days": "Sat"}}],
        [{"group_id": "WEST", "territories": ["WEST"], "members": [R[1]]}],
    )
    assert candidates(decide(lead(), tag(), r, {}, {}, NOW))[R[1]] == "inactive"


def test_overflow_then_group_fallback_then_global() -> None:
    reps = [{"rep_id": R[1], "capacity": 1}, {"rep_id": R[2], "capacity": 1}]
    groups = [
        {"group_id": "PACIFIC", "territories": ["PACIFIC"], "members": [R[1]], "overflow_group": "WEST"},
        {"group_id": "WEST", "territories": ["WEST"], "members": [R[2]], "fallback_owner": QG},
        {"group_id": "EAST", "territories": ["EAST"], "members": [R[1]]},
    ]
    r = roster(reps, groups)
    d = decide(lead(), tag("PACIFIC"), r, {R[1]: 1}, {}, NOW)
    assert (d.owner_id, d.outcome, d.group_id) == (R[2], "overflow", "WEST")
    assert [g["role"] for g in d.trail["groups"]] == ["primary", "overflow"]
    d = decide(lead(), tag("PACIFIC"), r, {R[1]: 1, R[2]: 1}, {}, NOW)
    assert (d.owner_id, d.outcome, d.owner_kind, d.rep_id) == (QG, "group_fallback", "QUEUE", None)
    d = decide(lead(), tag("EAST"), r, {R[1]: 1}, {}, NOW)
    assert (d.owner_id, d.outcome) == (Q, "global_fallback")
    d = decide(lead(), tag("NOWHERE"), r, {}, {}, NOW)
    assert (d.owner_id, d.outcome) == (Q, "global_fallback") and "no assignment group" in d.trail["summary"]
    d = decide(lead(), tag(None), r, {}, {}, NOW)
    assert d.owner_id == Q


def test_star_group_takes_unclaimed_territories() -> None:
    r = roster([{"rep_id": R[1]}, {"rep_id": R[2]}], [
        {"group_id": "WEST", "territories": ["WEST"], "members": [R[1]]},
        {"group_id": "ANY", "territories": ["*"], "members": [R[2]]},
    ])
    assert decide(lead(), tag("WEST"), r, {}, {}, NOW).owner_id == R[1]
    assert decide(lead(), tag("MARS"), r, {}, {}, NOW).owner_id == R[2]
    assert decide(lead(), tag(None), r, {}, {}, NOW).owner_id == R[2]


def test_excluded_previous_owners_and_sf_field_rules() -> None:
    r = roster(
        [{"rep_id": R[1], "skills": ["enterprise"]}, {"rep_id": R[2]}, {"rep_id": R[3], "skills": ["enterprise"]}],
        [{"group_id": "WEST", "territories": ["WEST"], "members": R[1:4]}],
        skill_rules=[{"field": "AnnualRevenue_Band__c", "values": ["Enterprise"], "skills": ["enterprise"], "territories": ["WEST"]}],
    )
    big = lead(sf_fields={"AnnualRevenue_Band__c": "enterprise"})
    d = decide(big, tag(), r, {}, {}, NOW, exclude_reps=[R[1]])
    assert d.owner_id == R[3]
    reasons = candidates(d)
    assert reasons[R[1]] == "excluded: previous owner" and reasons[R[2]] == "missing skill enterprise"
    # rule scoped to WEST: the same lead elsewhere needs nothing
    r2 = roster([{"rep_id": R[2]}], [{"group_id": "EAST", "territories": ["EAST"], "members": [R[2]]}],
                skill_rules=[{"field": "AnnualRevenue_Band__c", "values": ["Enterprise"], "skills": ["enterprise"], "territories": ["WEST"]}])
    assert decide(big, tag("EAST"), r2, {}, {}, NOW).owner_id == R[2]


def test_overnight_shift_and_ooo_instants() -> None:
    r = roster(
        [
            {"rep_id": R[1], "working_hours": {"tz": "Asia/Manila", "days": "Sun-Thu", "start": "22:00", "end": "06:00"}},
            {"rep_id": R[2], "out_of_office": [{"start": "2026-11-30T14:00:00Z", "end": "2026-11-30T15:00:00Z"}]},
        ],
        [{"group_id": "WEST", "territories": ["WEST"], "members": [R[1], R[2]]}],
    )
    # 15:00 UTC Monday = 23:00 Monday in Manila: inside the Monday night shift; R2's absence ended at 15:00
    d = decide(lead(), tag(), r, {}, {}, NOW)
    assert candidates(d) == {R[1]: "eligible", R[2]: "eligible"}
    friday_night = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # Friday 23:00 Manila: no shift starts Friday
    assert "outside working hours (Fri 23:00" in candidates(decide(lead(), tag(), r, {}, {}, friday_night))[R[1]]
    saturday_early = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # Saturday 04:00 Manila: tail of no Friday shift
    assert "outside" in candidates(decide(lead(), tag(), r, {}, {}, saturday_early))[R[1]]
    monday_early = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # Monday 04:00 Manila: tail of the Sunday shift
    assert candidates(decide(lead(), tag(), r, {}, {}, monday_early))[R[1]] == "eligible"


def test_round_robin_pointer_in_trail_and_naive_now_rejected() -> None:
    r = roster([{"rep_id": R[1]}, {"rep_id": R[2]}], [{"group_id": "WEST", "territories": ["WEST"], "members": [R[1], R[2]]}])
    d = decide(lead(), tag(), r, {}, {"WEST": PointerState("WEST", 7, R[1])}, NOW)
    assert d.owner_id == R[2] and d.pointer == PointerState("WEST", 8, R[2], {})
    assert d.trail["groups"][0]["pointer"] == {"seq": 7, "last_rep_id": R[1]}
    with pytest.raises(ValueError):
        decide(lead(), tag(), r, {}, {}, datetime(2026, 11, 30, 15, 0))


def test_big_groups_keep_a_small_trail() -> None:
    ids = [sf_id18(f"005{i:012d}") for i in range(100, 160)]
    r = roster([{"rep_id": i, "capacity": 1} for i in ids], [{"group_id": "WEST", "territories": ["WEST"], "members": ids}])
    loads = {i: 1 for i in ids[:-1]}  # only the last member is free
    d = decide(lead(), tag(), r, loads, {}, NOW)
    g = d.trail["groups"][0]
    assert d.owner_id == ids[-1] and g["chosen"] == ids[-1]
    assert len(g["candidates"]) == 40 and ids[-1] in {c["rep_id"] for c in g["candidates"]}
    assert g["omitted"] == {"count": 20, "eligible": 0}
    assert "… and 20 more member(s), 0 of them eligible" in format_trail(d.trail)


def test_working_hours_and_ooo_validation() -> None:
    import json

    bad = {
        "default_fallback_owner": Q,
        "reps": [
            {"rep_id": R[1], "working_hours": {"tz": "UTC", "start": "24:00", "end": "08:00"}},
            {"rep_id": R[2], "out_of_office": [{"start": "2026-12-10", "end": "2026-12-01"}]},
            {"rep_id": R[3], "out_of_office": [{"start": "2026-12-10T10:00:00", "end": "2026-12-11"}]},
        ],
    }
    result = parse_roster("r.json", json.dumps(bad).encode())
    reasons = {e["rep"]: e["reason"] for e in result.errors}
    assert "before 24:00" in reasons[R[1]]
    assert "ends (2026-12-01) before it starts" in reasons[R[2]]
    assert "offset" in reasons[R[3]]
