"""The race logic of the assignment rules on the in-memory port: interleavings, caps, counters exactly once.

The real rules (``assign_lead``, ``mark_attended``, ``release_lead``, ``reroute_due_leads``, ``apply_late_geocode``,
``redecide_refused_owner``) run against ``InMemoryRoutingStore``, which applies each change atomically with the
same guards as DynamoDB. A hypothesis state machine drives random sequences of them - new leads (routed or kept),
redeliveries, attendances, closes, SLA runs at later times, late geocodes, refused owners - and makes a competing
worker act between a rule's read and its write (the store's ``before_change`` hook), the way the integration tests
race the DynamoDB store. After every step:

- every rep's open-lead counter equals the leads that name it (``counted_rep_id``): nothing counted twice or lost;
- ``assigned_total`` equals the times a rep became a lead's counted rep by our decision (kept leads excluded);
- no rep holds more leads we gave them than their capacity (a kept lead may exceed it: the rep owns it already);
- a lead waits for the SLA run only while a rep counts it and it is assigned (or kept);
- a lead a person worked, closed or deleted keeps its owner; a re-route never returns a lead to the owner it left.

A threaded test then has eight workers assign at once against small caps.
(The same invariants against DynamoDB: tests/integration/assignment and tests/integration/reliability.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from territory_router.assignment import retry
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.engine import NoUsableOwner
from territory_router.assignment.late_geocode import apply_late_geocode
from territory_router.assignment.refused_owner import redecide_refused_owner
from territory_router.assignment.release import mark_attended, release_lead
from territory_router.assignment.reroute import reroute_due_leads
from territory_router.assignment.roster import Roster, parse_roster, sf_id18
from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest
from territory_router_tools.doubles.routing import InMemoryRoutingStore

START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # a Monday
REPS = [sf_id18(f"005{i:012d}") for i in range(1, 5)]
QUEUE = sf_id18("00G000000000001")
MANAGER = sf_id18("005000000000900")
TERRITORIES = ["WEST", "EAST", "NOWHERE"]
WORKED = (LeadStatus.ATTENDED, LeadStatus.CLOSED, LeadStatus.DELETED)


def make_roster(strategy: str, cap: int, reroute_kept: bool, max_reroutes: int) -> Roster:
    reps = [{"rep_id": r, "name": f"Rep {i}", "capacity": cap} for i, r in enumerate(REPS, 1)]
    groups = [
        {"group_id": "WEST", "territories": ["WEST"], "members": REPS[:3], "strategy": strategy,
         "fallback_owner": QUEUE, "escalation_owner": MANAGER, "sla_minutes": 30, "overflow_group": "EAST",
         "reroute_kept_leads": reroute_kept},
        {"group_id": "EAST", "territories": ["EAST"], "members": REPS[2:], "strategy": "least_loaded",
         "sla_minutes": 30, "reroute_kept_leads": reroute_kept},
    ]
    doc = {"default_fallback_owner": QUEUE, "reps": reps, "groups": groups, "max_reroutes": max_reroutes}
    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    return result.roster


def lead_id(n: int) -> str:
    return sf_id18(f"00Q{n:012d}")


def request(n: int, territory: str, owner: str | None = None) -> AssignRequest:
    lead = Lead(lead_id=lead_id(n), last_name=f"Lead {n}", company="Acme", owner_id=owner)
    return AssignRequest(lead=lead, tag=TagResult(territory_id=territory, method=TagMethod.POLYGON))


class RoutingRaces(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = InMemoryRoutingStore(before_change=self._before_change)
        self.now = START
        self.n = 0
        self.requests: dict[str, AssignRequest] = {}
        self.competitors: list[Callable[[], None]] = []  # run once, between the next rule's read and its write
        self.competing = False
        self.worked_owner: dict[str, str | None] = {}  # leads a person worked/closed: the owner they keep

    # ---------------------------------------------------------------------------------- plumbing

    def _before_change(self, intent: str, lead: str) -> None:
        if self.competing or not self.competitors:
            return
        self.competing = True
        try:
            self.competitors.pop(0)()
        finally:
            self.competing = False

    def _new_request(self, territory: str, owner: str | None) -> AssignRequest:
        self.n += 1
        req = request(self.n, territory, owner)
        self.requests[req.lead.lead_id] = req
        return req

    def _assign(self, req: AssignRequest) -> None:
        before = self.store.lead(req.lead.lead_id)
        out = assign_lead(req, store=self.store, now=self.now, default_sla_minutes=60)
        after = self.store.lead(req.lead.lead_id)
        if out.duplicate:
            assert after is not None and out.detail is not None and out.detail.owner_id == after.owner_id
            assert before is not None or self.competitors == []  # only a competitor can have assigned it
        elif out.detail is not None:
            assert after is not None and after.owner_id == out.detail.owner_id
            assert after.status in (LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER)
        else:
            assert after is None or after.status not in (LeadStatus.RECEIVED, LeadStatus.TAGGED)

    def _note_worked(self, lead: str) -> None:
        rec = self.store.lead(lead)
        if rec is not None and rec.status in WORKED and lead not in self.worked_owner:
            self.worked_owner[lead] = rec.owner_id

    def _known(self) -> list[str]:
        return sorted(self.requests)

    # ----------------------------------------------------------------------------------- rules

    @initialize(strategy=st.sampled_from(["round_robin", "weighted_round_robin", "least_loaded"]),
                cap=st.integers(1, 2), reroute_kept=st.booleans(), max_reroutes=st.integers(0, 2))
    def roster(self, strategy: str, cap: int, reroute_kept: bool, max_reroutes: int) -> None:
        self.cap = cap
        self.store.activate_roster(make_roster(strategy, cap, reroute_kept, max_reroutes))

    @rule(territory=st.sampled_from(TERRITORIES), owner=st.sampled_from([None, None, None, QUEUE, *REPS]))
    def new_lead(self, territory: str, owner: str | None) -> None:
        """A new lead (owned by a routing inbox, or by a rep who keeps it)."""
        self._assign(self._new_request(territory, owner))

    @rule(territory=st.sampled_from(TERRITORIES[:2]), competitor=st.sampled_from(["duplicate", "rival", "rivals"]))
    def new_lead_raced(self, territory: str, competitor: str) -> None:
        """Another worker acts between this assignment's read and its write: the same message delivered twice,
        or other leads of the group taking the pointer's turn and the reps' last slots."""
        req = self._new_request(territory, None)
        if competitor == "duplicate":
            self.competitors.append(lambda: self._assign(req))
        else:
            rivals = [self._new_request(territory, None) for _ in range(1 if competitor == "rival" else 3)]
            self.competitors.append(lambda: [self._assign(r) for r in rivals])
        self._assign(req)
        self.competitors.clear()

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """At-least-once delivery: an AssignRequest comes again, maybe much later."""
        req = self.requests[data.draw(st.sampled_from(self._known()))]
        before = self.store.lead(req.lead.lead_id)
        self._assign(req)
        after = self.store.lead(req.lead.lead_id)
        if before is not None and before.status not in (LeadStatus.RECEIVED, LeadStatus.TAGGED):
            assert after == before, "a redelivery changed an assigned lead"

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), how=st.sampled_from(["attend", "close", "delete"]))
    def person_acts(self, data: st.DataObject, how: str) -> None:
        lead = data.draw(st.sampled_from(self._known()))
        before = self.store.lead(lead)
        if how == "attend":
            changed = mark_attended(lead, store=self.store, now=self.now, reason="call logged")
            assert changed == (before is not None and before.status in (
                LeadStatus.ASSIGNED, LeadStatus.ESCALATED, LeadStatus.KEPT_OWNER))
        else:
            status = LeadStatus.CLOSED if how == "close" else LeadStatus.DELETED
            released = release_lead(lead, new_status=status, store=self.store, now=self.now, reason=how)
            assert released == (before is not None and before.counted_rep_id is not None)
        again = self.store.lead(lead)
        assert again is None or again.counted_rep_id is None
        self._note_worked(lead)

    @rule(minutes=st.sampled_from([10, 31, 61, 120]), raced=st.booleans())
    def sla_run(self, minutes: int, raced: bool) -> None:
        """The scheduled re-route, later; raced: a rep works a lead between the run's read and its write."""
        self.now += timedelta(minutes=minutes)
        due = self.store.due(self.now, 500).leads
        if raced and due:
            victim = due[0].lead_id
            self.competitors.append(lambda: (mark_attended(victim, store=self.store, now=self.now, reason="raced"),
                                             self._note_worked(victim)))
        try:
            report = reroute_due_leads(store=self.store, now=self.now, max_reroutes=2)
        except NoUsableOwner:
            return
        finally:
            self.competitors.clear()
        for d in report.rerouted:
            assert d.owner_id != d.previous_owner_id
        moved = {d.lead_id for d in report.rerouted} | {d.lead_id for d in report.escalated}
        assert moved <= {r.lead_id for r in due}
        assert not moved & set(self.worked_owner), "a lead a person worked was re-routed"

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), territory=st.sampled_from(TERRITORIES), raced=st.booleans())
    def late_geocode(self, data: st.DataObject, territory: str, raced: bool) -> None:
        lead = data.draw(st.sampled_from(self._known()))
        if raced:
            self.competitors.append(lambda: (mark_attended(lead, store=self.store, now=self.now, reason="raced"),
                                             self._note_worked(lead)))
        tag = TagResult(territory_id=territory, method=TagMethod.POSTAL_CENTROID)
        out = apply_late_geocode(self.requests[lead].lead, tag, store=self.store, now=self.now, default_sla_minutes=60)
        self.competitors.clear()
        if out.action == "moved":
            assert lead not in self.worked_owner

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def salesforce_refuses_the_owner(self, data: st.DataObject) -> None:
        lead = data.draw(st.sampled_from(self._known()))
        rec = self.store.lead(lead)
        if rec is None or rec.owner_id is None:
            return
        self.store.mark_unusable(rec.owner_id, code="INACTIVE_OWNER_OR_USER", reason="inactive", now=self.now,
                                 lead_id=lead)
        try:
            out = redecide_refused_owner(lead, rec.owner_id, "inactive", store=self.store, now=self.now)
        except NoUsableOwner:
            return
        finally:
            self.store.clear_unusable(rec.owner_id)  # the admin fixes it: keep the machine going
        if out.detail is not None:
            assert out.detail.owner_id != rec.owner_id and lead not in self.worked_owner

    # ------------------------------------------------------------------------------ invariants

    @invariant()
    def counters_equal_the_leads_they_count(self) -> None:
        records = self.store.records()
        truth = Counter(r.counted_rep_id for r in records if r.counted_rep_id)
        loads = {rep: load.open_leads for rep, load in self.store.all_loads().items() if load.open_leads}
        assert loads == dict(truth)
        assert all(load.open_leads >= 0 for load in self.store.all_loads().values())

    @invariant()
    def each_assignment_counted_once(self) -> None:
        expected: Counter[str] = Counter()
        for _, before, after in self.store.log:
            new = after.counted_rep_id
            if new and new != (before.counted_rep_id if before else None) and after.status is not LeadStatus.KEPT_OWNER:
                expected[new] += 1
        totals = {rep: load.assigned_total for rep, load in self.store.all_loads().items() if load.assigned_total}
        assert totals == dict(expected)

    @invariant()
    def caps_hold_for_leads_we_gave(self) -> None:
        if not hasattr(self, "cap"):
            return
        ours = Counter(r.counted_rep_id for r in self.store.records() if r.counted_rep_id and not r.kept_owner)
        assert all(n <= self.cap for n in ours.values()), ours

    @invariant()
    def only_counted_open_leads_wait(self) -> None:
        for r in self.store.records():
            if r.waiting:
                assert r.counted_rep_id is not None and r.sla_due_at is not None
                assert r.status in (LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER)

    @invariant()
    def worked_leads_keep_their_owner(self) -> None:
        for lead, owner in self.worked_owner.items():
            rec = self.store.lead(lead)
            assert rec is not None and rec.owner_id == owner and rec.status in WORKED


