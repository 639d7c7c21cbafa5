"""The stream rule (a lead item's old/new image -> facts) counts what the app-event rule counts, transition by
transition: each row is a change the lead store makes (adapters/lead_store.py) and the event the service announces
for it today (its detail built the way the services build it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from territory_router.reporting.aggregates import delta_for_event
from territory_router.reporting.lead_changes import COUNTED_STATUSES, deltas_for_change, facts_of_change

T0 = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2, minutes=5)
REP, OTHER, QUEUE, MANAGER = "005000000000001AAA", "005000000000002AAA", "00G000000000001AAA", "005000000000009AAA"
LEAD = "00Q000000000001AAA"
DUE = int((T0 + timedelta(hours=2)).timestamp())


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


RECEIVED = {"lead_id": LEAD, "status": "RECEIVED", "version": 1, "received_at": iso(T0 - timedelta(seconds=30)),
            "reroute_count": 0, "lead": {"company": "PII that may move out"}}
TAGGED = RECEIVED | {"status": "TAGGED", "version": 2, "territory_id": "WEST", "territory_name": "West",
                     "tag_method": "POSTAL_CENTROID", "tag_precision": "POSTAL_CODE"}
ASSIGNED = TAGGED | {"status": "ASSIGNED", "version": 3, "owner_id": REP, "owner_kind": "USER", "fallback": False,
                     "counted_rep_id": REP, "assigned_at": iso(T0), "sla_due_at": DUE, "reroute_shard": "DUE",
                     "decision": {"summary": "trail that may move out"}}
KEPT = TAGGED | {"status": "KEPT_OWNER", "version": 3, "owner_id": OTHER, "owner_kind": "USER", "kept_owner": True,
                 "counted_rep_id": OTHER, "assigned_at": iso(T0)}
FALLBACK_QUEUE = TAGGED | {"status": "ASSIGNED", "version": 3, "owner_id": QUEUE, "owner_kind": "QUEUE",
                           "fallback": True, "assigned_at": iso(T0), "territory_id": None, "tag_method": "UNTAGGED",
                           "tag_precision": "NONE"}
REROUTED = ASSIGNED | {"version": 4, "owner_id": OTHER, "counted_rep_id": OTHER, "reroute_count": 1,
                       "rerouted_at": iso(T1), "assigned_at": iso(T1), "previous_owners": [REP],
                       "sla_due_at": int((T1 + timedelta(hours=2)).timestamp())}
MOVED = ASSIGNED | {"version": 4, "owner_id": OTHER, "counted_rep_id": OTHER, "territory_id": "EAST",
                    "rerouted_at": iso(T1), "assigned_at": iso(T1), "previous_owners": [REP],
                    "reroute_reason": "GEOCODED", "tag_method": "POLYGON", "tag_precision": "ROOFTOP"}
ESCALATED = ASSIGNED | {"version": 4, "status": "ESCALATED", "owner_id": MANAGER, "escalated_at": iso(T1),
                        "assigned_at": iso(T1), "previous_owners": [REP]}
for _attr in ("counted_rep_id", "reroute_shard"):
    ESCALATED.pop(_attr)
REASSIGNED = ASSIGNED | {"version": 4, "owner_id": OTHER, "counted_rep_id": OTHER, "assigned_at": iso(T1),
                         "previous_owners": [REP]}
ATTENDED = ASSIGNED | {"version": 4, "status": "ATTENDED", "released_at": iso(T0 + timedelta(minutes=7)),
                       "release_reason": "worked"}
ATTENDED_LATE = ASSIGNED | {"version": 4, "status": "ATTENDED", "released_at": iso(T1), "release_reason": "worked"}
CLOSED = ASSIGNED | {"version": 4, "status": "CLOSED", "released_at": iso(T1), "release_reason": "converted"}
for _row in (ATTENDED, ATTENDED_LATE, CLOSED):
    _row.pop("counted_rep_id")
    _row.pop("reroute_shard")
CLOSED_AFTER_ATTENDED = ATTENDED | {"version": 5, "status": "CLOSED"}
WRITEBACK_CLAIM = ASSIGNED | {"writeback_claim": "k1", "writeback_claimed_at": 1}
RETAGGED = ASSIGNED | {"version": 4, "tag_method": "POLYGON", "tag_precision": "ROOFTOP"}


def assignment_detail(item: dict, **kw) -> dict:
    """The LeadAssigned-shaped detail the services announce (``assignment.records.detail_of``)."""
    return {"lead_id": LEAD, "owner_id": item["owner_id"], "owner_kind": item.get("owner_kind", "USER"),
            "territory_id": item.get("territory_id"), "territory_name": item.get("territory_name"),
            "tag_method": item.get("tag_method"), "tag_precision": item.get("tag_precision"),
            "assigned_at": item["assigned_at"], "fallback": bool(item.get("fallback")),
            "kept_owner": bool(item.get("kept_owner")), "reroute_count": item.get("reroute_count", 0)} | kw


def lifecycle_detail(before: dict, after: dict) -> dict:
    """``messages.lifecycle_detail`` of the stored lead at the moment it was settled."""
    return {"lead_id": LEAD, "status": after["status"], "owner_id": before.get("owner_id"),
            "territory_id": before.get("territory_id"), "assigned_at": before.get("assigned_at"),
            "sla_due_at": datetime.fromtimestamp(before["sla_due_at"], UTC).isoformat(), "at": after["released_at"]}


# (name, old image, new image, the app event announced today or None)
TRANSITIONS = [
    ("assigned after tagging", TAGGED, ASSIGNED,
     ("LeadAssigned", assignment_detail(ASSIGNED, received_at=RECEIVED["received_at"]))),
    ("assigned on the first write (no intake record)", None, ASSIGNED,
     ("LeadAssigned", assignment_detail(ASSIGNED, received_at=RECEIVED["received_at"]))),
    ("kept its owner", TAGGED, KEPT, ("LeadKept", assignment_detail(KEPT))),
    ("fallback queue, untagged", RECEIVED, FALLBACK_QUEUE,
     ("LeadAssigned", assignment_detail(FALLBACK_QUEUE, received_at=RECEIVED["received_at"]))),
    ("re-routed after a missed SLA", ASSIGNED, REROUTED,
     ("LeadRerouted", assignment_detail(REROUTED, previous_owner_id=REP, reroute_reason="SLA_MISSED"))),
    ("kept lead re-routed", KEPT, KEPT | {"status": "ASSIGNED", "owner_id": REP, "reroute_count": 1,
                                          "rerouted_at": iso(T1), "assigned_at": iso(T1)},
     ("LeadRerouted", assignment_detail(KEPT | {"owner_id": REP, "assigned_at": iso(T1), "reroute_count": 1,
                                                "kept_owner": False}, previous_owner_id=OTHER))),
    ("moved by a late geocode", ASSIGNED, MOVED,
     ("LeadRerouted", assignment_detail(MOVED, previous_owner_id=REP, reroute_reason="GEOCODED"))),
    ("re-routed again after an earlier geocode move", MOVED, MOVED | {"owner_id": REP, "reroute_count": 1,
                                                                       "rerouted_at": iso(T1 + timedelta(hours=3))},
     ("LeadRerouted", assignment_detail(MOVED | {"owner_id": REP, "reroute_count": 1}, previous_owner_id=OTHER))),
    ("escalated", ASSIGNED, ESCALATED,
     ("LeadEscalated", assignment_detail(ESCALATED, previous_owner_id=REP, sla_due_at=None))),
    ("Salesforce refused the owner", ASSIGNED, REASSIGNED,
     ("LeadReassigned", assignment_detail(REASSIGNED, previous_owner_id=REP))),
    ("attended in time", ASSIGNED, ATTENDED, ("LeadAttended", lifecycle_detail(ASSIGNED, ATTENDED))),
    ("attended late", ASSIGNED, ATTENDED_LATE, ("LeadAttended", lifecycle_detail(ASSIGNED, ATTENDED_LATE))),
    ("closed with its counter released", ASSIGNED, CLOSED, ("LeadClosed", lifecycle_detail(ASSIGNED, CLOSED))),
    ("deleted with its counter released", ASSIGNED, CLOSED | {"status": "DELETED"},
     ("LeadClosed", lifecycle_detail(ASSIGNED, CLOSED | {"status": "DELETED"}))),
    # Changes that announce nothing today.
    ("taken in", None, RECEIVED, None),
    ("tagged", RECEIVED, TAGGED, None),
    ("writeback claim", ASSIGNED, WRITEBACK_CLAIM, None),
    ("stamp refined (LeadRetagged is not counted)", ASSIGNED, RETAGGED, None),
    ("closed after it was attended: no counter released, no LeadClosed", ATTENDED, CLOSED_AFTER_ATTENDED, None),
    ("item removed", ASSIGNED, None, None),
    ("not a lead item (no status)", None, {"lead_id": LEAD, "pii": {"email": "x@example.com"}}, None),
]


def _counts(deltas) -> list[tuple]:
    return [(d.day, d.territory_id, d.territory, d.reps, d.time_to_assign_s, d.time_to_first_touch_s) for d in deltas]


@pytest.mark.parametrize(("name", "old", "new", "event"), TRANSITIONS, ids=[t[0] for t in TRANSITIONS])
def test_the_stream_rule_counts_what_the_app_event_counts(name, old, new, event):
    from_stream = deltas_for_change(old, new)
    expected = [delta_for_event(*event)] if event else []
    assert _counts(from_stream) == _counts(expected)
    assert [d.detail_type for d in from_stream] == [e.detail_type for e in expected]


def test_the_table_covers_every_fact_the_aggregates_count():
    from territory_router.reporting.aggregates import APP_DETAIL_TYPES

    seen = {event[0] for _, _, _, event in TRANSITIONS if event}
    assert seen == set(APP_DETAIL_TYPES)


def test_counted_statuses_are_the_new_statuses_of_every_fact():
    """The FilterCriteria lets only these statuses through: no fact may need another one."""
    statuses = {new["status"] for _, _, new, event in TRANSITIONS if event}
    assert statuses <= set(COUNTED_STATUSES)
    assert "RECEIVED" not in COUNTED_STATUSES and "TAGGED" not in COUNTED_STATUSES


def test_time_to_assign_comes_from_the_item_received_at():
    (delta,) = deltas_for_change(TAGGED, ASSIGNED)
    assert delta.time_to_assign_s == 30
    assert delta.territory["tta_sum_s"] == 30 and delta.territory["tta_count"] == 1


def test_the_facts_never_read_the_pii_or_the_trail():
    lean_old = {k: v for k, v in ASSIGNED.items() if k not in ("lead", "decision")}
    lean_new = {k: v for k, v in REROUTED.items() if k not in ("lead", "decision")}
    assert _counts(deltas_for_change(lean_old, lean_new)) == _counts(deltas_for_change(ASSIGNED, REROUTED))
    assert facts_of_change(lean_old, lean_new)[0][0] == "LeadRerouted"
