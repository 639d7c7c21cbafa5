"""What the assignment rules need from storage, in their own words: the lead routing store and its errors.

The rules (``assign``, ``release``, ``reroute``, ``late_geocode``, ``refused_owner``) read a lead and the routing
state around it, decide, then ask for ONE intent-level change: :meth:`LeadRoutingStore.assign`, ``keep``,
``release``, ``reroute``, ``move``, ``escalate``, ``replace_refused_owner`` or ``refine_stamp``. Each change is
atomic: the lead (conditional on the version that was read, plus the intent's own guard), the rep counters it
touches (an increment conditional on capacity) and the group pointer (conditional on the turn that was read) change
together or not at all. When the world moved since the read, the store raises a :class:`LostRace` that says what
moved (:class:`LeadChanged`, :class:`RepFull`, :class:`PointerMoved`, :class:`WriteConflict`) and nothing is
written; the rule re-reads and decides again.

Counters: a rep's ``open_leads`` counts exactly the leads whose ``counted_rep_id`` names them. A change that sets
``counted_rep_id`` adds one to that rep, a change that clears or replaces it takes one away, in the same change.
A lead waits for the SLA re-route (is returned by :meth:`LeadRoutingStore.due`) exactly while a rep counts it and
it has an SLA due time.

Implementations: ``territory_router.adapters.lead_store.DynamoLeadStore`` (DynamoDB: the only code that knows
condition expressions and cancellation codes) and ``territory_router_tools.doubles.routing.InMemoryRoutingStore``
(one lock per change, for unit tests). One contract suite (``tests/contract/routing_store.py``) runs against both.
The storage layout behind the port is the adapter's business: a layout that keeps the lead's PII and decision
trail apart from its hot routing state can implement the same protocol. ``LeadRecord.lead`` and ``LeadRecord.trail``
are written by the first assignment and by each change of owner, and read only off the hot path (a duplicate
delivery re-announcing the stored decision, re-routes, late geocodes, refused owners).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.roster import Roster
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagResult

OwnerKind = Literal["USER", "QUEUE"]

# ------------------------------------------------------------------------------------------------- errors


class NoActiveRoster(RuntimeError):
    """No roster has been uploaded yet: leads cannot be assigned."""


class AssignmentContention(RuntimeError):
    """The assignment kept losing races (pointer/counter/lead changed) and gave up; the message is retried."""


class LostRace(Exception):
    """A change found the world different from what was read. Nothing was written."""


class LeadChanged(LostRace):
    """The lead changed since it was read (another delivery, an attendance, a re-route): read it again."""

    def __init__(self, lead_id: str) -> None:
        super().__init__(f"lead {lead_id} changed since it was read")
        self.lead_id = lead_id


class RepFull(LostRace):
    """The rep reached capacity since the loads were read (a racing worker took the last slot)."""

    def __init__(self, rep_id: str) -> None:
        super().__init__(f"rep {rep_id} filled up meanwhile")
        self.rep_id = rep_id


class PointerMoved(LostRace):
    """Another worker took a turn of the group since its pointer was read."""

    def __init__(self, group_id: str) -> None:
        super().__init__(f"group {group_id} took another turn meanwhile")
        self.group_id = group_id


class WriteConflict(LostRace):
    """A concurrent change touched the same items at that instant: back off and try again."""


# ------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class LeadRecord:
    """What routing knows of a lead: its state, stamp, owner and history (one read of the lead store)."""

    lead_id: str
    status: LeadStatus | None = None
    version: int | None = None  # +1 on every change; None only on records from before versions
    org_id: str | None = None
    lead: Lead | None = None  # the lead as taken in (PII: never logged)
    territory_id: str | None = None
    territory_name: str | None = None
    tag_method: str | None = None
    tag_precision: str | None = None
    tag_note: str | None = None
    source_event_id: str | None = None  # the Salesforce event that created the lead (kept with the PII, never routed on)
    owner_id: str | None = None
    owner_kind: OwnerKind | None = None
    owner_name: str | None = None
    group_id: str | None = None
    strategy: str | None = None
    fallback: bool = False
    kept_owner: bool = False  # the lead kept the owner it was created with
    counted_rep_id: str | None = None  # the rep whose open-lead counter counts this lead
    waiting: bool = False  # waiting for the SLA re-route (returned by ``due`` once its SLA ran out)
    sla_due_at: datetime | None = None
    sla_minutes: int | None = None
    assigned_at: datetime | None = None
    reroute_count: int = 0
    previous_owners: tuple[str, ...] = ()
    reroute_reason: str | None = None  # GEOCODED when the last move came from a late geocode
    trail: Mapping[str, Any] = field(default_factory=dict)  # the "why this rep" trail of the last decision

    @property
    def earlier_owners(self) -> list[str]:
        """Owners the lead had with us before its current one: the owner it arrived with, then previous owners."""
        first = self.lead.owner_id if self.lead is not None else None
        return [o for o in (first, *self.previous_owners) if o]


@dataclass(frozen=True)
class RoutingSnapshot:
    """What one read before a decision returns: the lead, the active roster version, loads, pointers, refusals."""

    lead: LeadRecord | None
    active_version: str | None
    loads: dict[str, RepLoad] = field(default_factory=dict)
    pointers: dict[str, PointerState] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)  # owner id -> why Salesforce refused it


@dataclass(frozen=True)
class DueLeads:
    """Leads whose SLA ran out, oldest first, and how many items the store read to find them."""

    leads: list[LeadRecord]
    items_read: int


@dataclass(frozen=True)
class OwnerChange:
    """The owner a decision gives a lead, and what comes with it.

    ``counted_rep_id``: the rep whose counter counts the lead from now on (None for fallback owners and queues);
    ``capacity``: that rep's cap, checked atomically with the increment (None: no cap, for a lead that keeps the
    rep who owns it); ``pointer``: the group's next turn, written only if the turn read (``seq - 1``) is still the
    group's; ``sla_due_at``/``sla_minutes``: the SLA clock (None: leave the stored one).
    """

    owner_id: str
    owner_kind: OwnerKind
    owner_name: str | None
    trail: Mapping[str, Any]
    group_id: str | None = None
    strategy: str | None = None
    fallback: bool = False
    counted_rep_id: str | None = None
    capacity: int | None = None
    pointer: PointerState | None = None
    sla_due_at: datetime | None = None
    sla_minutes: int | None = None


@dataclass(frozen=True)
class CounterMove:
    """A rep counter a change touches: +1 within ``capacity`` (a new assignment: ``assigned_total`` +1 too),
    +1 without a cap (``capacity`` None: a lead that keeps the rep who owns it) or -1."""

    rep_id: str
    delta: int
    capacity: int | None = None


def counter_moves(seen: LeadRecord, owner: OwnerChange) -> list[CounterMove]:
    """The counters a change of owner moves: the old counted rep -1, the new one +1 (none when it stays the same)."""
    old, new = seen.counted_rep_id, owner.counted_rep_id
    if old is not None and old == new:
        return []
    out = [CounterMove(old, -1)] if old is not None else []
    if new is not None:
        out.append(CounterMove(new, +1, owner.capacity))
    return out


# -------------------------------------------------------------------------------------------------- ports


class RosterSource(Protocol):
    """The active roster (cached per container by version)."""

    def cached_roster(self) -> Roster | None:
        """The roster this container last saw active (no I/O), or None."""

    def active_roster(self, *, refresh: bool = False) -> Roster:
        """The active roster; ``refresh`` reads which version is active. Raises :class:`NoActiveRoster`."""

    def active_roster_or_none(self, *, refresh: bool = True) -> Roster | None:
        """The active roster, or None when none was ever activated."""


class LeadRoutingStore(RosterSource, Protocol):
    """Leads, rep counters, group pointers and refused owners, changed only through intent-level changes.

    Every change takes ``seen``, the record as it was read, and applies only if the lead is still at that
    version (plus the guard the method names); otherwise :class:`LeadChanged`. A counter increment beyond the
    rep's capacity raises :class:`RepFull`, a pointer that moved :class:`PointerMoved`, a concurrent transaction
    :class:`WriteConflict` (checked in that order: the first that applies is raised). Nothing is written then.
    """

    # -- reads

    def snapshot(
        self, *, lead_id: str | None, rep_ids: Iterable[str], group_ids: Iterable[str], include_active: bool = True
    ) -> RoutingSnapshot:
        """One read: the lead, the active roster version (``include_active``), the reps' loads and the groups'
        pointers (those that exist), and the refused owners whenever reps or groups are asked for."""

    def lead(self, lead_id: str) -> LeadRecord | None:
        """The lead as it is now (a strongly consistent read)."""

    def due(self, now: datetime, limit: int) -> DueLeads:
        """Up to ``limit`` waiting leads whose SLA ran out by ``now``, oldest first."""

    def loads(self, rep_ids: Iterable[str]) -> dict[str, RepLoad]:
        """The counters of these reps (reps without one are left out)."""

    def unusable_owners(self) -> dict[str, dict[str, Any]]:
        """Owners Salesforce refused: owner id -> ``{"code", "reason", "at", "lead_id"}``."""

    # -- changes of a lead (each atomic, see the class docstring)

    def assign(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        """First assignment: the lead (absent when ``seen`` is None, else still ``RECEIVED``/``TAGGED`` at the version
        seen) becomes ``ASSIGNED`` to ``owner`` with the stamp ``tag``; the lead as taken in is kept if stored.
        ``owner.counted_rep_id`` gets +1 within ``owner.capacity`` (a new assignment: ``assigned_total`` +1 too)."""

    def keep(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        """First assignment of a lead that keeps the rep who owns it: as :meth:`assign` with status
        ``KEPT_OWNER``, the rep counted without a cap (``assigned_total`` unchanged), no pointer."""

    def release(self, seen: LeadRecord, status: LeadStatus | None, *, reason: str, now: datetime) -> None:
        """The lead stops waiting; its counted rep (if any, still the one seen) gets -1 and is cleared; the status
        becomes ``status`` unless None. The release time and reason are recorded."""

    def reroute(self, seen: LeadRecord, owner: OwnerChange, *, reroute_count: int, now: datetime) -> None:
        """SLA re-route, guarded by the lead still waiting (``ASSIGNED``, or ``KEPT_OWNER`` of a group that
        re-routes kept leads): ``ASSIGNED`` to ``owner``, a new SLA clock, the old owner appended to the previous
        owners (unless it stays), the old counted rep -1 and the new one +1 within capacity (none when the same)."""

    def move(self, seen: LeadRecord, owner: OwnerChange, tag: TagResult, *, now: datetime) -> None:
        """A late geocode moved an unworked lead (guard: still ``ASSIGNED``) to ``owner`` in the territory of
        ``tag``: as :meth:`reroute` with the new stamp, the re-route count unchanged, reason ``GEOCODED``."""

    def escalate(self, seen: LeadRecord, owner: OwnerChange, *, now: datetime) -> None:
        """Too many re-routes (guard as :meth:`reroute`): ``ESCALATED`` to ``owner`` (its id, kind, name and trail;
        not a fallback; an escalation owner is never counted: the counted rep -1, the lead no longer waiting; the
        group, strategy and SLA fields stay as they were), the old owner appended to the previous owners."""

    def replace_refused_owner(self, seen: LeadRecord, refused: str, owner: OwnerChange, *, now: datetime) -> None:
        """Salesforce refused ``refused`` as the lead's owner (guard: still its owner): the lead goes to ``owner``,
        status unchanged, ``refused`` appended to the previous owners, counters moved as in :meth:`reroute`."""

    def refine_stamp(self, seen: LeadRecord, tag: TagResult, trail: Mapping[str, Any], *, now: datetime) -> None:
        """A late geocode refined the stamp of a lead that keeps its owner (guard: status unchanged)."""

    # -- refused owners (one record, not tied to a lead)

    def mark_unusable(self, owner_id: str, *, code: str, reason: str, now: datetime, lead_id: str | None = None) -> None:
        """Record that Salesforce refused ``owner_id`` as an owner (the latest refusal is kept)."""

    def clear_unusable(self, owner_id: str) -> bool:
        """Make ``owner_id`` eligible again; True if it was marked."""
