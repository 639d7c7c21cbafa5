"""The first assignment of a tagged lead: the owner rule, the decision, one atomic change.

It talks to storage only through the port (:class:`territory_router.assignment.ports.LeadRoutingStore`).

Round trips of ``assign_lead`` in the common case with the DynamoDB store (warm container, roster cached): one
read (lead, active roster version, pointers, counters, refused owners) and one change. A cold container adds one
read of the active roster version (and of the compiled roster itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from territory_router.assignment.engine import Decision, decide
from territory_router.assignment.ownership import OwnerRule, owner_rule
from territory_router.assignment.ports import (
    AssignmentContention,
    LeadChanged,
    LeadRecord,
    LeadRoutingStore,
    LostRace,
    NoActiveRoster,
    OwnerChange,
    RepFull,
)
from territory_router.assignment.records import detail_for_decision, detail_of, iso
from territory_router.assignment.retry import MAX_ATTEMPTS, backoff
from territory_router.assignment.roster import Roster, Strategy
from territory_router.assignment.sla import due_at, sla_for
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import AssignRequest, LeadAssignedDetail

ASSIGNABLE = (LeadStatus.RECEIVED, LeadStatus.TAGGED)


@dataclass
class AssignmentOutcome:
    """Result of ``assign_lead``.

    ``duplicate``: the lead was already assigned (an earlier delivery of the same message, or another worker);
    ``detail`` then holds the stored assignment and the caller should not emit the event again.
    ``skipped_reason``: the lead is in a state that is never assigned (closed, deleted...); ``detail`` is None.
    ``kept``: the lead keeps the rep who owns it (status ``KEPT_OWNER``, ``detail.kept_owner``); announce it as
    ``LeadKept``, not as an assignment.
    """

    detail: LeadAssignedDetail | None
    fallback: bool = False
    duplicate: bool = False
    skipped_reason: str | None = None
    attempts: int = 1
    decision: Decision | None = None
    kept: bool = False


def groups_to_read(roster: Roster, territory_id: str | None, group_id: str | None = None) -> tuple[list[str], list[str]]:
    """(rep ids, group ids with a pointer) a decision for this territory may look at."""
    start = roster.groups.get(group_id) if group_id else None
    start = start or roster.group_for_territory(territory_id)
    chain = roster.overflow_chain(start) if start else []
    reps = [m for g in chain for m in g.members]
    pointers = [g.group_id for g in chain if g.strategy is not Strategy.LEAST_LOADED]
    return reps, pointers


def owner_change(decision: Decision, trail: dict[str, Any], *, sla_due_at: datetime | None,
                 sla_minutes: int | None) -> OwnerChange:
    """The change a fresh decision asks of the store."""
    return OwnerChange(
        owner_id=decision.owner_id, owner_kind=decision.owner_kind, owner_name=decision.owner_name, trail=trail,
        group_id=decision.group_id, strategy=decision.strategy, fallback=decision.fallback,
        counted_rep_id=decision.rep_id, capacity=decision.rep_capacity, pointer=decision.pointer,
        sla_due_at=sla_due_at, sla_minutes=sla_minutes,
    )  # fmt: skip


def assign_lead(
    request: AssignRequest,
    *,
    store: LeadRoutingStore,
    now: datetime,
    default_sla_minutes: int,
    integration_user_id: str | None = None,
) -> AssignmentOutcome:
    """Assign a tagged lead: decide, then one change (lead + rep counter + group pointer).

    First the owner rule (:mod:`territory_router.assignment.ownership`): a lead created with an active rep of the
    roster as its owner keeps that owner (``KEPT_OWNER``, counted in the rep's load, no pointer move); any other
    owner (``integration_user_id`` included) is a routing inbox and the lead is routed.

    Retries on lost races: a rep filled up meanwhile (re-decide without them), the pointer moved (re-read), the
    lead changed (re-read: if it is assigned now, this is a duplicate delivery).
    """
    lead, tag = request.lead, request.tag
    lead_id = lead.lead_id
    roster = store.cached_roster() or store.active_roster(refresh=True)
    raced_full: dict[str, str] = {}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        reps, pointer_groups = groups_to_read(roster, tag.territory_id)
        snap = store.snapshot(lead_id=lead_id, rep_ids=reps, group_ids=pointer_groups, include_active=True)
        if snap.active_version is None:
            raise NoActiveRoster("no roster is active: upload one under roster/ in the bucket")
        if snap.active_version != roster.version:
            roster = store.active_roster(refresh=True)
            reps2, groups2 = groups_to_read(roster, tag.territory_id)
            if set(reps2) - set(reps) or set(groups2) - set(pointer_groups):
                snap = store.snapshot(lead_id=lead_id, rep_ids=reps2, group_ids=groups2, include_active=False)
        seen = snap.lead
        if seen is not None and seen.status not in ASSIGNABLE:
            if seen.owner_id:
                return AssignmentOutcome(
                    detail_of(seen), fallback=seen.fallback, duplicate=True, attempts=attempt,
                    kept=seen.status is LeadStatus.KEPT_OWNER,
                )
            return AssignmentOutcome(None, skipped_reason=f"lead is {seen.status}", attempts=attempt)

        rule = owner_rule(lead.owner_id, tag.territory_id, roster, integration_user_id=integration_user_id)
        if rule.keep:
            kept = _keep_owner(request, seen, rule, roster, store=store, now=now,
                               default_sla_minutes=default_sla_minutes)
            if kept is None:
                continue  # the lead changed meanwhile: re-read (a duplicate shows up as KEPT_OWNER)
            kept.attempts = attempt
            return kept

        decision = decide(lead, tag, roster, snap.loads, snap.pointers, now, exclude_reps=raced_full,
                          unusable_owners=snap.unusable)
        group = roster.groups.get(decision.group_id) if decision.group_id else None
        sla = sla_for(roster, group, tag.territory_id, default_sla_minutes)
        due = due_at(now, sla)
        trail = dict(decision.trail)
        trail["sla"] = f"{sla.describe()}: due {iso(due)}"
        trail["owner_rule"] = rule.trail()
        try:
            store.assign(seen, lead, tag, owner_change(decision, trail, sla_due_at=due, sla_minutes=sla.minutes),
                         now=now)
        except LeadChanged:
            continue  # re-read (a duplicate shows up as ASSIGNED)
        except LostRace as exc:
            if isinstance(exc, RepFull):
                raced_full[exc.rep_id] = "filled up meanwhile (raced)"
            backoff(attempt)
            continue
        detail = detail_for_decision(
            decision, lead_id=lead_id, org_id=lead.org_id, tag=tag, assigned_at=now, sla_due_at=due,
            reroute_count=seen.reroute_count if seen is not None else 0, trail=trail,
        )  # fmt: skip
        return AssignmentOutcome(detail, fallback=decision.fallback, attempts=attempt, decision=decision)
    raise AssignmentContention(f"lead {lead_id}: gave up after {MAX_ATTEMPTS} attempts")


def _keep_owner(
    request: AssignRequest,
    seen: LeadRecord | None,
    rule: OwnerRule,
    roster: Roster,
    *,
    store: LeadRoutingStore,
    now: datetime,
    default_sla_minutes: int,
) -> AssignmentOutcome | None:
    """Record a lead that keeps its owner: ``KEPT_OWNER`` with its territory stamp, the rep's counter +1 (no
    capacity check: the rep owns it already). Returns None when the lead changed meanwhile (re-read it)."""
    lead, tag = request.lead, request.tag
    rep = rule.rep
    if rep is None or rule.owner_id is None:
        raise ValueError("a kept owner is an active rep of the roster")
    group = roster.groups.get(rule.group_id) if rule.group_id else None
    trail: dict[str, Any] = {
        "at": now.isoformat(timespec="seconds"),
        "roster_version": roster.version,
        "territory_id": tag.territory_id,
        "tag_method": tag.method.value,
        "outcome": "kept_owner",
        "owner_id": rule.owner_id,
        "fallback": False,
        "groups": [],
        "owner_rule": rule.trail(),
        "summary": f"kept the owner {rep.label}: the lead was created with this owner, an active rep of the roster",
    }
    due, sla_minutes = None, None
    if group is not None and group.reroute_kept_leads:
        sla = sla_for(roster, group, tag.territory_id, default_sla_minutes)
        due, sla_minutes = due_at(now, sla), sla.minutes
        trail["sla"] = f"{sla.describe()}: due {iso(due)} (group {group.group_id} re-routes kept leads)"
    else:
        why = f"group {group.group_id} does not re-route kept leads" if group else "no group serves the territory"
        trail["sla"] = f"none: the owner keeps the lead ({why}; reroute_kept_leads)"
    owner = OwnerChange(owner_id=rule.owner_id, owner_kind="USER", owner_name=rep.name or None, trail=trail,
                        group_id=rule.group_id, counted_rep_id=rule.owner_id, sla_due_at=due, sla_minutes=sla_minutes)
    try:
        store.keep(seen, lead, tag, owner, now=now)
    except LeadChanged:
        return None
    except LostRace:
        backoff(1)
        return None
    detail = LeadAssignedDetail(
        lead_id=lead.lead_id,
        org_id=lead.org_id,
        owner_id=rule.owner_id,
        owner_kind="USER",
        owner_name=rep.name or None,
        territory_id=tag.territory_id,
        territory_name=tag.territory_name,
        tag_method=tag.method.value,
        tag_precision=tag.precision.value,
        group_id=rule.group_id,
        assigned_at=now,
        sla_due_at=due,
        reroute_count=seen.reroute_count if seen is not None else 0,
        fallback=False,
        kept_owner=True,
        decision=trail,
    )
    return AssignmentOutcome(detail, kept=True)
