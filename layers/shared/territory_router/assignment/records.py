"""Time stamps and the event details the assignment rules announce (pure: no storage, no boto3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from territory_router.assignment.engine import Decision
from territory_router.assignment.ports import LeadRecord
from territory_router.domain.leads import TagResult
from territory_router.domain.messages import LeadAssignedDetail, LeadLifecycleDetail


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def detail_for_decision(
    decision: Decision,
    *,
    lead_id: str,
    org_id: str | None,
    tag: TagResult,
    assigned_at: datetime,
    sla_due_at: datetime | None,
    reroute_count: int,
    trail: Mapping[str, Any],
    previous_owner_id: str | None = None,
    reroute_reason: str | None = None,
) -> LeadAssignedDetail:
    """The event detail of a fresh ``engine.Decision`` for a lead stamped ``tag``."""
    return LeadAssignedDetail(
        lead_id=lead_id,
        org_id=org_id,
        owner_id=decision.owner_id,
        owner_kind=decision.owner_kind,
        owner_name=decision.owner_name,
        territory_id=tag.territory_id,
        territory_name=tag.territory_name,
        tag_method=tag.method.value,
        tag_precision=tag.precision.value,
        group_id=decision.group_id,
        strategy=decision.strategy,
        assigned_at=assigned_at,
        sla_due_at=sla_due_at,
        reroute_count=reroute_count,
        previous_owner_id=previous_owner_id,
        fallback=decision.fallback,
        decision=dict(trail),
        reroute_reason=reroute_reason,
    )


def detail_of(record: LeadRecord) -> LeadAssignedDetail:
    """The event detail of the lead's current assignment, rebuilt from its record (the lead must have an owner)."""
    if record.owner_id is None:
        raise ValueError(f"lead {record.lead_id} has no owner")
    return LeadAssignedDetail(
        lead_id=record.lead_id,
        org_id=record.org_id or (record.lead.org_id if record.lead is not None else None),
        owner_id=record.owner_id,
        owner_kind=record.owner_kind or "USER",
        owner_name=record.owner_name,
        territory_id=record.territory_id,
        territory_name=record.territory_name,
        tag_method=record.tag_method,
        tag_precision=record.tag_precision,
        group_id=record.group_id,
        strategy=record.strategy,
        assigned_at=record.assigned_at or datetime.now(UTC),
        sla_due_at=record.sla_due_at,
        reroute_count=record.reroute_count,
        previous_owner_id=record.previous_owners[-1] if record.previous_owners else None,
        fallback=record.fallback,
        kept_owner=record.kept_owner,
        decision=dict(record.trail),
        reroute_reason=record.reroute_reason,
    )


def lifecycle_of(record: LeadRecord, status: str, at: datetime, reason: str) -> LeadLifecycleDetail:
    """The ``LeadAttended``/``LeadClosed`` detail of a lead the re-route run settled."""
    return LeadLifecycleDetail(lead_id=record.lead_id, status=status, owner_id=record.owner_id,
                               territory_id=record.territory_id, assigned_at=record.assigned_at,
                               sla_due_at=record.sla_due_at, at=at, reason=reason)
