"""Late geocodes: a lead tagged again after Salesforce geocoded it (or its address changed) after it was taken in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from territory_router.assignment.assign import ASSIGNABLE, assign_lead
from territory_router.assignment.ports import LeadChanged, LeadRecord, LeadRoutingStore, LostRace
from territory_router.assignment.reassign import RoutingRun
from territory_router.assignment.records import detail_of, iso
from territory_router.assignment.retry import MAX_ATTEMPTS, backoff
from territory_router.domain.leads import Lead, LeadStatus, TagResult
from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_REROUTED,
    DETAIL_LEAD_RETAGGED,
    REASON_GEOCODED,
    AssignRequest,
    LeadAssignedDetail,
)


@dataclass
class GeocodeOutcome:
    """What a late geocode did to a lead: ``action`` is ``assigned`` (it was not assigned yet), ``moved`` (another
    territory, nobody had worked it: ``LeadRerouted`` with reason GEOCODED), ``refined`` (stamp only:
    ``LeadRetagged``), ``unchanged`` (a redelivery: the stored decision is announced again) or ``skipped``."""

    action: str
    reason: str
    detail: LeadAssignedDetail | None = None
    detail_type: str | None = None
    duplicate: bool = False


def _same_stamp(seen: LeadRecord, tag: TagResult) -> bool:
    return (
        seen.territory_id == tag.territory_id
        and seen.tag_method == tag.method.value
        and (seen.tag_precision or None) == tag.precision.value
    )


def _stamped(seen: LeadRecord, tag: TagResult, trail: dict) -> LeadRecord:
    """The record with the refined stamp (what ``refine_stamp`` stored)."""
    return replace(seen, territory_id=tag.territory_id, territory_name=tag.territory_name, tag_method=tag.method.value,
                   tag_precision=tag.precision.value, tag_note=tag.note, trail=trail)


def apply_late_geocode(
    lead: Lead, tag: TagResult, *, store: LeadRoutingStore, now: datetime, default_sla_minutes: int
) -> GeocodeOutcome:
    """A lead re-tagged after Salesforce geocoded it (or its address changed) after it was taken in.

    - not assigned yet: assigned with the new stamp (``assign_lead``);
    - assigned and nobody has worked it, another territory: moved with the re-route mechanism
      (:meth:`RoutingRun.reassign`: counters exactly once in one change, new SLA clock), announced as
      ``LeadRerouted`` (reason GEOCODED); the re-route count is not increased (the rep did not miss anything);
    - otherwise (same territory, or worked: attended/escalated): the stamp is refined, the owner kept
      (``LeadRetagged``, written back without ``OwnerId``);
    - closed/deleted/unknown: nothing.
    """
    lead_id = lead.lead_id
    excluded_full: dict[str, str] = {}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        seen = store.lead(lead_id)
        if seen is None:
            return GeocodeOutcome("skipped", "lead not known")
        status = seen.status
        if status in ASSIGNABLE:
            out = assign_lead(AssignRequest(lead=lead, tag=tag), store=store, now=now, default_sla_minutes=default_sla_minutes)
            return GeocodeOutcome("assigned", "not assigned yet: assigned with the refined stamp", out.detail,
                                  DETAIL_LEAD_ASSIGNED if out.detail else None, duplicate=out.duplicate)  # fmt: skip
        if status in (LeadStatus.CLOSED, LeadStatus.DELETED) or not seen.owner_id:
            return GeocodeOutcome("skipped", f"lead is {status}")
        if _same_stamp(seen, tag):  # a redelivery (or nothing new): announce what is stored again
            moved = seen.reroute_reason == REASON_GEOCODED and status is LeadStatus.ASSIGNED
            detail = detail_of(seen)
            if not moved:
                detail = detail.model_copy(update={"stamp_only": True, "assigned_at": now})
            return GeocodeOutcome("unchanged", "the lead already has this stamp", detail,
                                  DETAIL_LEAD_REROUTED if moved else DETAIL_LEAD_RETAGGED, duplicate=True)  # fmt: skip
        old = seen.territory_id
        try:
            if status is LeadStatus.ASSIGNED and old != tag.territory_id:
                run = RoutingRun(store, store.active_roster(refresh=True), now)
                run.refresh({tag.territory_id, old}, set())
                why = (f"moved from {old or 'no territory'} to {tag.territory_id or 'no territory'}: Salesforce "
                       f"geocoded the lead after it was assigned, nobody had worked it ({tag.method.value}, "
                       f"precision {tag.precision.value})")  # fmt: skip
                detail = run.reassign(
                    seen, tag, excluded_full=excluded_full, exclude=dict(excluded_full), group_id=None,
                    reroute_count=seen.reroute_count, why=why, reroute_reason=REASON_GEOCODED, lead=lead,
                )  # fmt: skip
                return GeocodeOutcome("moved", why, detail, DETAIL_LEAD_REROUTED)
            worked = status is not LeadStatus.ASSIGNED
            trail = dict(seen.trail)
            trail["refined"] = (
                f"{iso(now)}: territory stamp refined after a late geocode ({tag.method.value}, precision "
                f"{tag.precision.value})" + (f"; owner kept: the lead is {str(status).lower()}" if worked else "")
            )
            store.refine_stamp(seen, tag, trail, now=now)
        except LeadChanged:
            continue  # the lead changed meanwhile: look again
        except LostRace:
            backoff(attempt)
            continue  # a race was lost: look again
        detail = detail_of(_stamped(seen, tag, trail)).model_copy(update={"stamp_only": True, "assigned_at": now})
        return GeocodeOutcome("refined", trail["refined"], detail, DETAIL_LEAD_RETAGGED)
    return GeocodeOutcome("skipped", f"gave up after {MAX_ATTEMPTS} attempts (contention)")
