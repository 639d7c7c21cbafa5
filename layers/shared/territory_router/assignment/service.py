"""Assignment services: assign a tagged lead, release its counter, mark it attended.

They take the store (``territory_router.adapters.routing_store.RoutingStore``) as a parameter and never touch boto3.

Round trips of ``assign_lead`` in the common case (warm container, roster cached): one BatchGetItem (lead item,
``ROSTER/ACTIVE``, pointers, counters) and one TransactWriteItems. A cold container adds one GetItem of
``ROSTER/ACTIVE`` (and one S3 GetObject of the compiled roster).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from territory_router.assignment.engine import Decision, decide
from territory_router.assignment.ownership import OwnerRule, owner_rule
from territory_router.assignment.records import (
    REROUTE_SHARD,
    AssignmentContention,
    CounterChange,
    IfNotExists,
    NoActiveRoster,
    TransactionCancelled,
    detail_for_decision,
    detail_from_item,
    epoch,
    iso,
)
from territory_router.assignment.roster import Roster, Strategy
from territory_router.assignment.sla import due_at, sla_for
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import AssignRequest, LeadAssignedDetail

if TYPE_CHECKING:
    from territory_router.adapters.routing_store import RoutingStore

ASSIGNABLE = (LeadStatus.RECEIVED.value, LeadStatus.TAGGED.value)
# Lost races (pointer moved, rep filled up, lead changed) are retried with jittered backoff; after that the
# message fails and SQS redelivers it (nothing was written, so nothing is counted twice).
MAX_ATTEMPTS = 30


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


def _backoff(attempt: int) -> None:
    time.sleep(min(0.25, 0.005 * (2**attempt)) * random.random())  # noqa: S311 - jitter, not crypto


def groups_to_read(roster: Roster, territory_id: str | None, group_id: str | None = None) -> tuple[list[str], list[str]]:
    """(rep ids, group ids with a pointer) a decision for this territory may look at."""
    start = roster.groups.get(group_id) if group_id else None
    start = start or roster.group_for_territory(territory_id)
    chain = roster.overflow_chain(start) if start else []
    reps = [m for g in chain for m in g.members]
    pointers = [g.group_id for g in chain if g.strategy is not Strategy.LEAST_LOADED]
    return reps, pointers


def _still_assignable(item: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The condition of a first assignment: the lead is as it was read (absent, or RECEIVED/TAGGED at that version)."""
    if item is None:
        return "attribute_not_exists(lead_id)", {}
    statuses = {":s_received": ASSIGNABLE[0], ":s_tagged": ASSIGNABLE[1]}
    if item.get("version") is None:
        return "attribute_not_exists(#version) AND #status IN (:s_received, :s_tagged)", statuses
    return "#version = :v_seen AND #status IN (:s_received, :s_tagged)", {":v_seen": int(item["version"]), **statuses}


def _decision_record(decision: Decision, sla_text: str) -> dict[str, Any]:
    trail = dict(decision.trail)
    trail["sla"] = sla_text
    return trail


