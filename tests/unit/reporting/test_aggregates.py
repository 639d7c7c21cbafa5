"""What each app event adds to the daily aggregates, and the de-duplication keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from territory_router.reporting.aggregates import NotAnAppEvent, delta_for_event

T0 = datetime(2026, 11, 28, 23, 50, tzinfo=UTC)
REP, OTHER, QUEUE = "005000000000001AAA", "005000000000002AAA", "00G000000000001AAA"
LEAD = "00Q000000000001AAA"


def assigned(**kw):
    base = {"lead_id": LEAD, "owner_id": REP, "territory_id": "WEST", "tag_method": "POLYGON",
            "assigned_at": T0.isoformat(), "sla_due_at": (T0 + timedelta(hours=1)).isoformat()}
    return base | kw


def test_assignment_counts_the_territory_the_tag_method_and_the_rep():
    d = delta_for_event("LeadAssigned", assigned())
    assert (d.pk, d.territory_id) == ("AGG#2026-11-28", "WEST")
    assert d.territory == {"assigned": 1, "tag_POLYGON": 1, "precision_ROOFTOP": 1}  # precision from the method
    assert d.reps == {REP: {"assigned": 1}}
    assert [sk for sk, _, _ in d.items()] == ["TERRITORY#WEST", f"REP#{REP}"]


def test_untagged_lead_to_a_queue_counts_under_none_and_no_rep():
    d = delta_for_event("LeadAssigned", assigned(territory_id=None, tag_method="UNTAGGED", owner_id=QUEUE,
                                                 owner_kind="QUEUE", fallback=True))
    assert d.territory_id == "(none)"
    assert d.territory == {"assigned": 1, "tag_UNTAGGED": 1, "precision_NONE": 1, "fallback": 1}
    assert d.reps == {}


def test_unknown_tag_method_is_counted_as_untagged_not_as_a_new_attribute():
    assert delta_for_event("LeadAssigned", assigned(tag_method="GUESS", tag_precision="EXACT")).territory == {
        "assigned": 1, "tag_UNTAGGED": 1, "precision_NONE": 1,
    }  # fmt: skip


def test_the_precision_of_the_tag_is_counted_per_territory():
    d = delta_for_event("LeadAssigned", assigned(tag_method="POSTAL_CENTROID", tag_precision="POSTAL_CODE"))
    assert d.territory == {"assigned": 1, "tag_POSTAL_CENTROID": 1, "precision_POSTAL_CODE": 1}
    coarse = delta_for_event("LeadAssigned", assigned(tag_method="POLYGON", tag_precision="CITY"))  # GeocodeAccuracy
    assert coarse.territory["precision_CITY"] == 1


def test_time_to_assign_only_when_the_event_carries_received_at():
    assert delta_for_event("LeadAssigned", assigned()).time_to_assign_s is None
    d = delta_for_event("LeadAssigned", assigned(received_at=(T0 - timedelta(seconds=42)).isoformat()))
    assert d.time_to_assign_s == 42
    assert d.territory["tta_sum_s"] == 42 and d.territory["tta_count"] == 1


def test_reroute_is_a_breach_for_the_territory_and_the_rep_who_missed_it():
    d = delta_for_event("LeadRerouted", assigned(owner_id=OTHER, previous_owner_id=REP, reroute_count=1))
    assert d.territory == {"rerouted": 1, "sla_breaches": 1}
    assert d.reps == {OTHER: {"rerouted_in": 1}, REP: {"missed": 1, "sla_breaches": 1}}


def test_escalation_to_a_queue():
    d = delta_for_event("LeadEscalated", assigned(owner_id=QUEUE, owner_kind="QUEUE", previous_owner_id=REP))
    assert d.territory == {"escalated": 1, "sla_breaches": 1}
    assert d.reps == {REP: {"missed": 1, "sla_breaches": 1}}


def lifecycle(status="ATTENDED", minutes=20, **kw):
    base = {"lead_id": LEAD, "status": status, "owner_id": REP, "territory_id": "WEST", "assigned_at": T0.isoformat(),
            "sla_due_at": (T0 + timedelta(hours=1)).isoformat(), "at": (T0 + timedelta(minutes=minutes)).isoformat()}
    return base | kw


def test_first_touch_on_time_and_late():
    on_time = delta_for_event("LeadAttended", lifecycle(minutes=20))
    assert on_time.territory == {"attended": 1, "ttft_sum_s": 1200, "ttft_count": 1}
    assert on_time.reps[REP] == on_time.territory
    assert on_time.time_to_first_touch_s == 1200
    late = delta_for_event("LeadAttended", lifecycle(minutes=61))
    assert late.territory == {"attended": 1, "ttft_sum_s": 3660, "ttft_count": 1, "attended_late": 1, "sla_breaches": 1}
    # the day is the day of the touch (T0 is 23:50: twenty minutes later is the next day)
    assert on_time.day == "2026-11-29"


def test_touch_after_escalation_is_not_a_second_breach():
    # escalation: assigned_at moves to the escalation time, the old due time stays on the lead
    escalated = lifecycle(minutes=200, owner_id=QUEUE, assigned_at=(T0 + timedelta(minutes=125)).isoformat())
    d = delta_for_event("LeadAttended", escalated)
    assert d.territory == {"attended": 1, "ttft_sum_s": 75 * 60, "ttft_count": 1}
    assert d.reps == {}


def test_first_touch_exactly_at_the_due_time_is_not_a_breach():
    assert "sla_breaches" not in delta_for_event("LeadAttended", lifecycle(minutes=60)).territory


def test_close_counts_once_per_status():
    closed = delta_for_event("LeadClosed", lifecycle("CLOSED", 5))
    deleted = delta_for_event("LeadClosed", lifecycle("DELETED", 5))
    assert closed.territory == {"closed": 1}
    assert closed.dedup_key != deleted.dedup_key


def test_the_same_fact_has_the_same_key_whatever_the_precision_and_a_new_fact_a_new_key():
    first = delta_for_event("LeadAssigned", assigned(assigned_at="2026-11-28T23:50:00.123456+00:00"))
    again = delta_for_event("LeadAssigned", assigned(assigned_at="2026-11-28T23:50:00Z"))  # re-announced from the item
    assert first.dedup_key == again.dedup_key
    rerouted = delta_for_event("LeadRerouted", assigned(assigned_at=(T0 + timedelta(hours=1)).isoformat()))
    assert rerouted.dedup_key != first.dedup_key
    other_lead = delta_for_event("LeadAssigned", assigned(lead_id="00Q000000000002AAA"))
    assert other_lead.dedup_key != first.dedup_key


@pytest.mark.parametrize(("detail_type", "detail"), [("LeadAssigned", {"lead_id": LEAD}), ("Nope", {}),
                                                     ("LeadAttended", {"lead_id": LEAD, "status": "ATTENDED"})])
def test_refuses_what_it_does_not_understand(detail_type, detail):
    with pytest.raises(NotAnAppEvent):
        delta_for_event(detail_type, detail)


def test_a_move_after_a_late_geocode_is_no_sla_breach():
    d = delta_for_event("LeadRerouted", assigned(owner_id=OTHER, previous_owner_id=REP, reroute_reason="GEOCODED"))
    assert d.territory == {"geocode_moved_in": 1}
    assert d.reps == {}
