"""Releasing a lead: attended, closed, converted or deleted in Salesforce. Its rep's counter goes down exactly once."""

from __future__ import annotations

from datetime import datetime

from territory_router.assignment.ports import AssignmentContention, LeadRoutingStore, LostRace
from territory_router.assignment.retry import MAX_ATTEMPTS, backoff
from territory_router.domain.leads import LeadStatus

_OPEN = {LeadStatus.ASSIGNED, LeadStatus.ESCALATED, LeadStatus.KEPT_OWNER}


def _target_status(current: LeadStatus | None, new: LeadStatus) -> LeadStatus | None:
    """The status to write, or None to leave it (never re-open a closed lead, never mark an unassigned one)."""
    if current == new:
        return None
    if new in (LeadStatus.CLOSED, LeadStatus.DELETED):
        if current == LeadStatus.DELETED:
            return None
        return new
    if current in _OPEN:
        return new
    return None


def settle(lead_id: str, *, new_status: LeadStatus, store: LeadRoutingStore, now: datetime,
           reason: str) -> tuple[bool, bool]:
    """Release the lead with ``new_status``: (released a counter, changed the status)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        seen = store.lead(lead_id)
        if seen is None:
            return False, False
        target = _target_status(seen.status, new_status)
        if seen.counted_rep_id is None and target is None and not seen.waiting:
            return False, False
        try:
            store.release(seen, target, reason=reason[:500], now=now)
        except LostRace:
            backoff(attempt)
            continue  # someone else changed the lead: look again
        return seen.counted_rep_id is not None, target is not None
    raise AssignmentContention(f"lead {lead_id}: release gave up after {MAX_ATTEMPTS} attempts")


def release_lead(lead_id: str, *, new_status: LeadStatus, store: LeadRoutingStore, now: datetime, reason: str) -> bool:
    """Set the lead's status (closed, converted, deleted, attended...) and release its rep's open-lead counter.

    Returns True when this call released the counter: the decrement happens exactly once whatever the number of
    calls (it is conditional on the lead still counting that rep, and the same change clears it).
    Closed/deleted leads are never re-opened; ``ATTENDED`` only applies to assigned/escalated/kept leads.
    """
    released, _ = settle(lead_id, new_status=new_status, store=store, now=now, reason=reason)
    return released


def mark_attended(lead_id: str, *, store: LeadRoutingStore, now: datetime, reason: str) -> bool:
    """A person acted on the lead in Salesforce: SLA met. Releases the counter and stops re-routing.

    Returns True when this call marked the lead attended (exactly once; False if it already was, or is closed).
    """
    _, changed = settle(lead_id, new_status=LeadStatus.ATTENDED, store=store, now=now, reason=reason)
    return changed
