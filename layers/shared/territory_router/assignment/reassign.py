"""Deciding again for a lead that already has an owner: the machinery the SLA re-route, late geocodes and refused
owners share.

A :class:`RoutingRun` holds one roster and its own view of the loads and pointers it read (refreshed after a lost
race), decides with ``engine.decide`` and asks the store for one change per lead (``reroute``, ``move``,
``replace_refused_owner``): the lead's version checked, the old rep -1 and the new rep +1 within capacity in the
same change, so a lead attended at the same moment either stays put or is released from its new owner - never
counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from territory_router.assignment.assign import groups_to_read, owner_change
from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.engine import NoUsableOwner, decide
from territory_router.assignment.ports import LeadRecord, LeadRoutingStore, OwnerChange, RepFull
from territory_router.assignment.records import detail_for_decision, iso
from territory_router.assignment.roster import Group, Roster, owner_kind
from territory_router.assignment.sla import due_at, sla_for
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagPrecision, TagResult
from territory_router.domain.messages import REASON_GEOCODED, LeadAssignedDetail

REASON_SLA = "SLA_MISSED"  # LeadRerouted.reroute_reason: nobody attended the lead within its SLA (or GEOCODED)


def lead_of(record: LeadRecord) -> Lead:
    """The lead as taken in (a bare lead when the record has none)."""
    return record.lead if record.lead is not None else Lead(lead_id=record.lead_id)


def tag_of(record: LeadRecord) -> TagResult:
    """The stored territory stamp."""
    try:
        method = TagMethod(record.tag_method or TagMethod.UNTAGGED.value)
    except ValueError:
        method = TagMethod.UNTAGGED
    try:
        precision = TagPrecision(record.tag_precision) if record.tag_precision else None
    except ValueError:
        precision = None
    return TagResult(
        territory_id=record.territory_id,
        territory_name=record.territory_name,
        method=method,
        note=record.tag_note or "",
        precision=precision,
    )


def group_of(roster: Roster, record: LeadRecord) -> Group | None:
    g = roster.groups.get(record.group_id or "")
    return g or roster.group_for_territory(record.territory_id)


def escalation_owner(roster: Roster, group: Group | None, current_owner: str | None,
                     unusable: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The first of: the group's escalation owner, the rep's manager, the group's fallback owner, the default
    fallback owner, that Salesforce has not refused as an owner."""
    unusable = unusable or {}
    candidates: list[tuple[str | None, str]] = []
    if group is not None:
        candidates.append((group.escalation_owner, f"escalation owner of group {group.group_id}"))
    rep = roster.reps.get(current_owner or "")
    if rep is not None:
        candidates.append((rep.manager_id, f"manager of {rep.label}"))
    if group is not None:
        candidates.append((group.fallback_owner, f"fallback owner of group {group.group_id}"))
    for owner, why in candidates:
        if owner and owner not in unusable:
            return owner, why
    if roster.default_fallback_owner in unusable:
        raise NoUsableOwner(f"every escalation owner is unusable, the default fallback owner too "
                            f"({unusable[roster.default_fallback_owner]})")
    return roster.default_fallback_owner, "default fallback owner"


def escalation_change(roster: Roster, owner: str, trail: dict[str, Any]) -> OwnerChange:
    """An escalation owner: never counted, named after the roster's rep when it is one."""
    rep = roster.reps.get(owner)
    return OwnerChange(owner_id=owner, owner_kind=owner_kind(owner),
                       owner_name=rep.name if rep is not None and rep.name else None, trail=trail)