@pytest.fixture
def no_backoff_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "_sleep", lambda _s: None)


def test_routing_races(no_backoff_waits: None) -> None:
    run_state_machine_as_test(RoutingRaces, settings=settings(
        max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]))


def test_eight_workers_never_exceed_caps_and_count_each_lead_once() -> None:
    """Real threads on one store (backoff waits included): every lead assigned once, caps filled exactly."""
    roster = make_roster("round_robin", 3, False, 2)
    store = InMemoryRoutingStore(roster)
    requests = [request(n, "WEST") for n in range(1, 41)] * 2  # every message delivered twice
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda r: assign_lead(r, store=store, now=START, default_sla_minutes=60), requests))
    records = {r.lead_id: r for r in store.records()}
    assert len(records) == 40
    assert sum(1 for o in outcomes if not o.duplicate) == 40
    to_reps = Counter(r.owner_id for r in records.values() if r.counted_rep_id)
    assert to_reps == dict.fromkeys(REPS, 3)  # WEST's three reps, then EAST's overflow (rep 3 is in both)
    assert {rep: load.open_leads for rep, load in store.all_loads().items()} == dict.fromkeys(REPS, 3)
    assert sum(1 for r in records.values() if r.owner_id == QUEUE) == 40 - 3 * len(REPS)
