"""Intake: Salesforce Event Relay events → lead records (idempotent) → tagging queue; lifecycle updates; activities
(Task/Event) that show attention; reconciliation requests for changes Salesforce could not attribute."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.queues import QueuePublisher
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import (
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    ReconciliationRequest,
    RetagRequest,
    TagRequest,
    lifecycle_detail,
)
from territory_router.salesforce.events import ChangeKind, LeadChange
from territory_router.salesforce.lifecycle import Action, LifecycleAction

log = logging.getLogger(__name__)

# A reconciliation asked for by a wildcard event looks back this far before the event's commit.
RECONCILE_LOOKBACK = timedelta(hours=1)


class LifecyclePort(Protocol):
    """What intake needs from the assignment engine to follow a lead after assignment."""

    def mark_attended(self, lead_id: str, *, now: datetime, reason: str) -> bool: ...

    def release(self, lead_id: str, *, new_status: LeadStatus, now: datetime, reason: str) -> bool: ...


class Announcer(Protocol):
    """``adapters.events.EventPublisher``: ``(key, detail-type, detail)`` in, the keys that failed out."""

    def publish(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]: ...


class ReconcileTrigger(Protocol):
    """``services.reconciliation.ReconciliationTrigger``: "run a reconciliation now" (raises when it cannot ask)."""

    def request(self, *, reason: str, now: datetime, source_event_id: str | None = None,
                since: datetime | None = None) -> ReconciliationRequest: ...


class IntakeResult(BaseModel):
    """What one change did. It is what the idempotency record stores: a retried event gets the same answer, so a
    ``queue`` result sends its TagRequest again (a send that failed the first time is made again)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: str  # queued, requeued, duplicate, attended, closed, deleted, geocoded, no_change, ignored, ...
    reason: str | None = None
    lead_id: str | None = None
    queue: bool = False  # the caller queues the change's TagRequest (tag_request_for)
    released: bool | None = None  # the lifecycle change was made by this call (False: it was already made)
    status: str | None = None  # duplicate: the status the lead already has
    change_type: str | None = None
    via: str | None = None  # "activity": attention shown by a Task/Event


@dataclass
class IntakeDeps:
    leads: LeadRepository
    lifecycle: LifecyclePort | None = None
    integration_user_id: str | None = None
    classify_update: Callable[..., LifecycleAction] | None = None  # salesforce.lifecycle.classify_update
    events: Announcer | None = None  # LeadAttended/LeadClosed for reports; None = do not announce
    reconcile: ReconcileTrigger | None = None  # GAP_OVERFLOW, wildcard recordIds
    # User ids the active roster counts (reps, managers, escalation owners), asked only when needed.
    roster_people: Callable[[], Collection[str]] | None = None
    classify_activity: Callable[..., LifecycleAction] | None = None  # salesforce.lifecycle.classify_activity

    def __post_init__(self) -> None:
        if self.classify_update is None:
            from territory_router.salesforce.lifecycle import classify_update

            self.classify_update = classify_update
        if self.classify_activity is None:
            from territory_router.salesforce.lifecycle import classify_activity

            self.classify_activity = classify_activity