class RoutingRun:
    """Decisions on one roster for leads that already have an owner, with the run's own view of loads/pointers."""

    def __init__(self, store: LeadRoutingStore, roster: Roster, now: datetime) -> None:
        self.store = store
        self.roster = roster
        self.now = now
        self.loads: dict[str, RepLoad] = {}
        self.pointers: dict[str, PointerState] = {}
        self.unusable: dict[str, str] = {}  # owners Salesforce refused

    def refresh(self, territory_ids: set[str | None], group_ids: set[str]) -> None:
        """Read the loads, pointers and refused owners the decisions for these territories/groups may look at."""
        reps: list[str] = []
        pointer_groups: list[str] = []
        for t in territory_ids:
            r, p = groups_to_read(self.roster, t)
            reps += r
            pointer_groups += p
        for gid in group_ids:
            r, p = groups_to_read(self.roster, None, gid)
            reps += r
            pointer_groups += p
        snap = self.store.snapshot(lead_id=None, rep_ids=reps, group_ids=pointer_groups, include_active=False)
        self.loads.update(snap.loads)
        self.pointers.update(snap.pointers)
        self.unusable.update(snap.unusable)

    def refresh_for(self, record: LeadRecord) -> None:
        self.refresh({record.territory_id}, {g for g in (record.group_id,) if g})

    def bump(self, rep_id: str | None, delta: int) -> None:
        if not rep_id:
            return
        cur = self.loads.get(rep_id) or RepLoad()
        self.loads[rep_id] = RepLoad(max(0, cur.open_leads + delta), cur.assigned_total + (1 if delta > 0 else 0))

    def _moved(self, old_rep: str | None, new_rep: str | None, pointer: PointerState | None) -> None:
        """Keep the run's view in step with a change the store made."""
        if old_rep != new_rep:
            self.bump(old_rep, -1)
            self.bump(new_rep, +1)
        if pointer is not None:
            self.pointers[pointer.group_id] = pointer

    def reassign(
        self,
        seen: LeadRecord,
        tag: TagResult,
        *,
        excluded_full: dict[str, str],
        exclude: dict[str, str],
        group_id: str | None,
        reroute_count: int,
        why: str,
        reroute_reason: str,
        lead: Lead | None = None,
    ) -> LeadAssignedDetail:
        """Give a waiting lead to the owner ``decide`` picks now: ``store.reroute`` (SLA) or ``store.move`` (a late
        geocode, with the new stamp ``tag``): a new SLA clock, the previous owner appended. Raises ``LostRace``
        when a race was lost (the caller re-reads and retries); a rep that filled up joins ``excluded_full``.
        ``lead``: the lead to decide for (default: the lead as stored)."""
        roster, now = self.roster, self.now
        decision = decide(lead or lead_of(seen), tag, roster, self.loads, self.pointers, now, exclude_reps=exclude,
                          group_id=group_id, unusable_owners=self.unusable)  # fmt: skip
        dgroup = roster.groups.get(decision.group_id) if decision.group_id else None
        sla = sla_for(roster, dgroup, tag.territory_id, seen.sla_minutes or 60)
        due = due_at(now, sla)
        trail = dict(decision.trail)
        trail["sla"] = f"{sla.describe()}: due {iso(due)}"
        trail["reroute"] = why
        change = owner_change(decision, trail, sla_due_at=due, sla_minutes=sla.minutes)
        try:
            if reroute_reason == REASON_GEOCODED:
                self.store.move(seen, change, tag, now=now)
            else:
                self.store.reroute(seen, change, reroute_count=reroute_count, now=now)
        except RepFull as exc:
            excluded_full[exc.rep_id] = "filled up meanwhile (raced)"
            raise
        self._moved(seen.counted_rep_id, decision.rep_id, decision.pointer)
        return detail_for_decision(
            decision, lead_id=seen.lead_id, org_id=seen.org_id, tag=tag, assigned_at=now, sla_due_at=due,
            reroute_count=reroute_count, trail=trail, previous_owner_id=seen.owner_id, reroute_reason=reroute_reason,
        )  # fmt: skip

    def replace_refused_owner(self, seen: LeadRecord, refused: str, reason: str,
                              default_sla_minutes: int) -> LeadAssignedDetail:
        """Salesforce refused ``refused``: an escalated lead goes to the next escalation owner, an assigned one to
        the owner ``decide`` picks without it. Raises ``LostRace`` when a race was lost."""
        roster, now = self.roster, self.now
        group = group_of(roster, seen)
        unusable = {**self.unusable, refused: reason}
        refusal = {"refused_owner": f"{refused}: {reason}", "refused_owner_id": refused}
        if seen.status is LeadStatus.ESCALATED:
            owner, why = escalation_owner(roster, group, refused, unusable)
            trail: dict[str, Any] = {"at": iso(now), "roster_version": roster.version,
                                     "territory_id": seen.territory_id, "outcome": "escalation", "owner_id": owner,
                                     "fallback": False, "summary": f"escalated to {owner} ({why}): Salesforce refused {refused}",
                                     **refusal}
            esc = escalation_change(roster, owner, trail)  # the lead's group, strategy and fallback flag stay
            change = OwnerChange(owner_id=esc.owner_id, owner_kind=esc.owner_kind, owner_name=esc.owner_name,
                                 trail=trail, group_id=seen.group_id, strategy=seen.strategy, fallback=seen.fallback)
            due, fallback, new_rep, pointer = None, False, None, None
        else:
            decision = decide(lead_of(seen), tag_of(seen), roster, self.loads, self.pointers, now,
                              exclude_reps={refused: f"refused by Salesforce: {reason}"},
                              group_id=group.group_id if group else None, unusable_owners=unusable)
            dgroup = roster.groups.get(decision.group_id) if decision.group_id else None
            sla = sla_for(roster, dgroup, seen.territory_id, seen.sla_minutes or default_sla_minutes)
            due = due_at(now, sla)
            trail = {**decision.trail, "sla": f"{sla.describe()}: due {iso(due)}", **refusal}
            # a lead given to a fallback owner keeps the SLA due time it had (it no longer waits for the re-route)
            change = owner_change(decision, trail, sla_due_at=due if decision.counted else None,
                                  sla_minutes=sla.minutes)
            fallback, new_rep, pointer = decision.fallback, decision.rep_id, decision.pointer
        self.store.replace_refused_owner(seen, refused, change, now=now)
        self._moved(seen.counted_rep_id, new_rep, pointer)
        return LeadAssignedDetail(
            lead_id=seen.lead_id, org_id=seen.org_id, owner_id=change.owner_id, owner_kind=change.owner_kind,
            owner_name=change.owner_name, territory_id=seen.territory_id, territory_name=seen.territory_name,
            tag_method=seen.tag_method, tag_precision=seen.tag_precision, group_id=change.group_id,
            strategy=change.strategy, assigned_at=now, sla_due_at=due, reroute_count=seen.reroute_count,
            previous_owner_id=refused, fallback=fallback, decision=trail,
        )  # fmt: skip
