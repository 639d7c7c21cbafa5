"""Who gets routed: a new lead keeps an active rep of the roster as its owner; every other owner is a routing inbox."""

from __future__ import annotations

import json

import pytest

from territory_router.assignment.ownership import owner_rule
from territory_router.assignment.roster import parse_roster, sf_id18

R1, R2, R3 = (sf_id18(f"00500000000000{i}") for i in (1, 2, 3))
OPS = sf_id18("005000000000077")  # a sales-ops user who is also in the roster
INTEGRATION = sf_id18("005000000000088")
ADMIN = sf_id18("005000000000099")  # imports leads, not in the roster
QUEUE = sf_id18("00G000000000001")


def roster(**extra):
    doc = {
        "default_fallback_owner": QUEUE,
        "reps": [
            {"rep_id": R1, "name": "Ava"},
            {"rep_id": R2, "name": "Ben", "active": False},
            {"rep_id": R3, "name": "Cleo"},
            {"rep_id": OPS, "name": "Sales Ops"},
        ],
        "groups": [
            {"group_id": "WEST", "territories": ["WEST"], "members": [R1, R2, OPS]},
            {"group_id": "EAST", "territories": ["EAST"], "members": [R3], "always_route": True},
        ],
        **extra,
    }
    result = parse_roster("r.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    return result.roster


@pytest.mark.parametrize(
    ("owner", "territory", "keep", "why"),
    [
        (R1, "WEST", True, "active rep"),
        (R1[:15], "WEST", True, "active rep"),  # 15-character ids compare equal
        (R1, "EAST", False, "always routes"),  # the lead's group decides, not the owner's
        (R1, "NOWHERE", True, "active rep"),  # a rep keeps their lead wherever it is
        (R1, None, True, "active rep"),  # untagged
        (R2, "WEST", False, "inactive"),
        (QUEUE, "WEST", False, "queue"),
        (ADMIN, "WEST", False, "not a rep of the active roster"),
        (INTEGRATION, "WEST", False, "integration user"),
        (None, "WEST", False, "names no owner"),
        ("not-an-id", "WEST", False, "names no owner"),
        (sf_id18("00Q000000000001"), "WEST", False, "not a user"),
    ],
)
def test_owner_rule(owner, territory, keep, why) -> None:
    rule = owner_rule(owner, territory, roster(), integration_user_id=INTEGRATION[:15])
    assert rule.keep is keep
    assert why in rule.reason
    assert rule.trail().startswith(f"owner {rule.owner_id or '(none)'} {'kept' if keep else 'routed'}: ")


def test_listed_owners_are_routed_even_when_they_are_reps() -> None:
    r = roster(always_route_owners=[OPS[:15], QUEUE])
    assert r.always_route_owners == (OPS, QUEUE)  # stored as 18-character ids
    rule = owner_rule(OPS, "WEST", r)
    assert not rule.keep and "always_route_owners" in rule.reason
    assert owner_rule(R1, "WEST", r).keep


def test_default_fallback_owner_is_a_routing_inbox_even_as_a_rep() -> None:
    doc_roster = roster(default_fallback_owner=R3)
    rule = owner_rule(R3, "WEST", doc_roster)
    assert not rule.keep and "default fallback owner" in rule.reason


def test_keep_names_the_rep_and_the_group() -> None:
    rule = owner_rule(R1, "WEST", roster())
    assert rule.rep is not None and rule.rep.name == "Ava" and rule.group_id == "WEST"
    assert "Ava" in rule.reason


def test_roster_switches_parse_and_validate() -> None:
    r = roster()
    assert r.groups["EAST"].always_route is True and r.groups["WEST"].always_route is False
    assert r.groups["WEST"].reroute_kept_leads is False
    bad = parse_roster("r.json", json.dumps({
        "default_fallback_owner": QUEUE, "reps": [{"rep_id": R1}], "always_route_owners": ["00Q000000000001"],
    }).encode())
    assert not bad.valid and bad.errors[0]["roster"] == "always_route_owners"
    assert "User" in bad.errors[0]["reason"]
    not_list = parse_roster("r.json", json.dumps({
        "default_fallback_owner": QUEUE, "reps": [{"rep_id": R1}], "always_route_owners": {"a": 1},
    }).encode())
    assert not not_list.valid and "must be a list" in not_list.errors[0]["reason"]


def test_csv_columns_for_the_switches() -> None:
    text = (
        "rep_id,name,territories,always_route,reroute_kept_leads,route_own_leads,default_fallback_owner\n"
        f"{R1},Ava,WEST,false,true,,{QUEUE}\n"
        f"{OPS},Sales Ops,WEST,,,yes,\n"
        f"{R3},Cleo,EAST,true,,,\n"
    )
    result = parse_roster("reps.csv", text.encode())
    assert result.valid, result.errors
    r = result.roster
    assert r.always_route_owners == (OPS,)
    assert r.groups["WEST"].reroute_kept_leads is True and r.groups["WEST"].always_route is False
    assert r.groups["EAST"].always_route is True
    assert not owner_rule(OPS, "WEST", r).keep and owner_rule(R1, "WEST", r).keep
    assert not owner_rule(R3, "EAST", r).keep


def test_switches_change_the_roster_version() -> None:
    assert roster().version != roster(always_route_owners=[OPS]).version


def test_both_event_kinds_carry_the_owner_to_the_rule() -> None:
    """CDC CREATE carries OwnerId, Lead_Routing__e carries Owner_Id__c: the same rule applies to both."""
    from territory_router.salesforce.events import parse_relay_event
    from territory_router.salesforce.samples import cdc_create_event, platform_event, sample_lead

    org = "00Dxx0000001gErEAI"
    lead = sample_lead(owner_id=R1[:15])
    for event in (cdc_create_event(lead, org_id=org), platform_event(lead, org_id=org)):
        (change,) = parse_relay_event(event, expected_org_id=org)
        assert change.lead.owner_id == R1
        assert owner_rule(change.lead.owner_id, "WEST", roster()).keep
    queued = sample_lead(owner_id=QUEUE)
    (change,) = parse_relay_event(platform_event(queued, org_id=org), expected_org_id=org)
    assert not owner_rule(change.lead.owner_id, "WEST", roster()).keep
