"""The lead routing store in memory: the same protocol, guards, counter rules and atomicity as the DynamoDB store.

:class:`InMemoryRoutingStore` implements :class:`territory_router.assignment.ports.LeadRoutingStore` with one lock per
change, so the assignment rules' race logic runs in unit tests (hypothesis state machines included) without an
emulator. It is a test double: it lives in the tooling package and never ships to Lambda.

It answers as ``territory_router.adapters.lead_store.DynamoLeadStore`` does, which the contract suite
(``tests/contract/routing_store.py``) checks by running the same tests against both:

- every change is checked and applied under one lock, the lead's guard first, then the counters, then the pointer;
  the first failure is raised (``LeadChanged``, ``RepFull``, ``PointerMoved``) and nothing is written;
- a counter increment is refused only when the rep's counter exists and is at capacity (DynamoDB's
  ``attribute_not_exists(open_leads) OR open_leads < :cap``); a decrement of a missing counter makes it -1 (``ADD``);
- a pointer write is refused when the group's pointer exists with another turn than the one read;
- times are kept to the second, as the DynamoDB items store them.

``before_change`` (``(intent, lead_id) -> None``) is called before a change takes the lock: tests use it to let a
competing worker act between a rule's read and its write, as the integration tests do with the DynamoDB store.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.ports import (
    CounterMove,
    DueLeads,
    LeadChanged,
    LeadRecord,
    NoActiveRoster,
    OwnerChange,
    PointerMoved,
    RepFull,
    RoutingSnapshot,
    counter_moves,
)
from territory_router.assignment.records import iso
from territory_router.assignment.roster import Roster
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagResult
from territory_router.domain.messages import REASON_GEOCODED

_ASSIGNABLE = (LeadStatus.RECEIVED, LeadStatus.TAGGED)
_WAITING = (LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER)


def _second(dt: datetime | None) -> datetime | None:
    """``dt`` as the DynamoDB store keeps it: UTC, whole seconds."""
    return datetime.fromtimestamp(int(dt.timestamp()), UTC) if dt is not None else None


class InMemoryRoutingStore:
    """:class:`~territory_router.assignment.ports.LeadRoutingStore` in memory (see the module docstring)."""

    def __init__(self, roster: Roster | None = None,
                 before_change: Callable[[str, str], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._leads: dict[str, LeadRecord] = {}
        self._loads: dict[str, RepLoad] = {}
        self._pointers: dict[str, PointerState] = {}
        self._unusable: dict[str, dict[str, Any]] = {}
        self._rosters: dict[str, Roster] = {}
        self._active: str | None = None
        self._seen: str | None = None  # the version this "container" last saw active
        self.before_change = before_change
        self.changes: Counter[str] = Counter()  # changes applied, by intent
        self.log: list[tuple[str, LeadRecord | None, LeadRecord]] = []  # (intent, before, after) of each change
        self.refused: Counter[str] = Counter()  # changes refused, by error type
        if roster is not None:
            self.activate_roster(roster)

    # ------------------------------------------------------------------------------------- rosters

    def activate_roster(self, roster: Roster) -> str:
        with self._lock:
            self._rosters[roster.version] = roster
            self._active = self._seen = roster.version
        return roster.version

    def cached_roster(self) -> Roster | None:
        return self._rosters.get(self._seen) if self._seen else None

    def active_roster(self, *, refresh: bool = False) -> Roster:
        if not refresh and self.cached_roster() is not None:
            return self.cached_roster()  # type: ignore[return-value]
        if self._active is None:
            raise NoActiveRoster("no roster is active")
        self._seen = self._active
        return self._rosters[self._active]

    def active_roster_or_none(self, *, refresh: bool = True) -> Roster | None:
        try:
            return self.active_roster(refresh=refresh)
        except NoActiveRoster:
            return None

    # --------------------------------------------------------------------------------- test set-up

    def put_lead(self, record: LeadRecord) -> None:
        """Store ``record`` as is (a lead intake and tagging recorded, for instance)."""
        with self._lock:
            self._leads[record.lead_id] = record

    def records(self) -> list[LeadRecord]:
        with self._lock:
            return list(self._leads.values())

    def all_loads(self) -> dict[str, RepLoad]:
        with self._lock:
            return dict(self._loads)

    # ---------------------------------------------------------------------------------------- reads

    def snapshot(self, *, lead_id: str | None, rep_ids: Iterable[str], group_ids: Iterable[str],
                 include_active: bool = True) -> RoutingSnapshot:
        reps, groups = list(rep_ids), list(group_ids)
        with self._lock:
            return RoutingSnapshot(
                lead=self._leads.get(lead_id) if lead_id else None,
                active_version=self._active if include_active else None,
                loads={r: self._loads[r] for r in reps if r in self._loads},
                pointers={g: self._pointers[g] for g in groups if g in self._pointers},
                unusable=self._reasons() if (reps or groups) else {},
            )

    def _reasons(self) -> dict[str, str]:
        return {o: f"refused by Salesforce ({v.get('code')}) {v.get('at', '')}".strip() for o, v in self._unusable.items()}

    def lead(self, lead_id: str) -> LeadRecord | None:
        with self._lock:
            return self._leads.get(lead_id)

    def due(self, now: datetime, limit: int) -> DueLeads:
        with self._lock:
            due = [r for r in self._leads.values() if r.waiting and r.sla_due_at is not None and r.sla_due_at <= now]
        due.sort(key=lambda r: (r.sla_due_at, r.lead_id))
        return DueLeads(due[:limit], len(due[:limit]))

    def loads(self, rep_ids: Iterable[str]) -> dict[str, RepLoad]:
        with self._lock:
            return {r: self._loads[r] for r in rep_ids if r in self._loads}

    def unusable_owners(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._unusable.items()}

    def mark_unusable(self, owner_id: str, *, code: str, reason: str, now: datetime, lead_id: str | None = None) -> None:
        value = {"code": code, "reason": reason[:500], "at": iso(now), "lead_id": lead_id}
        with self._lock:
            self._unusable[owner_id] = {k: v for k, v in value.items() if v is not None}

    def clear_unusable(self, owner_id: str) -> bool:
        with self._lock:
            return self._unusable.pop(owner_id, None) is not None

    # ---------------------------------------------------------------------------------- the checks

    def _change(self, intent: str, lead_id: str, guard: Callable[[LeadRecord | None], bool],
                counters: list[CounterMove], pointer: PointerState | None,
                apply: Callable[[LeadRecord | None], LeadRecord]) -> None:
        """Check the guard, the counters and the pointer, then apply everything: one lock, all or nothing."""
        if self.before_change is not None:
            self.before_change(intent, lead_id)
        with self._lock:
            try:
                if not guard(self._leads.get(lead_id)):
                    raise LeadChanged(lead_id)
                for c in counters:
                    load = self._loads.get(c.rep_id)
                    if c.delta > 0 and c.capacity is not None and load is not None and load.open_leads >= c.capacity:
                        raise RepFull(c.rep_id)
                if pointer is not None:
                    current = self._pointers.get(pointer.group_id)
                    if current is not None and current.seq != pointer.seq - 1:
                        raise PointerMoved(pointer.group_id)
            except (LeadChanged, RepFull, PointerMoved) as exc:
                self.refused[type(exc).__name__] += 1
                raise
            before = self._leads.get(lead_id)
            self._leads[lead_id] = apply(before)
            self.log.append((intent, before, self._leads[lead_id]))
            for c in counters:
                load = self._loads.get(c.rep_id) or RepLoad()
                new_assignment = c.delta > 0 and c.capacity is not None
                self._loads[c.rep_id] = RepLoad(load.open_leads + c.delta, load.assigned_total + int(new_assignment))
            if pointer is not None:
                self._pointers[pointer.group_id] = PointerState(pointer.group_id, pointer.seq, pointer.last_rep_id,
                                                                dict(pointer.scores))
            self.changes[intent] += 1

    @staticmethod
    def _at(seen: LeadRecord | None) -> Callable[[LeadRecord | None], bool]:
        """The lead is at the version read (absent when nothing was read)."""
        if seen is None:
            return lambda cur: cur is None
        return lambda cur: cur is not None and cur.version == seen.version

    # --------------------------------------------------------------------------------- the changes

    def assign(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        self._first("assign", seen, lead, tag, owner, now=now, status=LeadStatus.ASSIGNED)

    def keep(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        self._first("keep", seen, lead, tag, replace(owner, capacity=None, pointer=None), now=now,
                    status=LeadStatus.KEPT_OWNER)

    def _first(self, intent: str, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *,
               now: datetime, status: LeadStatus) -> None:
        at = self._at(seen)

        def guard(cur: LeadRecord | None) -> bool:
            return at(cur) and (cur is None or cur.status in _ASSIGNABLE)

        def apply(cur: LeadRecord | None) -> LeadRecord:
            base = cur or LeadRecord(lead_id=lead.lead_id)
            rec = _owned(base, owner, now, replace_optional=False)
            return replace(
                _stamped(rec, tag, clear=False),
                status=status,
                version=(seen.version or 0) + 1 if seen is not None else 1,
                kept_owner=True if status is LeadStatus.KEPT_OWNER else base.kept_owner,
                org_id=lead.org_id if lead.org_id is not None else base.org_id,
                lead=base.lead if base.lead is not None else lead,
            )

        counters = [CounterMove(owner.counted_rep_id, +1, owner.capacity)] if owner.counted_rep_id else []
        self._change(intent, lead.lead_id, guard, counters, owner.pointer, apply)

    def release(self, seen: LeadRecord, status: LeadStatus | None, *, reason: str, now: datetime) -> None:
        at = self._at(seen)

        def guard(cur: LeadRecord | None) -> bool:
            return at(cur) and cur is not None and cur.counted_rep_id == seen.counted_rep_id

        def apply(cur: LeadRecord | None) -> LeadRecord:
            assert cur is not None
            return replace(cur, version=(seen.version or 0) + 1, status=status or cur.status, waiting=False,
                           counted_rep_id=None)

        counters = [CounterMove(seen.counted_rep_id, -1)] if seen.counted_rep_id else []
        self._change("release", seen.lead_id, guard, counters, None, apply)

    def _waiting_guard(self, seen: LeadRecord) -> Callable[[LeadRecord | None], bool]:
        at = self._at(seen)
        return lambda cur: at(cur) and cur is not None and cur.status in _WAITING and cur.waiting

    def _reassigned(self, cur: LeadRecord | None, seen: LeadRecord, owner: OwnerChange, now: datetime) -> LeadRecord:
        assert cur is not None
        rec = _owned(cur, owner, now, replace_optional=True)
        previous = cur.previous_owners
        if seen.owner_id and seen.owner_id != owner.owner_id:
            previous = (*previous, seen.owner_id)
        return replace(rec, status=LeadStatus.ASSIGNED, version=(seen.version or 0) + 1, kept_owner=False,
                       previous_owners=previous)

    def reroute(self, seen: LeadRecord, owner: OwnerChange, *, reroute_count: int, now: datetime) -> None:
        def apply(cur: LeadRecord | None) -> LeadRecord:
            return replace(self._reassigned(cur, seen, owner, now), reroute_count=reroute_count)

        self._change("reroute", seen.lead_id, self._waiting_guard(seen), counter_moves(seen, owner), owner.pointer, apply)

    def move(self, seen: LeadRecord, owner: OwnerChange, tag: TagResult, *, now: datetime) -> None:
        at = self._at(seen)

        def guard(cur: LeadRecord | None) -> bool:
            return at(cur) and cur is not None and cur.status is LeadStatus.ASSIGNED

        def apply(cur: LeadRecord | None) -> LeadRecord:
            rec = _stamped(self._reassigned(cur, seen, owner, now), tag, clear=True)
            return replace(rec, reroute_count=seen.reroute_count, reroute_reason=REASON_GEOCODED)

        self._change("move", seen.lead_id, guard, counter_moves(seen, owner), owner.pointer, apply)

    def escalate(self, seen: LeadRecord, owner: OwnerChange, *, now: datetime) -> None:
        def apply(cur: LeadRecord | None) -> LeadRecord:
            assert cur is not None
            previous = (*cur.previous_owners, seen.owner_id) if seen.owner_id else cur.previous_owners
            return replace(cur, status=LeadStatus.ESCALATED, version=(seen.version or 0) + 1,
                           assigned_at=_second(now), owner_id=owner.owner_id, owner_kind=owner.owner_kind,
                           owner_name=owner.owner_name, fallback=False, trail=dict(owner.trail), waiting=False,
                           counted_rep_id=None, kept_owner=False, previous_owners=previous)

        counters = [CounterMove(seen.counted_rep_id, -1)] if seen.counted_rep_id else []
        self._change("escalate", seen.lead_id, self._waiting_guard(seen), counters, None, apply)

    def replace_refused_owner(self, seen: LeadRecord, refused: str, owner: OwnerChange, *, now: datetime) -> None:
        at = self._at(seen)

        def guard(cur: LeadRecord | None) -> bool:
            return at(cur) and cur is not None and cur.owner_id == refused

        def apply(cur: LeadRecord | None) -> LeadRecord:
            assert cur is not None
            rec = _owned(cur, owner, now, replace_optional=True)
            return replace(rec, version=(seen.version or 0) + 1, previous_owners=(*cur.previous_owners, refused))

        self._change("replace_refused_owner", seen.lead_id, guard, counter_moves(seen, owner), owner.pointer, apply)

    def refine_stamp(self, seen: LeadRecord, tag: TagResult, trail: Mapping[str, Any], *, now: datetime) -> None:
        at = self._at(seen)

        def guard(cur: LeadRecord | None) -> bool:
            return at(cur) and cur is not None and cur.status == seen.status

        def apply(cur: LeadRecord | None) -> LeadRecord:
            assert cur is not None
            return replace(_stamped(cur, tag, clear=True), version=(seen.version or 0) + 1, trail=dict(trail))

        self._change("refine_stamp", seen.lead_id, guard, [], None, apply)


def _owned(cur: LeadRecord, owner: OwnerChange, now: datetime, *, replace_optional: bool) -> LeadRecord:
    """``cur`` given to ``owner`` (the attributes every change of owner writes, as the DynamoDB store does)."""

    def optional(new: str | None, old: str | None) -> str | None:
        return new if replace_optional or new is not None else old

    counted = owner.counted_rep_id if owner.counted_rep_id is not None or replace_optional else cur.counted_rep_id
    return replace(
        cur,
        assigned_at=_second(now),
        owner_id=owner.owner_id,
        owner_kind=owner.owner_kind,
        owner_name=optional(owner.owner_name, cur.owner_name),
        group_id=optional(owner.group_id, cur.group_id),
        strategy=optional(owner.strategy, cur.strategy),
        fallback=owner.fallback,
        trail=dict(owner.trail),
        sla_due_at=_second(owner.sla_due_at) if owner.sla_due_at is not None else cur.sla_due_at,
        sla_minutes=owner.sla_minutes if owner.sla_minutes is not None else cur.sla_minutes,
        counted_rep_id=counted,
        waiting=owner.counted_rep_id is not None and owner.sla_due_at is not None,
    )


def _stamped(cur: LeadRecord, tag: TagResult, *, clear: bool) -> LeadRecord:
    """``cur`` with the stamp of ``tag``; ``clear``: a missing territory id/name clears the stored one."""
    return replace(
        cur,
        tag_method=tag.method.value,
        tag_precision=tag.precision.value,
        tag_note=tag.note,
        territory_id=tag.territory_id if clear or tag.territory_id is not None else cur.territory_id,
        territory_name=tag.territory_name if clear or tag.territory_name is not None else cur.territory_name,
    )