def assign_lead(
    request: AssignRequest,
    *,
    store: RoutingStore,
    now: datetime,
    default_sla_minutes: int,
    integration_user_id: str | None = None,
) -> AssignmentOutcome:
    """Assign a tagged lead: decide, then one transaction (lead + rep counter + group pointer).

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
        item = snap.lead_item
        if item is not None and item.get("status") not in ASSIGNABLE:
            if item.get("owner_id"):
                return AssignmentOutcome(
                    detail_from_item(item), fallback=bool(item.get("fallback")), duplicate=True, attempts=attempt,
                    kept=item.get("status") == LeadStatus.KEPT_OWNER.value,
                )
            return AssignmentOutcome(None, skipped_reason=f"lead is {item.get('status')}", attempts=attempt)

        rule = owner_rule(lead.owner_id, tag.territory_id, roster, integration_user_id=integration_user_id)
        if rule.keep:
            kept = _keep_owner(lead_id, request, item, rule, roster, store=store, now=now,
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
        trail = _decision_record(decision, f"{sla.describe()}: due {iso(due)}")
        trail["owner_rule"] = rule.trail()

        values: dict[str, Any] = {
            "status": LeadStatus.ASSIGNED.value,
            "version": int((item or {}).get("version") or 0) + 1,
            "updated_at": iso(now),
            "assigned_at": iso(now),
            "owner_id": decision.owner_id,
            "owner_kind": decision.owner_kind,
            "fallback": decision.fallback,
            "decision": trail,
            "tag_method": tag.method.value,
            "tag_precision": tag.precision.value,
            "tag_note": tag.note,
            "sla_due_at": epoch(due),
            "sla_minutes": sla.minutes,
            "reroute_count": IfNotExists(0),
            "lead": IfNotExists(lead.model_dump(mode="json", exclude_none=True)),
            "received_at": IfNotExists(iso(now)),
        }
        for attr, value in (
            ("owner_name", decision.owner_name),
            ("group_id", decision.group_id),
            ("strategy", decision.strategy),
            ("territory_id", tag.territory_id),
            ("territory_name", tag.territory_name),
            ("org_id", lead.org_id),
        ):
            if value is not None:
                values[attr] = value
        remove: list[str] = []
        counters: list[CounterChange] = []
        if decision.counted:
            values["counted_rep_id"] = decision.rep_id
            values["reroute_shard"] = REROUTE_SHARD
            counters.append(CounterChange(decision.rep_id, +1, decision.rep_capacity))  # type: ignore[arg-type]
        else:
            remove.append("reroute_shard")  # fallback owners (queues) are not re-routed
        condition, cvalues = _still_assignable(item)
        try:
            store.transact_lead_change(
                lead_id=lead_id,
                set_values=values,
                remove=remove,
                condition=condition,
                condition_values=cvalues,
                counters=counters,
                pointer=decision.pointer,
                now=now,
            )
        except TransactionCancelled as exc:
            if exc.failed(0) and exc.failed(0) != "TransactionConflict":
                continue  # the lead changed: re-read (a duplicate shows up as ASSIGNED)
            if counters and exc.failed(1) == "ConditionalCheckFailed":
                raced_full[decision.rep_id] = "filled up meanwhile (raced)"  # type: ignore[index]
            _backoff(attempt)
            continue
        detail = detail_for_decision(
            decision, lead_id=lead_id, org_id=lead.org_id, tag=tag, assigned_at=now, sla_due_at=due,
            reroute_count=int((item or {}).get("reroute_count") or 0), trail=trail,
        )  # fmt: skip
        return AssignmentOutcome(detail, fallback=decision.fallback, attempts=attempt, decision=decision)
    raise AssignmentContention(f"lead {lead_id}: gave up after {MAX_ATTEMPTS} attempts")


def _keep_owner(
    lead_id: str,
    request: AssignRequest,
    item: dict[str, Any] | None,
    rule: OwnerRule,
    roster: Roster,
    *,
    store: RoutingStore,
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
    reroute = bool(group is not None and group.reroute_kept_leads)
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
    values: dict[str, Any] = {
        "status": LeadStatus.KEPT_OWNER.value,
        "version": int((item or {}).get("version") or 0) + 1,
        "updated_at": iso(now),
        "assigned_at": iso(now),
        "owner_id": rule.owner_id,
        "owner_kind": "USER",
        "fallback": False,
        "kept_owner": True,
        "tag_method": tag.method.value,
        "tag_precision": tag.precision.value,
        "tag_note": tag.note,
        "counted_rep_id": rule.owner_id,
        "reroute_count": IfNotExists(0),
        "lead": IfNotExists(lead.model_dump(mode="json", exclude_none=True)),
        "received_at": IfNotExists(iso(now)),
    }
    remove: list[str] = []
    due = None
    if reroute:
        sla = sla_for(roster, group, tag.territory_id, default_sla_minutes)
        due = due_at(now, sla)
        trail["sla"] = f"{sla.describe()}: due {iso(due)} (group {group.group_id} re-routes kept leads)"  # type: ignore[union-attr]
        values.update(sla_due_at=epoch(due), sla_minutes=sla.minutes, reroute_shard=REROUTE_SHARD)
    else:
        why = f"group {group.group_id} does not re-route kept leads" if group else "no group serves the territory"
        trail["sla"] = f"none: the owner keeps the lead ({why}; reroute_kept_leads)"
        remove.append("reroute_shard")
    for attr, value in (
        ("owner_name", rep.name or None),
        ("group_id", rule.group_id),
        ("territory_id", tag.territory_id),
        ("territory_name", tag.territory_name),
        ("org_id", lead.org_id),
    ):
        if value is not None:
            values[attr] = value
    values["decision"] = trail
    condition, cvalues = _still_assignable(item)
    try:
        store.transact_lead_change(
            lead_id=lead_id,
            set_values=values,
            remove=remove,
            condition=condition,
            condition_values=cvalues,
            counters=[CounterChange(rule.owner_id, +1, None)],
            now=now,
        )
    except TransactionCancelled as exc:
        if not (exc.failed(0) and exc.failed(0) != "TransactionConflict"):
            _backoff(1)
        return None
    detail = LeadAssignedDetail(
        lead_id=lead_id,
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
        reroute_count=int((item or {}).get("reroute_count") or 0),
        fallback=False,
        kept_owner=True,
        decision=trail,
    )
    return AssignmentOutcome(detail, kept=True)


# --------------------------------------------------------------------------------------------- release

_TERMINAL = {LeadStatus.CLOSED.value, LeadStatus.DELETED.value}
_OPEN = {LeadStatus.ASSIGNED.value, LeadStatus.ESCALATED.value, LeadStatus.KEPT_OWNER.value}


def _target_status(current: str | None, new: LeadStatus) -> str | None:
    """The status to write, or None to leave it (never re-open a closed lead, never mark an unassigned one)."""
    if current == new.value:
        return None
    if new in (LeadStatus.CLOSED, LeadStatus.DELETED):
        if current == LeadStatus.DELETED.value:
            return None
        return new.value
    if current in _OPEN:
        return new.value
    return None


def _release(lead_id: str, *, new_status: LeadStatus, store: RoutingStore, now: datetime, reason: str) -> tuple[bool, bool]:
    """(released a counter, changed the status)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        item = store.get_lead(lead_id)
        if item is None:
            return False, False
        rep = item.get("counted_rep_id")
        target = _target_status(item.get("status"), new_status)
        if rep is None and target is None and "reroute_shard" not in item:
            return False, False
        values: dict[str, Any] = {
            "version": int(item.get("version") or 0) + 1,
            "updated_at": iso(now),
            "released_at": iso(now),
            "release_reason": reason[:500],
        }
        if target is not None:
            values["status"] = target
        remove = ["reroute_shard"]
        counters: list[CounterChange] = []
        cvalues: dict[str, Any] = {}
        if item.get("version") is None:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :v_seen"
            cvalues[":v_seen"] = int(item["version"])
        if rep is not None:
            remove.append("counted_rep_id")
            counters.append(CounterChange(rep, -1))
            condition += " AND #counted = :rep"
            cvalues[":rep"] = rep
        else:
            condition += " AND attribute_not_exists(#counted)"
        try:
            store.transact_lead_change(
                lead_id=lead_id,
                set_values=values,
                remove=remove,
                condition=condition,
                condition_values=cvalues,
                counters=counters,
                now=now,
            )
        except TransactionCancelled:
            _backoff(attempt)
            continue  # someone else changed the lead: look again
        return rep is not None, target is not None
    raise AssignmentContention(f"lead {lead_id}: release gave up after {MAX_ATTEMPTS} attempts")


def release_lead(lead_id: str, *, new_status: LeadStatus, store: RoutingStore, now: datetime, reason: str) -> bool:
    """Set the lead's status (closed, converted, deleted, attended...) and release its rep's open-lead counter.

    Returns True when this call released the counter: the decrement happens exactly once whatever the number of
    calls (it is conditional on ``counted_rep_id`` naming the rep, which the same transaction removes).
    Closed/deleted leads are never re-opened; ``ATTENDED`` only applies to assigned/escalated/kept leads.
    """
    released, _ = _release(lead_id, new_status=new_status, store=store, now=now, reason=reason)
    return released


def mark_attended(lead_id: str, *, store: RoutingStore, now: datetime, reason: str) -> bool:
    """A person acted on the lead in Salesforce: SLA met. Releases the counter and stops re-routing.

    Returns True when this call marked the lead attended (exactly once; False if it already was, or is closed).
    """
    _, changed = _release(lead_id, new_status=LeadStatus.ATTENDED, store=store, now=now, reason=reason)
    return changed
