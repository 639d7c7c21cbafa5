"""Salesforce's current record of a lead against our stored record of it (re-route re-read, refetched gaps)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from territory_router.assignment.records import parse_iso
from territory_router.salesforce.lifecycle import LifecycleAction, classify_current


def earlier_owners(stored: Mapping[str, Any]) -> list[str]:
    """Owners the lead had with us before its current one: the owner it arrived with, then previous owners."""
    lead = stored.get("lead") if isinstance(stored.get("lead"), Mapping) else {}
    owners = [lead.get("owner_id") or stored.get("arrived_owner_id"), *(stored.get("previous_owners") or [])]
    return [o for o in owners if isinstance(o, str) and o]


def judge(
    record: Mapping[str, Any] | None,
    stored: Mapping[str, Any],
    *,
    integration_user_id: str | None,
    initial_statuses: Collection[str] | None = None,
    closed_status_markers: Collection[str] | None = None,
) -> LifecycleAction:
    """``lifecycle.classify_current`` for a ``LeadsTable`` item: our owner, the assignment time, earlier owners."""
    assigned = stored.get("assigned_at")
    return classify_current(
        record,
        our_owner_id=stored.get("owner_id"),
        assigned_at=parse_iso(assigned) if isinstance(assigned, str) else None,
        earlier_owner_ids=earlier_owners(stored),
        integration_user_id=integration_user_id,
        initial_statuses=initial_statuses,
        closed_status_markers=closed_status_markers,
    )
