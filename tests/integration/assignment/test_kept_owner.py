"""A new lead whose owner is an active rep keeps that owner (KEPT_OWNER), counted once and released once; any other
owner is a routing inbox and the lead is routed (DynamoDB on the moto server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.release import mark_attended, release_lead
from territory_router.assignment.reroute import reroute_due_leads
from territory_router.domain.leads import LeadStatus

from .helpers import QUEUE, activate, counted, open_loads, rep_id, request, roster_doc

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
REPS = [rep_id(i) for i in range(1, 4)]
INTEGRATION = rep_id(88)


def owned(n: int, owner: str | None, territory: str = "WEST"):
    r = request(n, territory)
    return r.model_copy(update={"lead": r.lead.model_copy(update={"owner_id": owner})})


def test_rep_owner_is_kept_counted_once_and_released_once(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=1), NOW)
    # rep 3 is at capacity after an ordinary assignment round... and still keeps the lead they own
    out = assign_lead(owned(1, REPS[2]), store=store, now=NOW, default_sla_minutes=60)
    assert out.kept and not out.duplicate and out.detail.kept_owner
    assert out.detail.owner_id == REPS[2] and out.detail.sla_due_at is None
    item = store.get_lead(out.detail.lead_id)
    assert item["status"] == LeadStatus.KEPT_OWNER.value and item["kept_owner"] is True
    assert item["territory_id"] == "WEST" and item["tag_method"] == "POLYGON"
    assert item["counted_rep_id"] == REPS[2] and "reroute_shard" not in item
    assert item["decision"]["outcome"] == "kept_owner" and "active rep" in item["decision"]["owner_rule"]
    assert open_loads(store, REPS) == {REPS[2]: 1}
    # a second kept lead goes over capacity: the rep owns it already, it still counts
    assign_lead(owned(2, REPS[2]), store=store, now=NOW, default_sla_minutes=60)
    assert open_loads(store, REPS) == {REPS[2]: 2}
    # the group pointer did not move: round robin still starts with rep 1 for a routed lead
    routed = assign_lead(request(3), store=store, now=NOW, default_sla_minutes=60)
    assert routed.detail.owner_id == REPS[0] and not routed.kept
    # redelivery: nothing counted twice, the stored decision comes back as kept
    again = assign_lead(owned(1, REPS[2]), store=store, now=NOW, default_sla_minutes=60)
    assert again.duplicate and again.kept and again.detail.kept_owner
    assert open_loads(store, REPS) == {REPS[2]: 2, REPS[0]: 1}
    # released exactly once on close, like an assigned lead
    lead_id = out.detail.lead_id
    assert release_lead(lead_id, new_status=LeadStatus.CLOSED, store=store, now=NOW, reason="converted") is True
    assert release_lead(lead_id, new_status=LeadStatus.DELETED, store=store, now=NOW, reason="deleted") is False
    assert open_loads(store, REPS) == {REPS[2]: 1, REPS[0]: 1}
    assert counted(store) == {REPS[2]: 1, REPS[0]: 1}


def test_kept_lead_attended_releases_and_is_never_rerouted(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(sla_minutes=30), NOW)
    out = assign_lead(owned(1, REPS[1]), store=store, now=NOW, default_sla_minutes=60)
    report = reroute_due_leads(store=store, now=NOW + timedelta(hours=5), max_reroutes=2)
    assert report.rerouted == [] and report.items_read == 0  # not in the re-route index at all
    assert mark_attended(out.detail.lead_id, store=store, now=NOW, reason="call logged") is True
    item = store.get_lead(out.detail.lead_id)
    assert item["status"] == "ATTENDED" and item["kept_owner"] is True and "counted_rep_id" not in item
    assert open_loads(store, REPS) == {}


def test_group_can_reroute_kept_leads_by_their_sla(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(sla_minutes=30, reroute_kept_leads=True), NOW)
    out = assign_lead(owned(1, REPS[1]), store=store, now=NOW, default_sla_minutes=60)
    assert out.kept and out.detail.sla_due_at == NOW + timedelta(minutes=30)
    assert store.get_lead(out.detail.lead_id)["reroute_shard"] == "DUE"
    report = reroute_due_leads(store=store, now=NOW + timedelta(minutes=31), max_reroutes=2)
    (moved,) = report.rerouted
    assert moved.owner_id != REPS[1] and moved.previous_owner_id == REPS[1] and not moved.kept_owner
    item = store.get_lead(out.detail.lead_id)
    assert item["status"] == "ASSIGNED" and "kept_owner" not in item and "re-routes kept leads" in item["decision"]["reroute"]
    assert open_loads(store, REPS) == {moved.owner_id: 1}


def test_routing_inboxes_are_routed(store: DynamoLeadStore) -> None:
    doc = roster_doc()
    doc["always_route_owners"] = [REPS[2]]
    activate(store, doc, NOW)
    for n, owner in enumerate([QUEUE, INTEGRATION, rep_id(50), REPS[2], None], start=1):
        out = assign_lead(owned(n, owner), store=store, now=NOW, default_sla_minutes=60,
                          integration_user_id=INTEGRATION)
        assert not out.kept and out.detail.kept_owner is False, owner
        item = store.get_lead(out.detail.lead_id)
        assert item["status"] == "ASSIGNED" and "routed" in item["decision"]["owner_rule"]
    assert sum(open_loads(store, REPS).values()) == 5


def test_always_route_group_routes_a_reps_own_lead(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(always_route=True), NOW)
    out = assign_lead(owned(1, REPS[2]), store=store, now=NOW, default_sla_minutes=60)
    assert not out.kept and out.detail.owner_id == REPS[0]
    assert "always routes" in store.get_lead(out.detail.lead_id)["decision"]["owner_rule"]
