"""Messages that travel between the functions (SQS bodies and app-bus event details)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from territory_router.domain.leads import Lead, TagResult

APP_EVENT_SOURCE = "territory-router"
DETAIL_LEAD_ASSIGNED = "LeadAssigned"
DETAIL_LEAD_REROUTED = "LeadRerouted"
DETAIL_LEAD_ESCALATED = "LeadEscalated"
DETAIL_LEAD_ATTENDED = "LeadAttended"  # a person acted on the lead: SLA clock stopped (first touch)
DETAIL_LEAD_CLOSED = "LeadClosed"  # converted, disqualified or deleted while we routed it
DETAIL_LEAD_REASSIGNED = "LeadReassigned"  # Salesforce refused the owner (inactive, unknown, queue without Leads)


class TagRequest(BaseModel):
    """Body of a TaggingQueue message: a lead taken in, waiting for its territory."""

    model_config = ConfigDict(extra="forbid")

    lead: Lead
    received_at: datetime
    source_event_id: str | None = None


class AssignRequest(BaseModel):
    """Body of an AssignmentQueue message: a tagged lead waiting for an owner."""

    model_config = ConfigDict(extra="forbid")

    lead: Lead
    tag: TagResult


class LeadAssignedDetail(BaseModel):
    """Detail of ``LeadAssigned`` / ``LeadRerouted`` / ``LeadEscalated`` events on the app bus."""

    model_config = ConfigDict(extra="ignore")

    lead_id: str
    org_id: str | None = None
    owner_id: str
    owner_kind: Literal["USER", "QUEUE"] = "USER"
    owner_name: str | None = None
    territory_id: str | None = None
    territory_name: str | None = None
    tag_method: str | None = None
    group_id: str | None = None
    strategy: str | None = None
    assigned_at: datetime
    sla_due_at: datetime | None = None
    reroute_count: int = 0
    previous_owner_id: str | None = None
    fallback: bool = False
    decision: dict[str, Any] = Field(default_factory=dict)


class LeadLifecycleDetail(BaseModel):
    """Detail of ``LeadAttended`` / ``LeadClosed`` events: what reports need for time to first touch."""

    model_config = ConfigDict(extra="ignore")

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

    model_config = ConfigDict(extra="ignore")

    type: Literal["ReconciliationRequest"] = "ReconciliationRequest"
    reason: str = Field(min_length=1, max_length=500)
    requested_at: datetime
    source_event_id: str | None = Field(default=None, max_length=300)
    since: datetime | None = None