def handle_change(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """Apply one lead change. Safe to repeat: every write is conditional. Returns what was done."""
    if change.kind in (ChangeKind.CREATE, ChangeKind.UNDELETE):
        return _take_in(change, deps=deps, now=now)
    if change.kind == ChangeKind.UPDATE:
        if change.gap:  # a gap event resolved by reading the lead: Salesforce's state, not a diff
            return _follow_refetched_update(change, deps=deps, now=now)
        return _follow_update(change, deps=deps, now=now)
    if change.kind == ChangeKind.ACTIVITY:
        return _follow_activity(change, deps=deps, now=now)
    if change.kind == ChangeKind.RECONCILE:
        return _request_reconcile(change, deps=deps, now=now)
    if change.kind == ChangeKind.DELETE:
        if deps.lifecycle is None or change.lead_id is None:
            return IntakeResult(action="ignored", reason="no lifecycle handler")
        released = deps.lifecycle.release(
            change.lead_id, new_status=LeadStatus.DELETED, now=now, reason="deleted in Salesforce"
        )
        return IntakeResult(action="deleted", released=released)
    if change.lead_id is None and deps.reconcile is not None:
        # GAP_OVERFLOW names no record: the leads behind it are found by a reconciliation run.
        deps.reconcile.request(reason=f"{change.change_type}: Salesforce named no record", now=now,
                               source_event_id=change.event_id)
        return IntakeResult(action="reconciliation_requested", change_type=change.change_type)
    # GAP events carry no data: report them loudly so an admin can re-sync; never drop them silently.
    log.warning(
        "Salesforce sent a gap event: lead data for this change is not available",
        extra={"change_type": change.change_type, "lead_id": change.lead_id, "event_id": change.event_id},
    )
    return IntakeResult(action="gap_reported", change_type=change.change_type)


def _take_in(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """Record the lead; ``queue`` in the result asks the caller to queue its TagRequest.

    The caller sends a whole batch at once (``tag_request_for``). The result stays small because it is what the
    idempotency record stores: a retried event answered from that record still says ``queue``, so a send that
    failed the first time is made again, and tagging ignores a lead it already tagged.
    """
    lead = change.lead
    if lead is None:
        return IntakeResult(action="ignored", reason=f"{change.kind} without lead data")
    created = deps.leads.create_received(lead, received_at=now, source_event_id=change.event_id)
    if not created and change.kind == ChangeKind.UNDELETE:
        created = deps.leads.reopen_deleted(lead, now=now, source_event_id=change.event_id)
    if not created:
        existing = deps.leads.get(lead.lead_id)
        # A retry after the record was written but before the message was sent: send it now.
        if not existing or existing.get("status") != LeadStatus.RECEIVED.value:
            return IntakeResult(action="duplicate", status=existing.get("status") if existing else None)
    return IntakeResult(action="queued" if created else "requeued", lead_id=lead.lead_id, queue=True)


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


def _follow_update(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    if deps.lifecycle is None or deps.classify_update is None or change.lead_id is None:
        return IntakeResult(action="ignored", reason="no lifecycle handler")
    stored = deps.leads.get(change.lead_id)
    if stored is None:
        return IntakeResult(action="ignored", reason="update for a lead we never routed")
    decision = deps.classify_update(
        change, integration_user_id=deps.integration_user_id, our_owner_id=stored.get("owner_id")
    )
    if decision.action == Action.GEOCODED:
        return _follow_location(change, stored, deps=deps, now=now)
    return _settle(change.lead_id, stored, decision.action, decision.reason, deps=deps, now=now)


def _follow_refetched_update(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """A gap event whose lead was read back (``services.gaps``): judge Salesforce's current state of it.

    Same rules as the re-read before a re-route (``lifecycle.classify_current``): worked -> attended,
    converted/closed -> closed; a lead we never took in is left alone (reconciliation finds it if it is open).
    """
    from territory_router.salesforce.lifecycle import routable_now
    from territory_router.services.salesforce_state import judge

    if deps.lifecycle is None or change.lead_id is None:
        return IntakeResult(action="ignored", reason="no lifecycle handler")
    stored = deps.leads.get(change.lead_id)
    if stored is None:
        _, why = routable_now(change.changed_fields)
        return IntakeResult(action="ignored", reason=f"{change.change_type} for a lead we never routed ({why})")
    decision = judge(change.changed_fields, stored, integration_user_id=deps.integration_user_id)
    return _settle(change.lead_id, stored, decision.action, decision.reason, deps=deps, now=now)


def _settle(
    lead_id: str, stored: dict[str, Any], action: Action, reason: str, *, deps: IntakeDeps, now: datetime
) -> IntakeResult:
    """Apply a lifecycle decision (ATTENDED / CLOSED / DELETED / anything else: no change) and announce it."""
    if action == Action.ATTENDED:
        released = deps.lifecycle.mark_attended(lead_id, now=now, reason=reason)
        _announce(deps, DETAIL_LEAD_ATTENDED, stored, LeadStatus.ATTENDED, now, reason, released)
        return IntakeResult(action="attended", released=released)
    if action in (Action.CLOSED, Action.DELETED):
        status = LeadStatus.CLOSED if action == Action.CLOSED else LeadStatus.DELETED
        released = deps.lifecycle.release(lead_id, new_status=status, now=now, reason=reason)
        _announce(deps, DETAIL_LEAD_CLOSED, stored, status, now, reason, released)
        return IntakeResult(action=action.value.lower(), released=released)
    return IntakeResult(action="no_change", reason=reason)


def _follow_activity(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """A Task/Event on a lead we route: attention when its owner, creator or saver is the lead's owner or someone
    the roster counts (``classify_activity``). Activities on contacts, unknown leads or by our integration are
    ignored, never dead-lettered."""
    classify = deps.classify_activity
    if classify is None or deps.lifecycle is None:
        return IntakeResult(action="ignored", reason="no lifecycle handler")
    if change.lead_id is None:
        decision = classify(change, integration_user_id=deps.integration_user_id, lead_owner_id=None)
        return IntakeResult(action="activity_ignored", reason=decision.reason)
    stored = deps.leads.get(change.lead_id)
    if stored is None:
        return IntakeResult(action="activity_ignored", reason="activity on a lead we never routed")
    decision = classify(
        change,
        integration_user_id=deps.integration_user_id,
        lead_owner_id=stored.get("owner_id"),
        roster_people=deps.roster_people or (),
    )
    if decision.action != Action.ATTENDED:
        return IntakeResult(action="activity_ignored", reason=decision.reason)
    settled = _settle(change.lead_id, stored, Action.ATTENDED, decision.reason, deps=deps, now=now)
    return settled.model_copy(update={"via": "activity"})


def _request_reconcile(change: LeadChange, *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """Wildcard record ids (``00Q*``): the leads are unknown, so ask for a reconciliation run by query.

    The request goes through ``deps.reconcile`` (``ReconciliationTrigger.request(reason=, now=, source_event_id=,
    since=)``: one message on ReconcileQueue, raising when it cannot be sent, so this event is retried, never lost).
    The run looks back from an hour before the event's commit. Without a trigger the event is reported loudly.
    """
    scope = change.reconcile
    at = change.commit_timestamp or now
    reason = scope.reason if scope else f"{change.change_type} without record ids"
    if deps.reconcile is None:
        log.warning(
            "Salesforce sent a change without record ids and no reconciliation trigger is configured",
            extra={"change_type": change.change_type, "event_id": change.event_id, "reason": reason},
        )
        return IntakeResult(action="reconcile_reported", change_type=change.change_type)
    deps.reconcile.request(reason=reason, now=now, source_event_id=change.event_id, since=at - RECONCILE_LOOKBACK)
    return IntakeResult(action="reconciliation_requested", change_type=change.change_type)


def _follow_location(change: LeadChange, stored: dict[str, Any], *, deps: IntakeDeps, now: datetime) -> IntakeResult:
    """The lead's location changed after it was taken in (a late Salesforce geocode, an address edit): record the
    new location and queue the lead to be tagged again (``queue``: the caller sends a RetagRequest). Tagging and
    assignment decide what it means: assign, move to another territory (nobody worked it yet) or refine the stamp.
    An older change arriving after a newer one (at-least-once delivery, any order) changes nothing."""
    from territory_router.domain.leads import Lead
    from territory_router.salesforce.geocodes import relocated

    status = stored.get("status")
    if status in (LeadStatus.CLOSED.value, LeadStatus.DELETED.value):
        return IntakeResult(action="no_change", reason=f"location changed but the lead is {str(status).lower()}")
    if not isinstance(stored.get("lead"), dict):  # assigned: the lead as taken in is in its detail item
        stored = deps.leads.get_full(stored["lead_id"]) or stored
    data = {**(stored.get("lead") or {}), "lead_id": stored["lead_id"]}
    lead = relocated(Lead.model_validate(data), change.changed_fields)
    at = change.commit_timestamp or now
    if not deps.leads.update_location(lead, at=at, now=now):
        return IntakeResult(action="no_change", reason="a newer location is already recorded")
    return IntakeResult(action="geocoded", lead_id=stored["lead_id"], queue=True)


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
    """LifecyclePort over the assignment rules' release/attend operations (one lead routing store)."""

    ROSTER_MAX_AGE_S = 300.0  # a warm container looks at ROSTER/ACTIVE again after this long (one GetItem)

    def __init__(self, store: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._checked_at: float | None = None

    def roster_people(self) -> frozenset[str]:
        """User ids the active roster counts (empty without an active roster). The compiled roster is cached per
        container by version; the active version is read again when the last look is older than five minutes."""
        now = self._clock()
        refresh = self._checked_at is None or now - self._checked_at >= self.ROSTER_MAX_AGE_S
        roster = self._store.active_roster_or_none(refresh=refresh)
        if refresh:
            self._checked_at = now
        return roster.people() if roster is not None else frozenset()

    def mark_attended(self, lead_id: str, *, now: datetime, reason: str) -> bool:
        from territory_router.assignment.release import mark_attended

        return mark_attended(lead_id, store=self._store, now=now, reason=reason)

    def release(self, lead_id: str, *, new_status: LeadStatus, now: datetime, reason: str) -> bool:
        from territory_router.assignment.release import release_lead

        return release_lead(lead_id, new_status=new_status, store=self._store, now=now, reason=reason)


def routing_lifecycle(settings: Any) -> _RoutingLifecycle:
    from territory_router.adapters.lead_store import lead_store_for

    # With the roster: an activity by someone other than the lead's owner counts when the roster counts them.
    return _RoutingLifecycle(lead_store_for(settings))
