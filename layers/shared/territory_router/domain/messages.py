"""Messages that travel between the functions (SQS bodies and app-bus event details)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from territory_router.domain.leads import Lead, TagResult

APP_EVENT_SOURCE = "territory-router"
DETAIL_LEAD_ASSIGNED = "LeadAssigned"
DETAIL_LEAD_KEPT = "LeadKept"  # a new lead kept the rep who owns it: tagged and counted, owner not changed by us
DETAIL_LEAD_REROUTED = "LeadRerouted"
DETAIL_LEAD_ESCALATED = "LeadEscalated"
DETAIL_LEAD_ATTENDED = "LeadAttended"  # a person acted on the lead: SLA clock stopped (first touch)
DETAIL_LEAD_CLOSED = "LeadClosed"  # converted, disqualified or deleted while we routed it
DETAIL_LEAD_REASSIGNED = "LeadReassigned"  # Salesforce refused the owner (inactive, unknown, queue without Leads)
DETAIL_LEAD_RETAGGED = "LeadRetagged"  # territory stamp refined (late geocode), owner unchanged
REASON_GEOCODED = "GEOCODED"  # reason of a re-tag: Salesforce geocoded the lead (or its address changed) later


class TagRequest(BaseModel):
    """Body of a TaggingQueue message: a lead taken in, waiting for its territory."""

    # defer_build: validators are built at first use, not at import (cold start: docs/benchmarks.md)
    model_config = ConfigDict(defer_build=True, extra="forbid")

    lead: Lead
    received_at: datetime
    source_event_id: str | None = None


class AssignRequest(BaseModel):
    """Body of an AssignmentQueue message: a tagged lead waiting for an owner. ``retag_reason`` (``GEOCODED``):
    the lead was tagged again after a late geocode: assign it, move it or refine its stamp
    (``assignment.reroute.apply_late_geocode``)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    lead: Lead
    tag: TagResult
    retag_reason: Literal["GEOCODED"] | None = None


class RetagRequest(BaseModel):
    """Body of a TaggingQueue message: tag a lead we already know again, from its stored record (whose location
    intake has just updated). Small on purpose: the idempotency record of the event can rebuild it."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    lead_id: str
    retag_reason: Literal["GEOCODED"] = "GEOCODED"
    requested_at: datetime
    source_event_id: str | None = None


class LeadAssignedDetail(BaseModel):
    """Detail of ``LeadAssigned`` / ``LeadKept`` / ``LeadRerouted`` / ``LeadEscalated`` events on the app bus.

    ``kept_owner``: the lead kept the owner it was created with (status ``KEPT_OWNER``); the writeback then sets the
    territory fields only, never ``OwnerId``.
    """

    model_config = ConfigDict(defer_build=True, extra="ignore")

    lead_id: str
    org_id: str | None = None
    owner_id: str
    owner_kind: Literal["USER", "QUEUE"] = "USER"
    owner_name: str | None = None
    territory_id: str | None = None
    territory_name: str | None = None
    tag_method: str | None = None
    tag_precision: str | None = None  # TagPrecision value; None in events from before precision existed
    group_id: str | None = None
    strategy: str | None = None
    assigned_at: datetime
    sla_due_at: datetime | None = None
    reroute_count: int = 0
    previous_owner_id: str | None = None
    fallback: bool = False
    kept_owner: bool = False
    decision: dict[str, Any] = Field(default_factory=dict)
    # LeadRerouted: why ("SLA_MISSED", "GEOCODED"); None for other events and events from before it existed.
    reroute_reason: str | None = None
    # The owner is not ours to (re)write: only the territory stamp changed (a late geocode of a lead already
    # worked, or of a lead that stays in its territory). The writeback leaves OwnerId alone.
    stamp_only: bool = False


class LeadLifecycleDetail(BaseModel):
    """Detail of ``LeadAttended`` / ``LeadClosed`` events: what reports need for time to first touch."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    lead_id: str
    status: str
    owner_id: str | None = None
    territory_id: str | None = None
    assigned_at: datetime | None = None
    sla_due_at: datetime | None = None
    at: datetime
    reason: str = ""


def lifecycle_detail(stored: dict[str, Any], status: str, at: datetime, reason: str) -> LeadLifecycleDetail:
    """The ``LeadAttended``/``LeadClosed`` detail of a stored lead record (``LeadsTable`` item) at ``at``."""
    due = stored.get("sla_due_at")
    return LeadLifecycleDetail(
        lead_id=stored["lead_id"],
        status=status,
        owner_id=stored.get("owner_id"),
        territory_id=stored.get("territory_id"),
        assigned_at=stored.get("assigned_at"),
        sla_due_at=datetime.fromtimestamp(int(due), tz=at.tzinfo) if due else None,
        at=at,
        reason=reason,
    )


class ReconciliationRequest(BaseModel):
    """Body of a ReconcileQueue message: "run a reconciliation now" (GAP_OVERFLOW, a wildcard ``00Q*`` event...).

    ``since`` widens the look-back window of that run (default: the configured look-back). The reconciliation
    function also runs on its own schedule; a request only makes it run sooner.
    """

    model_config = ConfigDict(defer_build=True, extra="ignore")

    type: Literal["ReconciliationRequest"] = "ReconciliationRequest"
    reason: str = Field(min_length=1, max_length=500)
    requested_at: datetime
    source_event_id: str | None = Field(default=None, max_length=300)
    since: datetime | None = None

