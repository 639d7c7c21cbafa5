"""Intake: Salesforce Event Relay events → lead records (idempotent) → tagging queue; lifecycle updates."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.queues import QueuePublisher
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import (
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    RetagRequest,
    TagRequest,
    lifecycle_detail,
)
from territory_router.salesforce.events import ChangeKind, LeadChange

log = logging.getLogger(__name__)


class LifecyclePort(Protocol):
    """What intake needs from the assignment engine to follow a lead after assignment."""

    def mark_attended(self, lead_id: str, *, now: datetime, reason: str) -> bool: ...

    def release(self, lead_id: str, *, new_status: LeadStatus, now: datetime, reason: str) -> bool: ...


@dataclass
class IntakeDeps:
    leads: LeadRepository
    lifecycle: LifecyclePort | None = None
    integration_user_id: str | None = None
    classify_update: Callable[..., Any] | None = None
    events: Any = None  # EventPublisher for LeadAttended/LeadClosed (reports); None = do not announce
    # services.reconciliation.ReconciliationTrigger: "run a reconciliation now" (GAP_OVERFLOW, wildcard recordIds)
    reconcile: Any = None

    def __post_init__(self) -> None:
        if self.classify_update is None:
            from territory_router.salesforce.lifecycle import classify_update

            self.classify_update = classify_update


def handle_change(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> dict[str, Any]:
    """Apply one lead change. Safe to repeat: every write is conditional. Returns what was done."""
    if change.kind in (ChangeKind.CREATE, ChangeKind.UNDELETE):
        return _take_in(change, deps=deps, now=now)
    if change.kind == ChangeKind.UPDATE:
        if change.gap:  # a gap event resolved by reading the lead: Salesforce's state, not a diff
            return _follow_refetched_update(change, deps=deps, now=now)
        return _follow_update(change, deps=deps, now=now)
    if change.kind == ChangeKind.DELETE:
        if deps.lifecycle is None or change.lead_id is None:
            return {"action": "ignored", "reason": "no lifecycle handler"}
        released = deps.lifecycle.release(
            change.lead_id, new_status=LeadStatus.DELETED, now=now, reason="deleted in Salesforce"
        )
        return {"action": "deleted", "released": released}
    if change.lead_id is None and deps.reconcile is not None:
        # GAP_OVERFLOW names no record: the leads behind it are found by a reconciliation run.
        deps.reconcile.request(reason=f"{change.change_type}: Salesforce named no record", now=now,
                               source_event_id=change.event_id)
        return {"action": "reconciliation_requested", "change_type": change.change_type}
    # GAP events carry no data: report them loudly so an admin can re-sync; never drop them silently.
    log.warning(
        "Salesforce sent a gap event: lead data for this change is not available",
        extra={"change_type": change.change_type, "lead_id": change.lead_id, "event_id": change.event_id},
    )
    return {"action": "gap_reported", "change_type": change.change_type}


def _take_in(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> dict[str, Any]:
    """Record the lead; ``"queue": True`` in the result asks the caller to queue its TagRequest.

    The caller sends a whole batch at once (``tag_request_for``). The result stays small because it is what the
    idempotency record stores: a retried event answered from that record still says ``queue``, so a send that
    failed the first time is made again, and tagging ignores a lead it already tagged.
    """
    lead = change.lead
    if lead is None:
        return {"action": "ignored", "reason": f"{change.kind} without lead data"}
    created = deps.leads.create_received(lead, received_at=now, source_event_id=change.event_id)
    if not created and change.kind == ChangeKind.UNDELETE:
        created = deps.leads.reopen_deleted(lead, now=now, source_event_id=change.event_id)
    if not created:
        existing = deps.leads.get(lead.lead_id)
        # A retry after the record was written but before the message was sent: send it now.
        if not existing or existing.get("status") != LeadStatus.RECEIVED.value:
            return {"action": "duplicate", "status": existing.get("status") if existing else None}
    return {"action": "queued" if created else "requeued", "lead_id": lead.lead_id, "queue": True}


def tag_request_for(change: LeadChange, *, now: datetime) -> str:
    """The TagRequest body for a change whose result asked to ``queue`` it (a RetagRequest for an UPDATE: the
    tagging function reads the lead, with its new location, from the record)."""
    if change.kind == ChangeKind.UPDATE and change.lead_id is not None:
        return RetagRequest(lead_id=change.lead_id, requested_at=now, source_event_id=change.event_id).model_dump_json()
    if change.lead is None:
        raise ValueError("only changes that carry the lead are queued for tagging")
    return TagRequest(lead=change.lead, received_at=now, source_event_id=change.event_id).model_dump_json()


def send_tag_requests(publisher: QueuePublisher, queue_url: str, requests: list[tuple[str, str]]) -> set[str]:
    """Queue ``(key, TagRequest json)`` pairs in batches of ten; returns the keys SQS did not accept."""
    return set(publisher.send_batch(queue_url, requests)) if requests else set()


def _follow_update(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> dict[str, Any]:
    if deps.lifecycle is None or deps.classify_update is None or change.lead_id is None:
        return {"action": "ignored", "reason": "no lifecycle handler"}
    stored = deps.leads.get(change.lead_id)
    if stored is None:
        return {"action": "ignored", "reason": "update for a lead we never routed"}
    decision = deps.classify_update(
        change, integration_user_id=deps.integration_user_id, our_owner_id=stored.get("owner_id")
    )
    action = getattr(decision, "action", decision)
    action_name = str(getattr(action, "value", action))
    reason = getattr(decision, "reason", action_name)
    if action_name == "GEOCODED":
        return _follow_location(change, stored, deps=deps, now=now)
    return _settle(change.lead_id, stored, action_name, reason, deps=deps, now=now)


def _follow_refetched_update(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> dict[str, Any]:
    """A gap event whose lead was read back (``services.gaps``): judge Salesforce's current state of it.

    Same rules as the re-read before a re-route (``lifecycle.classify_current``): worked -> attended,
    converted/closed -> closed; a lead we never took in is left alone (reconciliation finds it if it is open).
    """
    from territory_router.salesforce.lifecycle import routable_now
    from territory_router.services.salesforce_state import judge

    if deps.lifecycle is None or change.lead_id is None:
        return {"action": "ignored", "reason": "no lifecycle handler"}
    stored = deps.leads.get(change.lead_id)
    if stored is None:
        _, why = routable_now(change.changed_fields)
        return {"action": "ignored", "reason": f"{change.change_type} for a lead we never routed ({why})"}
    decision = judge(change.changed_fields, stored, integration_user_id=deps.integration_user_id)
    return _settle(change.lead_id, stored, decision.action.value, decision.reason, deps=deps, now=now)


def _settle(
    lead_id: str, stored: dict[str, Any], action_name: str, reason: str, *, deps: IntakeDeps, now: datetime
) -> dict[str, Any]:
    """Apply a lifecycle decision (ATTENDED / CLOSED / DELETED / anything else: no change) and announce it."""
    if action_name == "ATTENDED":
        released = deps.lifecycle.mark_attended(lead_id, now=now, reason=reason)
        _announce(deps, DETAIL_LEAD_ATTENDED, stored, LeadStatus.ATTENDED, now, reason, released)
        return {"action": "attended", "released": released}
    if action_name in ("CLOSED", "DELETED"):
        status = LeadStatus.CLOSED if action_name == "CLOSED" else LeadStatus.DELETED
        released = deps.lifecycle.release(lead_id, new_status=status, now=now, reason=reason)
        _announce(deps, DETAIL_LEAD_CLOSED, stored, status, now, reason, released)
        return {"action": action_name.lower(), "released": released}
    return {"action": "no_change", "reason": reason}


def _follow_location(change: LeadChange, stored: dict[str, Any], *, deps: IntakeDeps, now: datetime) -> dict[str, Any]:
    """The lead's location changed after it was taken in (a late Salesforce geocode, an address edit): record the
    new location and queue the lead to be tagged again (``queue``: the caller sends a RetagRequest). Tagging and
    assignment decide what it means: assign, move to another territory (nobody worked it yet) or refine the stamp.
    An older change arriving after a newer one (at-least-once delivery, any order) changes nothing."""
    from territory_router.domain.leads import Lead
    from territory_router.salesforce.geocodes import relocated

    status = stored.get("status")
    if status in (LeadStatus.CLOSED.value, LeadStatus.DELETED.value):
        return {"action": "no_change", "reason": f"location changed but the lead is {str(status).lower()}"}
    data = {**(stored.get("lead") or {}), "lead_id": stored["lead_id"]}
    lead = relocated(Lead.model_validate(data), change.changed_fields)
    at = change.commit_timestamp or now
    if not deps.leads.update_location(lead, at=at, now=now):
        return {"action": "no_change", "reason": "a newer location is already recorded"}
    return {"action": "geocoded", "lead_id": stored["lead_id"], "queue": True}


def _announce(
    deps: IntakeDeps, detail_type: str, stored: dict[str, Any], status: LeadStatus, now: datetime, reason: str, released: bool
) -> None:
    """Tell the app bus (reports, time to first touch) — only when this call changed the lead."""
    if deps.events is None or not released:
        return
    detail = lifecycle_detail(stored, status.value, now, reason)
    failed = deps.events.publish([(detail.lead_id, detail_type, detail.model_dump(mode="json"))])
    if failed:
        log.error("could not announce a lifecycle change", extra={"lead_id": detail.lead_id, "detail_type": detail_type})


class _RoutingLifecycle:
    """LifecyclePort over the assignment engine's release/attend operations (one RoutingStore)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def mark_attended(self, lead_id: str, *, now: datetime, reason: str) -> bool:
        from territory_router.assignment.service import mark_attended

        return mark_attended(lead_id, store=self._store, now=now, reason=reason)

    def release(self, lead_id: str, *, new_status: LeadStatus, now: datetime, reason: str) -> bool:
        from territory_router.assignment.service import release_lead

        return release_lead(lead_id, new_status=new_status, store=self._store, now=now, reason=reason)


def routing_lifecycle(settings: Any) -> LifecyclePort:
    from territory_router.adapters.routing_store import routing_store_for

    return _RoutingLifecycle(routing_store_for(settings, with_roster=False))
