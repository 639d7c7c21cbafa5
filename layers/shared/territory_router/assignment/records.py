"""Plain values shared by the assignment services and the store that carries them out (no boto3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from territory_router.domain.messages import LeadAssignedDetail

REROUTE_SHARD = "DUE"


class NoActiveRoster(RuntimeError):
    """No roster has been uploaded yet: leads cannot be assigned."""


class AssignmentContention(RuntimeError):
    """The assignment kept losing races (pointer/counter/lead changed) and gave up; the message is retried."""


class TransactionCancelled(RuntimeError):
    """A transaction was cancelled; ``reasons`` holds one code per item (``None`` = that item was fine)."""

    def __init__(self, reasons: Sequence[str | None], message: str = "") -> None:
        super().__init__(message or f"transaction cancelled: {list(reasons)}")
        self.reasons = list(reasons)

    def failed(self, index: int) -> str | None:
        return self.reasons[index] if index < len(self.reasons) else None

    @property
    def conflict_only(self) -> bool:
        return all(r in (None, "TransactionConflict") for r in self.reasons)


@dataclass(frozen=True)
class CounterChange:
    """One rep counter touched by a transaction: +1 (conditional on ``capacity``; ``None`` = no cap, for a lead
    that keeps the rep who already owns it) or -1."""

    rep_id: str
    delta: int
    capacity: int | None = None


@dataclass(frozen=True)
class IfNotExists:
    """A value written only when the attribute is absent (``if_not_exists``)."""

    value: Any


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def detail_for_decision(
    decision: Any,
    *,
    lead_id: str,
    org_id: str | None,
    tag: Any,
    assigned_at: datetime,
    sla_due_at: datetime | None,
    reroute_count: int,
    trail: dict[str, Any],
    previous_owner_id: str | None = None,
    reroute_reason: str | None = None,
) -> LeadAssignedDetail:
    """The event detail of a fresh ``engine.Decision`` for a lead stamped ``tag`` (a ``TagResult``)."""
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
        decision=trail,
        reroute_reason=reroute_reason,
    )


def detail_from_item(item: Mapping[str, Any]) -> LeadAssignedDetail:
    """The event detail of the lead's current assignment, rebuilt from its stored item."""
    previous = item.get("previous_owners") or []
    due = item.get("sla_due_at")
    return LeadAssignedDetail(
        lead_id=item["lead_id"],
        org_id=item.get("org_id") or (item.get("lead") or {}).get("org_id"),
        owner_id=item["owner_id"],
        owner_kind=item.get("owner_kind") or "USER",
        owner_name=item.get("owner_name"),
        territory_id=item.get("territory_id"),
        territory_name=item.get("territory_name"),
        tag_method=item.get("tag_method"),
        tag_precision=item.get("tag_precision"),
        group_id=item.get("group_id"),
        strategy=item.get("strategy"),
        assigned_at=parse_iso(item.get("assigned_at")) or datetime.now(UTC),
        sla_due_at=datetime.fromtimestamp(int(due), UTC) if due is not None else None,
        reroute_count=int(item.get("reroute_count") or 0),
        previous_owner_id=previous[-1] if previous else None,
        fallback=bool(item.get("fallback")),
        kept_owner=bool(item.get("kept_owner")),
        decision=item.get("decision") or {},
        reroute_reason=item.get("reroute_reason"),
    )
