"""Salesforce refused an owner we wrote back (inactive user, queue without Leads...): decide again without it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from territory_router.assignment.ports import AssignmentContention, LeadChanged, LeadRoutingStore, LostRace
from territory_router.assignment.reassign import RoutingRun
from territory_router.assignment.records import detail_of
from territory_router.assignment.retry import MAX_ATTEMPTS, backoff
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import LeadAssignedDetail


@dataclass
class RedecideOutcome:
    """What ``redecide_refused_owner`` did: ``detail`` to announce (``LeadReassigned``), or why nothing."""

    detail: LeadAssignedDetail | None = None
    skipped_reason: str | None = None


def redecide_refused_owner(
    lead_id: str, refused: str, reason: str, *, store: LeadRoutingStore, now: datetime, default_sla_minutes: int = 60,
) -> RedecideOutcome:
    """Salesforce refused ``refused`` as the owner of ``lead_id``: decide again without it.

    Uses the re-route's mechanism (``decide`` with the refused and every unusable owner excluded, then one change:
    lead version and owner checked, old rep -1, new rep +1 within capacity, group pointer), so the counters move
    exactly once however often the message is delivered. An assigned lead goes to its group's next candidate (or
    the fallback owner); an escalated one to the next escalation owner. The re-route count and the lead's history
    are kept; the refused owner joins the previous owners. Raises ``NoUsableOwner`` when nobody is left. A lead
    whose owner already changed is left alone, but a decision that replaced this refused owner and may not have
    been announced is returned again (announcing twice is harmless: the writeback de-duplicates).
    """
    run = RoutingRun(store, store.active_roster(refresh=True), now)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        seen = store.lead(lead_id)
        if seen is None:
            return RedecideOutcome(skipped_reason="lead not found")
        if seen.owner_id != refused:
            if seen.trail.get("refused_owner_id") == refused:
                return RedecideOutcome(detail=detail_of(seen))
            return RedecideOutcome(skipped_reason=f"owner already changed to {seen.owner_id}")
        if seen.status not in (LeadStatus.ASSIGNED, LeadStatus.ESCALATED):
            return RedecideOutcome(skipped_reason=f"lead is {seen.status}")
        run.refresh_for(seen)
        try:
            return RedecideOutcome(detail=run.replace_refused_owner(seen, refused, reason, default_sla_minutes))
        except LeadChanged:
            continue  # the lead changed: look again
        except LostRace:
            backoff(attempt)
    raise AssignmentContention(f"lead {lead_id}: re-decision gave up after {MAX_ATTEMPTS} attempts (contention)")
