"""The contract of ``LeadRoutingStore`` (territory_router.assignment.ports), one suite for every implementation.

``RoutingStoreContract`` is subclassed twice: against ``InMemoryRoutingStore`` in tests/unit/assignment and against
``DynamoLeadStore`` on the moto server in tests/integration/assignment. Every test drives the store only through the
port (plus the subclass's ``activate`` and ``put_tagged`` set-up hooks) and checks what the port reads back, so a
storage layout that passes it can stand in for the other.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from territory_router.assignment.ports import (
    LeadChanged,
    LeadRecord,
    OwnerChange,
    PointerMoved,
    RepFull,
)
from territory_router.assignment.roster import Roster, parse_roster, sf_id18
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagPrecision, TagResult

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
R1, R2, R3 = (sf_id18(f"005{i:012d}") for i in (1, 2, 3))
QUEUE = sf_id18("00G000000000001")
MANAGER = sf_id18("005000000000999")
WEST = TagResult(territory_id="WEST", territory_name="West", method=TagMethod.POLYGON)
EAST = TagResult(territory_id="EAST", territory_name="East", method=TagMethod.POSTAL_CODE, note="ZIP 10001",
                 precision=TagPrecision.POSTAL_CODE)


def roster(cap: int = 2) -> Roster:
    doc = {
        "default_fallback_owner": QUEUE,
        "reps": [{"rep_id": r, "name": f"Rep {i}", "capacity": cap} for i, r in enumerate((R1, R2, R3), 1)],
        "groups": [{"group_id": "WEST", "territories": ["WEST"], "members": [R1, R2, R3],
                    "escalation_owner": MANAGER}],
    }
    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    return result.roster


def lead(n: int, **kw: Any) -> Lead:
    return Lead(lead_id=sf_id18(f"00Q{n:012d}"), last_name=f"Lead {n}", company="Acme", **kw)


def to_rep(rep: str, *, cap: int | None = 2, seq: int | None = None, due: datetime | None = None,
           trail: dict | None = None) -> OwnerChange:
    """A decision for ``rep`` (counted, capped), taking turn ``seq`` of group WEST when given."""
    return OwnerChange(owner_id=rep, owner_kind="USER", owner_name=f"name of {rep[-6:]}", trail=trail or {"why": rep},
                       group_id="WEST", strategy="round_robin", counted_rep_id=rep, capacity=cap,
                       pointer=PointerState("WEST", seq, rep, {}) if seq is not None else None,
                       sla_due_at=due or NOW + timedelta(hours=1), sla_minutes=60)


def to_queue(due: datetime | None = None) -> OwnerChange:
    return OwnerChange(owner_id=QUEUE, owner_kind="QUEUE", owner_name=None, trail={"why": "queue"}, group_id="WEST",
                       strategy="round_robin", fallback=True, sla_due_at=due or NOW + timedelta(hours=1),
                       sla_minutes=60)


class RoutingStoreContract:
    """Subclasses provide the ``store`` fixture and the two set-up hooks."""

    def activate(self, store: Any, roster: Roster) -> None:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def put_tagged(self, store: Any, lead: Lead, *, version: int, territory_id: str) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ helpers

    def assigned(self, store: Any, n: int, rep: str = R1, **kw: Any) -> LeadRecord:
        store.assign(None, lead(n), WEST, to_rep(rep, **kw), now=NOW)
        rec = store.lead(lead(n).lead_id)
        assert rec is not None
        return rec

    def open_leads(self, store: Any, *reps: str) -> dict[str, int]:
        return {r: load.open_leads for r, load in store.loads(reps).items()}

    # -------------------------------------------------------------------------------------- reads

    def test_roster_reads(self, store: Any) -> None:
        assert store.active_roster_or_none(refresh=True) is None
        r = roster()
        self.activate(store, r)
        assert store.active_roster(refresh=True).version == r.version
        assert store.cached_roster().version == r.version
        assert store.snapshot(lead_id=None, rep_ids=[], group_ids=[]).active_version == r.version
        assert store.snapshot(lead_id=None, rep_ids=[], group_ids=[], include_active=False).active_version is None

    def test_snapshot_reads_what_exists(self, store: Any) -> None:
        self.assigned(store, 1, R1, seq=1)
        snap = store.snapshot(lead_id=lead(1).lead_id, rep_ids=[R1, R2], group_ids=["WEST", "EAST"])
        assert snap.lead is not None and snap.lead.owner_id == R1
        assert set(snap.loads) == {R1} and snap.loads[R1].open_leads == 1 and snap.loads[R1].assigned_total == 1
        assert set(snap.pointers) == {"WEST"} and snap.pointers["WEST"].seq == 1
        assert snap.pointers["WEST"].last_rep_id == R1
        assert store.snapshot(lead_id=lead(2).lead_id, rep_ids=[], group_ids=[]).lead is None

    def test_refused_owners_are_read_with_every_decision(self, store: Any) -> None:
        store.mark_unusable(R2, code="INACTIVE_OWNER_OR_USER", reason="inactive", now=NOW, lead_id=lead(1).lead_id)
        assert store.unusable_owners()[R2]["code"] == "INACTIVE_OWNER_OR_USER"
        assert set(store.snapshot(lead_id=None, rep_ids=[R1], group_ids=[]).unusable) == {R2}
        assert "INACTIVE_OWNER_OR_USER" in store.snapshot(lead_id=None, rep_ids=[], group_ids=["WEST"]).unusable[R2]
        assert store.snapshot(lead_id=lead(1).lead_id, rep_ids=[], group_ids=[]).unusable == {}
        assert store.clear_unusable(R2) is True and store.clear_unusable(R2) is False
        assert store.unusable_owners() == {}

    # ------------------------------------------------------------------------------ assign / keep

    def test_assign_creates_the_lead_with_its_owner_stamp_and_counter(self, store: Any) -> None:
        the_lead = lead(1, org_id="00D000000000001AAA", industry="Retail")
        store.assign(None, the_lead, WEST, to_rep(R1, seq=1, trail={"summary": "R1 by turn"}), now=NOW)
        rec = store.lead(the_lead.lead_id)
        assert (rec.status, rec.version, rec.owner_id, rec.owner_kind) == (LeadStatus.ASSIGNED, 1, R1, "USER")
        assert (rec.group_id, rec.strategy, rec.fallback, rec.kept_owner) == ("WEST", "round_robin", False, False)
        assert (rec.counted_rep_id, rec.waiting, rec.sla_minutes) == (R1, True, 60)
        assert rec.sla_due_at == NOW + timedelta(hours=1) and rec.assigned_at == NOW
        assert (rec.territory_id, rec.territory_name, rec.tag_method, rec.tag_precision) == (
            "WEST", "West", "POLYGON", WEST.precision.value)
        assert rec.org_id == "00D000000000001AAA" and rec.lead == the_lead
        assert dict(rec.trail) == {"summary": "R1 by turn"} and rec.reroute_count == 0 and rec.previous_owners == ()
        assert self.open_leads(store, R1) == {R1: 1}

    def test_assign_a_tagged_lead_keeps_the_lead_intake_recorded(self, store: Any) -> None:
        taken_in = lead(1, city="Denver")
        self.put_tagged(store, taken_in, version=2, territory_id="WEST")
        seen = store.lead(taken_in.lead_id)
        assert seen.status is LeadStatus.TAGGED and seen.version == 2
        store.assign(seen, lead(1), WEST, to_rep(R1), now=NOW)
        rec = store.lead(taken_in.lead_id)
        assert rec.status is LeadStatus.ASSIGNED and rec.version == 3
        assert rec.lead is not None and rec.lead.city == "Denver"

    def test_assign_refuses_a_lead_that_changed(self, store: Any) -> None:
        self.put_tagged(store, lead(1), version=2, territory_id="WEST")
        seen = store.lead(lead(1).lead_id)
        with pytest.raises(LeadChanged):  # absent when read, present now
            store.assign(None, lead(1), WEST, to_rep(R1), now=NOW)
        stale = replace(seen, version=1)
        with pytest.raises(LeadChanged):
            store.assign(stale, lead(1), WEST, to_rep(R1), now=NOW)
        store.assign(seen, lead(1), WEST, to_rep(R1), now=NOW)
        with pytest.raises(LeadChanged):  # a second delivery that read the same TAGGED version
            store.assign(seen, lead(1), WEST, to_rep(R2), now=NOW)
        again = store.lead(lead(1).lead_id)
        with pytest.raises(LeadChanged):  # assigned now: never assigned twice
            store.assign(again, lead(1), WEST, to_rep(R2), now=NOW)
        assert store.lead(lead(1).lead_id).owner_id == R1
        assert self.open_leads(store, R1, R2) == {R1: 1}

    def test_a_full_rep_is_refused_and_nothing_is_written(self, store: Any) -> None:
        self.assigned(store, 1, R1, cap=2)
        self.assigned(store, 2, R1, cap=2)
        with pytest.raises(RepFull) as raised:
            store.assign(None, lead(3), WEST, to_rep(R1, cap=2, seq=1), now=NOW)
        assert raised.value.rep_id == R1
        assert store.lead(lead(3).lead_id) is None
        assert store.snapshot(lead_id=None, rep_ids=[], group_ids=["WEST"]).pointers == {}
        assert self.open_leads(store, R1) == {R1: 2}
        assert store.loads([R1])[R1].assigned_total == 2

    def test_a_moved_pointer_is_refused_and_nothing_is_written(self, store: Any) -> None:
        store.assign(None, lead(1), WEST, to_rep(R1, seq=1), now=NOW)
        with pytest.raises(PointerMoved) as raised:  # read turn 0 as well: another worker took it
            store.assign(None, lead(2), WEST, to_rep(R2, seq=1), now=NOW)
        assert raised.value.group_id == "WEST"
        assert store.lead(lead(2).lead_id) is None and self.open_leads(store, R1, R2) == {R1: 1}
        store.assign(None, lead(2), WEST, to_rep(R2, seq=2), now=NOW)
        pointer = store.snapshot(lead_id=None, rep_ids=[], group_ids=["WEST"]).pointers["WEST"]
        assert (pointer.seq, pointer.last_rep_id) == (2, R2)

    def test_the_lead_condition_is_reported_before_a_full_rep(self, store: Any) -> None:
        self.assigned(store, 1, R1, cap=1)
        self.put_tagged(store, lead(2), version=2, territory_id="WEST")
        stale = replace(store.lead(lead(2).lead_id), version=1)
        with pytest.raises(LeadChanged):
            store.assign(stale, lead(2), WEST, to_rep(R1, cap=1), now=NOW)

    def test_a_fallback_owner_is_not_counted_and_does_not_wait(self, store: Any) -> None:
        store.assign(None, lead(1), WEST, to_queue(), now=NOW)
        rec = store.lead(lead(1).lead_id)
        assert (rec.owner_id, rec.owner_kind, rec.fallback) == (QUEUE, "QUEUE", True)
        assert rec.counted_rep_id is None and not rec.waiting and rec.sla_due_at == NOW + timedelta(hours=1)
        assert store.loads([QUEUE]) == {}
        assert store.due(LATER, 10).leads == []

    def test_keep_counts_the_owner_without_a_cap_and_waits_only_with_an_sla(self, store: Any) -> None:
        self.assigned(store, 1, R1, cap=1)
        kept = OwnerChange(owner_id=R1, owner_kind="USER", owner_name="Rep 1", trail={"outcome": "kept_owner"},
                           group_id="WEST", counted_rep_id=R1, capacity=1, pointer=PointerState("WEST", 9, R1, {}))
        store.keep(None, lead(2), WEST, kept, now=NOW)  # above capacity: the rep owns it already
        rec = store.lead(lead(2).lead_id)
        assert rec.status is LeadStatus.KEPT_OWNER and rec.kept_owner and rec.counted_rep_id == R1
        assert not rec.waiting and rec.sla_due_at is None and rec.strategy is None
        assert store.loads([R1])[R1].open_leads == 2 and store.loads([R1])[R1].assigned_total == 1
        assert store.snapshot(lead_id=None, rep_ids=[], group_ids=["WEST"]).pointers == {}  # no turn taken
        store.keep(None, lead(3), WEST, replace(kept, sla_due_at=NOW + timedelta(hours=1), sla_minutes=60), now=NOW)
        assert store.lead(lead(3).lead_id).waiting
        assert {r.lead_id for r in store.due(LATER, 10).leads} == {lead(1).lead_id, lead(3).lead_id}

    # --------------------------------------------------------------------------------------- release

    def test_release_takes_the_counter_back_exactly_once(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        store.release(seen, LeadStatus.ATTENDED, reason="email sent", now=LATER)
        rec = store.lead(seen.lead_id)
        assert rec.status is LeadStatus.ATTENDED and rec.version == seen.version + 1
        assert rec.counted_rep_id is None and not rec.waiting and rec.owner_id == R1
        assert self.open_leads(store, R1) == {R1: 0}
        with pytest.raises(LeadChanged):  # the same release delivered again, from the same read
            store.release(seen, LeadStatus.ATTENDED, reason="email sent", now=LATER)
        store.release(rec, LeadStatus.CLOSED, reason="converted", now=LATER)  # nothing counted any more
        assert store.lead(seen.lead_id).status is LeadStatus.CLOSED and self.open_leads(store, R1) == {R1: 0}

    def test_release_is_refused_when_another_rep_counts_the_lead_now(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        moved = replace(seen, counted_rep_id=R2)  # what a stale reader could believe
        with pytest.raises(LeadChanged):
            store.release(moved, None, reason="closed", now=LATER)
        store.release(seen, None, reason="closed", now=LATER)
        assert store.lead(seen.lead_id).status is LeadStatus.ASSIGNED  # status left, counter released
        assert self.open_leads(store, R1) == {R1: 0}

    # --------------------------------------------------------------------------- reroute / escalate

    def test_reroute_moves_the_counter_and_records_the_previous_owner(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1, seq=1)
        due = LATER + timedelta(hours=1)
        store.reroute(seen, to_rep(R2, seq=2, due=due, trail={"reroute": "R1 missed it"}), reroute_count=1, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.status, rec.owner_id, rec.counted_rep_id, rec.waiting) == (LeadStatus.ASSIGNED, R2, R2, True)
        assert rec.previous_owners == (R1,) and rec.reroute_count == 1 and rec.sla_due_at == due
        assert rec.assigned_at == LATER and dict(rec.trail) == {"reroute": "R1 missed it"}
        assert self.open_leads(store, R1, R2) == {R1: 0, R2: 1}
        assert store.loads([R2])[R2].assigned_total == 1
        with pytest.raises(LeadChanged):  # the same re-route from the same read
            store.reroute(seen, to_rep(R3), reroute_count=1, now=LATER)

    def test_the_lead_as_taken_in_and_the_latest_trail_are_read_back_after_every_decision(self, store: Any) -> None:
        taken_in = lead(7, email="ada@example.com", city="Denver", owner_id=MANAGER, sf_fields={"Rating": "Hot"})
        store.assign(None, taken_in, WEST, to_rep(R1, seq=1, trail={"summary": "first"}), now=NOW)
        seen = store.lead(taken_in.lead_id)
        assert seen.lead == taken_in and dict(seen.trail) == {"summary": "first"}
        assert seen.earlier_owners == [MANAGER]
        store.reroute(seen, to_rep(R2, seq=2, trail={"summary": "second"}), reroute_count=1, now=LATER)
        seen = store.lead(taken_in.lead_id)
        assert seen.lead == taken_in and dict(seen.trail) == {"summary": "second"}
        assert seen.earlier_owners == [MANAGER, R1]
        store.release(seen, LeadStatus.ATTENDED, reason="call", now=LATER)  # a release keeps both as they were
        rec = store.lead(taken_in.lead_id)
        assert rec.lead == taken_in and dict(rec.trail) == {"summary": "second"}
        (due,) = [d for d in [self.assigned(store, 8, R3)] if d.waiting]
        listed = store.due(NOW + timedelta(hours=3), 10).leads
        assert [d.lead_id for d in listed] == [due.lead_id] and listed[0].lead == lead(8)
        assert dict(listed[0].trail) == {"why": R3}

    def test_reroute_to_a_queue_stops_waiting_and_to_the_same_rep_moves_no_counter(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        store.reroute(seen, to_rep(R1), reroute_count=1, now=LATER)
        rec = store.lead(seen.lead_id)
        assert rec.previous_owners == () and self.open_leads(store, R1) == {R1: 1}
        assert store.loads([R1])[R1].assigned_total == 1
        store.reroute(rec, to_queue(), reroute_count=2, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.owner_id, rec.counted_rep_id, rec.waiting, rec.owner_name) == (QUEUE, None, False, None)
        assert rec.previous_owners == (R1,) and self.open_leads(store, R1) == {R1: 0}

    def test_reroute_needs_a_waiting_lead(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        store.release(seen, LeadStatus.ATTENDED, reason="call", now=LATER)
        attended = store.lead(seen.lead_id)
        with pytest.raises(LeadChanged):  # attended meanwhile (fresh read: the guard, not the version)
            store.reroute(attended, to_rep(R2), reroute_count=1, now=LATER)
        assert self.open_leads(store, R1, R2) == {R1: 0}

    def test_a_kept_lead_rerouted_by_its_sla_becomes_ours(self, store: Any) -> None:
        kept = OwnerChange(owner_id=R1, owner_kind="USER", owner_name="Rep 1", trail={}, group_id="WEST",
                           counted_rep_id=R1, sla_due_at=NOW + timedelta(hours=1), sla_minutes=60)
        store.keep(None, lead(1), WEST, kept, now=NOW)
        seen = store.lead(lead(1).lead_id)
        store.reroute(seen, to_rep(R2), reroute_count=1, now=LATER)
        rec = store.lead(seen.lead_id)
        assert rec.status is LeadStatus.ASSIGNED and not rec.kept_owner and rec.owner_id == R2
        assert self.open_leads(store, R1, R2) == {R1: 0, R2: 1}

    def test_a_full_new_rep_refuses_the_reroute_whole(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        self.assigned(store, 2, R2, cap=1)
        with pytest.raises(RepFull):
            store.reroute(seen, to_rep(R2, cap=1), reroute_count=1, now=LATER)
        assert store.lead(seen.lead_id) == seen and self.open_leads(store, R1, R2) == {R1: 1, R2: 1}

    def test_escalate_hands_the_lead_to_a_manager_and_releases_the_rep(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        manager = OwnerChange(owner_id=MANAGER, owner_kind="USER", owner_name=None, trail={"outcome": "escalation"})
        store.escalate(seen, manager, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.status, rec.owner_id, rec.owner_name, rec.fallback) == (LeadStatus.ESCALATED, MANAGER, None, False)
        assert rec.counted_rep_id is None and not rec.waiting and rec.previous_owners == (R1,)
        assert (rec.group_id, rec.strategy, rec.sla_minutes) == ("WEST", "round_robin", 60)  # kept from before
        assert self.open_leads(store, R1) == {R1: 0}
        with pytest.raises(LeadChanged):
            store.escalate(rec, manager, now=LATER)  # no longer waiting

    # ---------------------------------------------------------------------------- late geocodes

    def test_move_changes_territory_and_owner_not_the_reroute_count(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        nowhere = TagResult(territory_id=None, method=TagMethod.UNTAGGED)
        store.move(seen, to_rep(R2), nowhere, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.territory_id, rec.territory_name, rec.tag_method) == (None, None, "UNTAGGED")
        assert rec.reroute_reason == "GEOCODED" and rec.reroute_count == 0 and rec.owner_id == R2
        assert rec.previous_owners == (R1,) and self.open_leads(store, R1, R2) == {R1: 0, R2: 1}
        store.move(rec, to_rep(R2), EAST, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.territory_id, rec.territory_name, rec.tag_note, rec.tag_precision) == (
            "EAST", "East", "ZIP 10001", "POSTAL_CODE")
        assert rec.previous_owners == (R1,) and self.open_leads(store, R2) == {R2: 1}

    def test_move_needs_an_assigned_lead(self, store: Any) -> None:
        kept = OwnerChange(owner_id=R1, owner_kind="USER", owner_name=None, trail={}, counted_rep_id=R1)
        store.keep(None, lead(1), WEST, kept, now=NOW)
        with pytest.raises(LeadChanged):
            store.move(store.lead(lead(1).lead_id), to_rep(R2), EAST, now=LATER)

    def test_refine_stamp_keeps_the_owner_and_the_counters(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        store.release(seen, LeadStatus.ATTENDED, reason="call", now=LATER)
        worked = store.lead(seen.lead_id)
        store.refine_stamp(worked, EAST, {"refined": "finer"}, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.territory_id, rec.tag_method, rec.owner_id, rec.status) == (
            "EAST", "POSTAL_CODE", R1, LeadStatus.ATTENDED)
        assert dict(rec.trail) == {"refined": "finer"} and rec.version == worked.version + 1
        with pytest.raises(LeadChanged):
            store.refine_stamp(worked, WEST, {}, now=LATER)
        with pytest.raises(LeadChanged):  # the guard: the status is the one read
            store.refine_stamp(replace(rec, status=LeadStatus.ASSIGNED), WEST, {}, now=LATER)

    # --------------------------------------------------------------------------------- refused owners

    def test_replace_refused_owner_needs_the_refused_owner_and_keeps_the_status(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1, seq=1)
        with pytest.raises(LeadChanged):
            store.replace_refused_owner(seen, R2, to_rep(R3), now=LATER)
        store.replace_refused_owner(seen, R1, to_rep(R2, seq=2), now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.status, rec.owner_id, rec.counted_rep_id, rec.reroute_count) == (LeadStatus.ASSIGNED, R2, R2, 0)
        assert rec.previous_owners == (R1,) and self.open_leads(store, R1, R2) == {R1: 0, R2: 1}

    def test_replace_refused_owner_of_an_escalated_lead(self, store: Any) -> None:
        seen = self.assigned(store, 1, R1)
        store.escalate(seen, OwnerChange(owner_id=MANAGER, owner_kind="USER", owner_name="Boss", trail={}), now=LATER)
        escalated = store.lead(seen.lead_id)
        other = OwnerChange(owner_id=QUEUE, owner_kind="QUEUE", owner_name=None, trail={"refused_owner_id": MANAGER},
                            group_id=escalated.group_id, strategy=escalated.strategy, fallback=escalated.fallback)
        store.replace_refused_owner(escalated, MANAGER, other, now=LATER)
        rec = store.lead(seen.lead_id)
        assert (rec.status, rec.owner_id, rec.owner_name, rec.counted_rep_id) == (LeadStatus.ESCALATED, QUEUE, None, None)
        assert rec.previous_owners == (R1, MANAGER) and rec.trail["refused_owner_id"] == MANAGER
        assert rec.sla_due_at == seen.sla_due_at  # no SLA given: the stored one stays

    # ---------------------------------------------------------------------------------------- due

    def test_due_lists_waiting_leads_whose_sla_ran_out_oldest_first(self, store: Any) -> None:
        self.assigned(store, 1, R1, due=NOW + timedelta(minutes=30))
        self.assigned(store, 2, R2, due=NOW + timedelta(minutes=10))
        self.assigned(store, 3, R3, due=NOW + timedelta(hours=5))
        attended = self.assigned(store, 4, R1, due=NOW + timedelta(minutes=5))
        store.release(attended, LeadStatus.ATTENDED, reason="call", now=NOW)
        due = store.due(NOW + timedelta(hours=1), 10)
        assert [r.lead_id for r in due.leads] == [lead(2).lead_id, lead(1).lead_id]
        assert due.items_read >= 2
        assert [r.lead_id for r in store.due(NOW + timedelta(hours=1), 1).leads] == [lead(2).lead_id]
        assert store.due(NOW, 10).leads == []
        assert all(r.lead is not None and r.version is not None for r in due.leads)  # whole records
