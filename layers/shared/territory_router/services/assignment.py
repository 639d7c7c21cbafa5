"""Assignment and re-routing glue: run the engine's service, then announce the result on the app bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from territory_router.adapters.events import EventPublisher
from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    DETAIL_LEAD_ESCALATED,
    DETAIL_LEAD_KEPT,
    DETAIL_LEAD_REROUTED,
    AssignRequest,
)


@dataclass
class AnnouncedAssignment:
    announced: bool
    duplicate: bool
    fallback: bool
    detail: Any
    kept: bool = False  # the lead kept the rep who owns it (LeadKept, not an assignment by us)
    detail_type: str = DETAIL_LEAD_ASSIGNED  # LeadKept; LeadRerouted / LeadRetagged after a late geocode


def assign_only(
    request: AssignRequest, *, store: Any, now: datetime, default_sla_minutes: int,
    integration_user_id: str | None = None,
) -> AnnouncedAssignment:
    """Assign the lead (or keep its owner); the caller announces ``detail`` (batched with the rest of its SQS batch).

    A redelivered message finds the lead already assigned and returns the stored decision, so an announcement
    that failed the first time is made again; the writeback de-duplicates it.
    """
    from territory_router.assignment.service import assign_lead

    if request.retag_reason is not None:
        return _after_late_geocode(request, store=store, now=now, default_sla_minutes=default_sla_minutes)
    outcome = assign_lead(
        request, store=store, now=now, default_sla_minutes=default_sla_minutes,
        integration_user_id=integration_user_id,
    )
    duplicate = bool(getattr(outcome, "duplicate", False))
    return AnnouncedAssignment(
        outcome.detail is not None, duplicate, bool(outcome.fallback), outcome.detail, bool(outcome.kept),
        detail_type_of(outcome.detail),
    )


def detail_type_of(detail: Any) -> str:
    """``LeadKept`` for a lead that kept its owner, ``LeadAssigned`` otherwise."""
    return DETAIL_LEAD_KEPT if getattr(detail, "kept_owner", False) else DETAIL_LEAD_ASSIGNED


def _after_late_geocode(request: AssignRequest, *, store: Any, now: datetime, default_sla_minutes: int) -> AnnouncedAssignment:
    """A lead tagged again after Salesforce geocoded it: assign, move or refine (``apply_late_geocode``)."""
    from territory_router.assignment.reroute import apply_late_geocode

    outcome = apply_late_geocode(request.lead, request.tag, store=store, now=now, default_sla_minutes=default_sla_minutes)
    detail = outcome.detail
    return AnnouncedAssignment(
        detail is not None, outcome.duplicate, bool(detail and detail.fallback), detail,
        detail_type=outcome.detail_type or DETAIL_LEAD_ASSIGNED,
    )  # fmt: skip


def announce_assignments(events: EventPublisher, details: list[tuple[str, Any]] | list[tuple[str, Any, str]]) -> set[str]:
    """Publish ``(key, detail[, detail_type])`` (``LeadKept`` for a lead that kept its owner, else ``LeadAssigned``
    by default), ten per PutEvents; returns the keys that failed."""
    entries = [(key, rest[0] if rest else detail_type_of(d), d.model_dump(mode="json")) for key, d, *rest in details]
    return set(events.publish(entries)) if entries else set()


def reroute_and_announce(
    *, store: Any, events: EventPublisher, now: datetime, max_reroutes: int, screen: Any = None
) -> dict[str, Any]:
    """Run the re-route (``screen``: ``services.reroute.SalesforceScreen`` or None) and announce what it did.

    ``LeadRerouted``/``LeadEscalated`` for the owners it changed; ``LeadAttended``/``LeadClosed`` for the leads
    Salesforce showed worked, closed or deleted (reports count the first touch from them).
    """
    from territory_router.assignment.reroute import reroute_due_leads

    report = reroute_due_leads(store=store, now=now, max_reroutes=max_reroutes, screen=screen)
    entries = [(d.lead_id, DETAIL_LEAD_REROUTED, d.model_dump(mode="json")) for d in report.rerouted]
    entries += [(d.lead_id, DETAIL_LEAD_ESCALATED, d.model_dump(mode="json")) for d in report.escalated]
    entries += [(d.lead_id, DETAIL_LEAD_ATTENDED, d.model_dump(mode="json")) for d in report.attended]
    entries += [(d.lead_id, DETAIL_LEAD_CLOSED, d.model_dump(mode="json")) for d in report.closed]
    failed = events.publish(entries)
    return {
        "rerouted": len(report.rerouted),
        "escalated": len(report.escalated),
        "skipped": len(getattr(report, "skipped", []) or []),
        "attended_in_salesforce": len(report.attended),
        "closed_in_salesforce": len(report.closed),
        "blocked_salesforce_unreadable": len(report.blocked),
        "items_read": getattr(report, "items_read", None),
        "announce_failures": len(failed),
    }
