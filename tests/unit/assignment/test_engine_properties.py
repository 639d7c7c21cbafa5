"""Properties of ``decide`` over random rosters, loads and clocks (hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from territory_router.assignment.eligibility import RepLoad, required_skills, skip_reason
from territory_router.assignment.engine import decide
from territory_router.assignment.roster import parse_roster, sf_id18
from territory_router.domain.leads import Lead, TagMethod, TagResult

Q = sf_id18("00G000000000001")
IDS = [sf_id18(f"005{i:012d}") for i in range(8)]
ZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Honolulu"]

rep_st = st.fixed_dictionaries(
    {
        "capacity": st.integers(0, 4),
        "weight": st.integers(1, 4),
        "active": st.booleans(),
        "languages": st.sampled_from([[], ["es"], ["en"], ["es", "en"]]),
        "working_hours": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "tz": st.sampled_from(ZONES),
                    "days": st.sampled_from(["Mon-Fri", "Sat-Sun", "Mon-Sun", "Tue,Thu"]),
                    "start": st.sampled_from(["00:00", "08:00", "22:00"]),
                    "end": st.sampled_from(["06:00", "17:00", "24:00"]),
                }
            ),
        ),
    }
)


@st.composite
def scenario(draw):
    n = draw(st.integers(1, 8))
    reps = []
    for i in range(n):
        r = draw(rep_st)
        if r["working_hours"] is None or r["working_hours"]["start"] == r["working_hours"]["end"]:
            r.pop("working_hours")
        reps.append({"rep_id": IDS[i], **r})
    split = draw(st.integers(1, n))
    strategy = draw(st.sampled_from(["round_robin", "weighted_round_robin", "least_loaded"]))
    groups = [
        {"group_id": "A", "territories": ["T"], "members": IDS[:split], "strategy": strategy, "overflow_group": "B"},
        {"group_id": "B", "territories": [], "members": IDS[split:n], "strategy": "least_loaded"},
    ]
    doc = {
        "default_fallback_owner": Q,
        "reps": reps,
        "groups": groups,
        "skill_rules": [{"field": "language", "values": ["es"], "skills": ["es"]}],
    }
    roster = parse_roster("r.json", json.dumps(doc).encode()).roster
    loads = {IDS[i]: RepLoad(draw(st.integers(0, 5)), draw(st.integers(0, 50))) for i in range(n)}
    now = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    language = draw(st.sampled_from([None, "es", "en"]))
    excluded = draw(st.lists(st.sampled_from(IDS[:n]), max_size=2))
    return roster, loads, now, language, excluded


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_chosen_rep_is_eligible_and_fallback_only_when_nobody_is(case) -> None:
    roster, loads, now, language, excluded = case
    lead = Lead(lead_id="00Q000000000001AAA", language=language)
    d = decide(lead, TagResult(territory_id="T", method=TagMethod.STATE), roster, loads, {}, now, exclude_reps=excluded)
    needed = required_skills(roster.skill_rules, lead, "T")
    ex = dict.fromkeys(excluded, "previous owner")
    eligible = [
        r for r in roster.reps.values()
        if skip_reason(r, now=now, needed=needed, load=loads.get(r.rep_id, RepLoad()), excluded=ex) is None
    ]
    if d.rep_id is not None:
        assert d.rep_id in {r.rep_id for r in eligible}
        assert d.rep_id not in excluded
        assert loads[d.rep_id].open_leads < roster.reps[d.rep_id].capacity
        assert d.outcome == ("rep" if d.rep_id in roster.groups["A"].members else "overflow")
    else:
        assert eligible == [] and d.owner_id == Q and d.fallback
    # the trail lists every member of the groups it looked at, with a reason for each skipped one
    seen = [c for g in d.trail["groups"] for c in g["candidates"]]
    assert all(c["result"] == "eligible" or c.get("reason") for c in seen)
    json.dumps(d.trail)  # storable as is
