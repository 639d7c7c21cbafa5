"""apply_late_geocode against the store on moto: every branch, counters exact, a shared rep keeps the lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.late_geocode import apply_late_geocode
from territory_router.assignment.release import release_lead
from territory_router.domain.leads import LeadStatus, TagMethod, TagPrecision, TagResult

from .helpers import activate, open_loads, rep_id, request, roster_doc

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
REPS = [rep_id(i) for i in range(1, 6)]


def _roster() -> dict:
    doc = roster_doc(n_reps=5)
    doc["groups"] = [
        {"group_id": "WEST", "territories": ["WEST"], "members": REPS[:3], "strategy": "round_robin"},
        {"group_id": "EAST", "territories": ["EAST"], "members": REPS[3:], "strategy": "round_robin"},
    ]
    return doc


def _tag(territory: str, method: TagMethod = TagMethod.POLYGON) -> TagResult:
    return TagResult(territory_id=territory, territory_name=territory.title(), method=method, note="geocoded")


def test_unworked_lead_in_the_same_territory_only_gets_a_finer_stamp(store: DynamoLeadStore) -> None:
    activate(store, _roster(), NOW)
    first = assign_lead(request(1).model_copy(update={"tag": _tag("WEST", TagMethod.POSTAL_CENTROID)}), store=store,
                        now=NOW, default_sla_minutes=60).detail  # fmt: skip
    out = apply_late_geocode(request(1).lead, _tag("WEST"), store=store, now=LATER, default_sla_minutes=60)
    assert (out.action, out.detail_type) == ("refined", "LeadRetagged")
    assert out.detail.stamp_only and out.detail.owner_id == first.owner_id and out.detail.tag_precision == "ROOFTOP"
    item = store.get_lead(first.lead_id)
    assert (item["tag_method"], item["tag_precision"], item["owner_id"]) == ("POLYGON", "ROOFTOP", first.owner_id)
    assert item["sla_due_at"] == int((NOW + timedelta(minutes=60)).timestamp())  # the SLA clock is not reset
    assert open_loads(store, REPS) == {first.owner_id: 1}
    again = apply_late_geocode(request(1).lead, _tag("WEST"), store=store, now=LATER, default_sla_minutes=60)
    assert (again.action, again.duplicate, again.detail_type) == ("unchanged", True, "LeadRetagged")


def test_move_counts_once_and_a_redelivery_re_announces_the_move(store: DynamoLeadStore) -> None:
    activate(store, _roster(), NOW)
    first = assign_lead(request(2), store=store, now=NOW, default_sla_minutes=60).detail
    out = apply_late_geocode(request(2).lead, _tag("EAST"), store=store, now=LATER, default_sla_minutes=60)
    assert (out.action, out.detail_type) == ("moved", "LeadRerouted")
    assert out.detail.owner_id in REPS[3:] and out.detail.reroute_reason == "GEOCODED" and out.detail.reroute_count == 0
    assert open_loads(store, REPS) == {out.detail.owner_id: 1}
    assert first.owner_id in store.get_lead(first.lead_id)["previous_owners"]
    again = apply_late_geocode(request(2).lead, _tag("EAST"), store=store, now=LATER, default_sla_minutes=60)
    assert (again.action, again.detail_type, again.detail.owner_id) == ("unchanged", "LeadRerouted", out.detail.owner_id)
    assert open_loads(store, REPS) == {out.detail.owner_id: 1}


def test_a_rep_of_both_territories_keeps_the_lead_without_counter_churn(store: DynamoLeadStore) -> None:
    doc = _roster()
    doc["groups"][1]["members"] = [REPS[0]]  # REPS[0] covers EAST too
    activate(store, doc, NOW)
    first = assign_lead(request(3), store=store, now=NOW, default_sla_minutes=60).detail
    assert first.owner_id == REPS[0]
    out = apply_late_geocode(request(3).lead, _tag("EAST"), store=store, now=LATER, default_sla_minutes=60)
    assert out.action == "moved" and out.detail.owner_id == REPS[0]
    assert open_loads(store, REPS) == {REPS[0]: 1}
    assert "previous_owners" not in store.get_lead(first.lead_id)


def test_not_assigned_yet_closed_and_unknown(store: DynamoLeadStore) -> None:
    activate(store, _roster(), NOW)
    new = apply_late_geocode(request(4).lead, _tag("EAST"), store=store, now=NOW, default_sla_minutes=60)
    assert new.action == "skipped" and new.reason == "lead not known"
    first = assign_lead(request(5), store=store, now=NOW, default_sla_minutes=60).detail
    release_lead(first.lead_id, new_status=LeadStatus.CLOSED, store=store, now=NOW, reason="won")
    closed = apply_late_geocode(request(5).lead, _tag("EAST"), store=store, now=LATER, default_sla_minutes=60)
    assert closed.action == "skipped" and store.get_lead(first.lead_id)["territory_id"] == "WEST"
    # taken in but not assigned yet: assigned straight away with the new stamp
    LeadRepository(store.ddb, store.leads_table).create_received(request(6).lead, received_at=NOW, source_event_id="e")
    received = apply_late_geocode(request(6).lead, _tag("EAST"), store=store, now=LATER, default_sla_minutes=60)
    assert (received.action, received.detail_type) == ("assigned", "LeadAssigned")
    item = store.get_lead(request(6).lead.lead_id)
    assert item["territory_id"] == "EAST" and item["tag_precision"] == TagPrecision.ROOFTOP.value
