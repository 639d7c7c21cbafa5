"""What a lead that kept its owner produces: the app event, the Salesforce update (no OwnerId), the aggregates and
the ``leads explain`` text."""

from __future__ import annotations

from datetime import UTC, datetime

from territory_router.adapters.lead_store import detail_from_item
from territory_router.domain.messages import LeadAssignedDetail
from territory_router.reporting.aggregates import delta_for_event
from territory_router.salesforce.writeback_rules import WritebackFieldMap, build_record, latest_per_lead
from territory_router.services.lead_assignment import detail_type_of
from territory_router_tools.cli.leads import explain_text

NOW = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
REP = "005000000000001AAA"
LEAD = "00Q000000000001AAA"


def kept_detail(**kw) -> LeadAssignedDetail:
    base = dict(lead_id=LEAD, owner_id=REP, owner_name="Ava Chen", territory_id="WEST", territory_name="West",
                tag_method="POLYGON", group_id="WEST", assigned_at=NOW, kept_owner=True,
                decision={"summary": "kept the owner Ava Chen (005…): the lead was created with this owner"})
    return LeadAssignedDetail(**(base | kw))


def test_kept_lead_is_announced_as_lead_kept() -> None:
    assert detail_type_of(kept_detail()) == "LeadKept"
    assert detail_type_of(kept_detail(kept_owner=False)) == "LeadAssigned"


def test_writeback_sets_the_territory_fields_and_never_the_owner() -> None:
    record = build_record(kept_detail(), WritebackFieldMap())
    assert "OwnerId" not in record
    assert record["Territory__c"] == "West" and record["Territory_Tag_Method__c"] == "POLYGON"
    assert record["Routing_Status__c"] == "KEPT_OWNER"
    assert record["Routing_Reason__c"].startswith("Territory West (POLYGON); owner kept: Ava Chen")
    # even if the event was (mis)labelled as an assignment, the detail decides
    assert "OwnerId" not in build_record(kept_detail(), WritebackFieldMap(), "LeadAssigned")
    routed = build_record(kept_detail(kept_owner=False), WritebackFieldMap(), "LeadAssigned")
    assert routed["OwnerId"] == REP and routed["Routing_Status__c"] == "ASSIGNED"


def test_a_later_reroute_of_a_kept_lead_wins_and_sets_the_owner() -> None:
    rerouted = kept_detail(kept_owner=False, owner_id="005000000000002AAA", reroute_count=1,
                           assigned_at=NOW.replace(hour=18))
    (winner, _), = latest_per_lead([kept_detail(), rerouted])
    assert build_record(winner, WritebackFieldMap())["OwnerId"] == "005000000000002AAA"


def test_aggregates_count_kept_not_assigned() -> None:
    d = delta_for_event("LeadKept", kept_detail().model_dump(mode="json"))
    assert d.territory == {"kept": 1, "tag_POLYGON": 1, "precision_ROOFTOP": 1}  # tagged like any lead
    assert d.reps == {REP: {"kept": 1}}
    assert d.dedup_key.startswith("LeadKept#") and d.time_to_assign_s is None


def test_stored_item_round_trips_the_kept_flag() -> None:
    item = {"lead_id": LEAD, "owner_id": REP, "status": "KEPT_OWNER", "kept_owner": True,
            "assigned_at": "2026-11-30T17:00:00Z"}
    assert detail_from_item(item).kept_owner is True
    assert detail_from_item({**item, "kept_owner": False, "status": "ASSIGNED"}).kept_owner is False


def test_explain_says_why_the_owner_was_kept() -> None:
    item = {
        "lead_id": LEAD, "status": "KEPT_OWNER", "version": 3, "owner_id": REP, "owner_name": "Ava Chen",
        "owner_kind": "USER", "group_id": "WEST", "assigned_at": "2026-11-30T17:00:00Z", "territory_id": "WEST",
        "tag_method": "POLYGON", "kept_owner": True, "counted_rep_id": REP,
        "decision": {
            "outcome": "kept_owner", "territory_id": "WEST", "tag_method": "POLYGON", "groups": [],
            "summary": "kept the owner Ava Chen (005000000000001AAA): the lead was created with this owner, an active rep of the roster",
            "owner_rule": "owner 005000000000001AAA kept: Ava Chen (005000000000001AAA) is an active rep of the roster",
            "sla": "none: the owner keeps the lead (group WEST does not re-route kept leads; reroute_kept_leads)",
        },
    }
    text = explain_text(item, now=NOW)
    assert "status KEPT_OWNER" in text
    assert "(kept: the lead was created with this owner" in text
    assert "Who gets routed: owner 005000000000001AAA kept: Ava Chen" in text
    assert "SLA: none (the group does not re-route leads that kept their owner)" in text
    assert f"Counts toward the open leads of {REP}" in text


def test_explain_of_a_routed_lead_names_the_routing_inbox() -> None:
    item = {"lead_id": LEAD, "status": "ASSIGNED", "owner_id": REP, "decision": {
        "summary": "Ava from group WEST", "groups": [],
        "owner_rule": "owner 00G000000000001AAA routed: the owner is a queue (a routing inbox)"}}
    assert "Who gets routed: owner 00G000000000001AAA routed: the owner is a queue" in explain_text(item, now=NOW)
