"""LeadAssignmentFunction orchestration: run the assignment rules on a request, announce the results on the app bus.

The rules themselves (who gets the lead, in one atomic change) are ``territory_router.assignment.assign`` and
``territory_router.assignment.late_geocode``; this module only chooses which one a request needs and publishes
what they decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from territory_router.adapters.events import EventPublisher
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.late_geocode import apply_late_geocode
from territory_router.assignment.ports import LeadRoutingStore
from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_KEPT,
    AssignRequest,
    LeadAssignedDetail,
)


@dataclass(frozen=True)
class AnnouncedAssignment:
    """What to announce for one request: ``detail`` as ``detail_type`` (nothing when ``detail`` is None)."""

    announced: bool
    duplicate: bool
    fallback: bool
    detail: LeadAssignedDetail | None
    kept: bool = False  # the lead kept the rep who owns it (LeadKept, not an assignment by us)
    detail_type: str = DETAIL_LEAD_ASSIGNED  # LeadKept; LeadRerouted / LeadRetagged after a late geocode


def assign_only(
    request: AssignRequest, *, store: LeadRoutingStore, now: datetime, default_sla_minutes: int,
    integration_user_id: str | None = None,
) -> AnnouncedAssignment:
    """Assign the lead (or keep its owner); the caller announces ``detail`` (batched with the rest of its SQS batch).

    A redelivered message finds the lead already assigned and returns the stored decision, so an announcement
    that failed the first time is made again; the writeback de-duplicates it.
    """
    if request.retag_reason is not None:
        return _after_late_geocode(request, store=store, now=now, default_sla_minutes=default_sla_minutes)
    outcome = assign_lead(
        request, store=store, now=now, default_sla_minutes=default_sla_minutes,
        integration_user_id=integration_user_id,
    )
    detail = outcome.detail
    return AnnouncedAssignment(
        detail is not None, outcome.duplicate, outcome.fallback, detail, outcome.kept,
        detail_type_of(detail) if detail is not None else DETAIL_LEAD_ASSIGNED,
    )  # fmt: skip


def detail_type_of(detail: LeadAssignedDetail) -> str:
    """``LeadKept`` for a lead that kept its owner, ``LeadAssigned`` otherwise."""
    return DETAIL_LEAD_KEPT if detail.kept_owner else DETAIL_LEAD_ASSIGNED


def _after_late_geocode(request: AssignRequest, *, store: LeadRoutingStore, now: datetime,
                        default_sla_minutes: int) -> AnnouncedAssignment:
    """A lead tagged again after Salesforce geocoded it: assign, move or refine (``apply_late_geocode``)."""
    outcome = apply_late_geocode(request.lead, request.tag, store=store, now=now, default_sla_minutes=default_sla_minutes)
    detail = outcome.detail
    return AnnouncedAssignment(
        detail is not None, outcome.duplicate, bool(detail and detail.fallback), detail,
        detail_type=outcome.detail_type or DETAIL_LEAD_ASSIGNED,
    )  # fmt: skip


def announce_assignments(events: EventPublisher, details: Sequence[tuple[str, LeadAssignedDetail, str]]) -> set[str]:
    """Publish ``(key, detail, detail_type)``, ten per PutEvents; returns the keys that failed."""
    entries = [(key, detail_type, d.model_dump(mode="json")) for key, d, detail_type in details]
    return set(events.publish(entries)) if entries else set()
