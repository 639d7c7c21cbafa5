"""SLA re-routing: leads nobody acted on in time go to another rep, and after too many hops to a manager.

The run reads only the late leads (``store.due``: with DynamoDB a Query of the sparse index ``RerouteDueIndex``);
a lead waits there only while a rep's counter counts it and it is unattended (a lead that kept its owner only when
its group sets ``reroute_kept_leads``). Each lead then changes in one atomic change (``store.reroute`` or
``store.escalate``: lead version check, old rep -1, new rep +1 within capacity, group pointer), so a lead attended
at the same moment either stays put (its version moved) or is released by ``mark_attended`` from its new owner -
never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from territory_router.assignment.ports import LeadChanged, LeadRecord, LeadRoutingStore, LostRace
from territory_router.assignment.reassign import (
    REASON_SLA,
    RoutingRun,
    escalation_change,
    escalation_owner,
    group_of,
    tag_of,
)
from territory_router.assignment.records import iso, lifecycle_of
from territory_router.assignment.release import settle
from territory_router.assignment.retry import MAX_ATTEMPTS, backoff
from territory_router.assignment.roster import Group, Roster
from territory_router.domain.leads import LeadStatus
from territory_router.domain.messages import LeadAssignedDetail, LeadLifecycleDetail

__all__ = ["REASON_SLA", "RerouteReport", "Screen", "reroute_due_leads"]

# What a screen (services.lead_reroute.SalesforceScreen) says of a due lead, read back from Salesforce.
SCREEN_REROUTE = "REROUTE"  # nobody worked it: the SLA rules decide (re-route or escalate)
SCREEN_ATTENDED = "ATTENDED"  # worked or taken over in Salesforce: mark attended, release the counter
SCREEN_CLOSED = "CLOSED"  # converted / closed in Salesforce: release the counter
SCREEN_DELETED = "DELETED"  # gone from Salesforce: release the counter
SCREEN_UNVERIFIED = "UNVERIFIED"  # Salesforce could not be read: leave the lead as it is, never re-route blind

# due leads -> {lead_id: (one of the SCREEN_* outcomes, reason)}; a lead it does not mention is re-routed as before.
Screen = Callable[[list[LeadRecord]], Mapping[str, tuple[str, str]]]

_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass
class RerouteReport:
    rerouted: list[LeadAssignedDetail] = field(default_factory=list)  # emit LeadRerouted
    escalated: list[LeadAssignedDetail] = field(default_factory=list)  # emit LeadEscalated
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"lead_id", "reason"}
    items_read: int = 0  # lead items read from the store (the due query's items read + re-reads)
    attended: list[LeadLifecycleDetail] = field(default_factory=list)  # worked in Salesforce: emit LeadAttended
    closed: list[LeadLifecycleDetail] = field(default_factory=list)  # closed/deleted in Salesforce: emit LeadClosed
    blocked: list[dict[str, str]] = field(default_factory=list)  # Salesforce unreadable: {"lead_id", "reason"}


# Leads the SLA run may move: assigned by us, or kept with their owner in a group that re-routes kept leads.
_WAITING = (LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER)


def _max_for(roster: Roster, group: Group | None, default: int) -> int:
    if group is not None and group.max_reroutes is not None:
        return group.max_reroutes
    if roster.max_reroutes is not None:
        return roster.max_reroutes
    return default


class _SlaRun(RoutingRun):
    def __init__(self, store: LeadRoutingStore, roster: Roster, now: datetime, max_reroutes: int) -> None:
        super().__init__(store, roster, now)
        self.max_reroutes = max_reroutes
        self.report = RerouteReport()

    def settle(self, seen: LeadRecord, outcome: str, reason: str) -> None:
        """Salesforce shows the lead worked, closed or gone: release it through the attend/release rules, once."""
        status = {
            SCREEN_ATTENDED: LeadStatus.ATTENDED, SCREEN_CLOSED: LeadStatus.CLOSED, SCREEN_DELETED: LeadStatus.DELETED,
        }[outcome]
        released, changed = settle(seen.lead_id, new_status=status, store=self.store, now=self.now, reason=reason)
        self.report.items_read += 1
        if released and seen.counted_rep_id:
            self.bump(seen.counted_rep_id, -1)
        # Announce only what this run changed (as intake does): time to first touch is counted once.
        if status is LeadStatus.ATTENDED and changed:
            self.report.attended.append(lifecycle_of(seen, status.value, self.now, reason))
        elif status is not LeadStatus.ATTENDED and released:
            self.report.closed.append(lifecycle_of(seen, status.value, self.now, reason))
        else:
            self.report.skipped.append({"lead_id": seen.lead_id, "reason": f"already settled: {reason}"})

    def handle(self, seen: LeadRecord) -> None:
        lead_id = seen.lead_id
        excluded_full: dict[str, str] = {}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if seen.status not in _WAITING or not seen.waiting:
                self.report.skipped.append({"lead_id": lead_id, "reason": f"no longer waiting ({seen.status})"})
                return
            if seen.sla_due_at is not None and seen.sla_due_at > self.now:
                self.report.skipped.append({"lead_id": lead_id, "reason": "SLA was renewed meanwhile"})
                return
            try:
                self._try(seen, excluded_full)
            except LeadChanged:
                fresh = self.store.lead(lead_id)
                self.report.items_read += 1
                if fresh is None:
                    self.report.skipped.append({"lead_id": lead_id, "reason": "lead deleted meanwhile"})
                    return
                seen = fresh
                continue
            except LostRace:
                self.refresh_for(seen)
                backoff(attempt)
                continue
            return
        self.report.skipped.append({"lead_id": lead_id, "reason": f"gave up after {MAX_ATTEMPTS} attempts (contention)"})

    def _try(self, seen: LeadRecord, excluded_full: dict[str, str]) -> None:
        roster = self.roster
        group = group_of(roster, seen)
        current = seen.owner_id
        count = seen.reroute_count
        limit = _max_for(roster, group, self.max_reroutes)
        if count >= limit:
            self._escalate(seen, group, count, limit)
            return
        exclude = {p: "previous owner" for p in seen.previous_owners}
        if current:
            exclude[current] = "current owner (missed the SLA)"
        exclude.update(excluded_full)
        kept = seen.status is LeadStatus.KEPT_OWNER
        reason = (
            f"re-route {count + 1} of {limit}: {current} missed the SLA due {iso(seen.sla_due_at or _EPOCH)}"
            + (" (the owner the lead was created with; its group re-routes kept leads)" if kept else "")
        )
        detail = self.reassign(
            seen, tag_of(seen), excluded_full=excluded_full, exclude=exclude,
            group_id=group.group_id if group else None, reroute_count=count + 1, why=reason, reroute_reason=REASON_SLA,
        )  # fmt: skip
        self.report.rerouted.append(detail)

    def _escalate(self, seen: LeadRecord, group: Group | None, count: int, limit: int) -> None:
        roster, now = self.roster, self.now
        current = seen.owner_id
        owner, why = escalation_owner(roster, group, current, self.unusable)
        trail = {
            "at": iso(now),
            "roster_version": roster.version,
            "territory_id": seen.territory_id,
            "outcome": "escalation",
            "owner_id": owner,
            "fallback": False,
            "summary": f"escalated to {owner} ({why}): SLA missed after {count} re-route(s) (limit {limit})",
            "escalation": f"previous owners {', '.join([*seen.previous_owners, current or '?'])}",
            "previous_decision": seen.trail.get("summary"),
        }
        change = escalation_change(roster, owner, trail)
        self.store.escalate(seen, change, now=now)
        self.bump(seen.counted_rep_id, -1)
        self.report.escalated.append(
            LeadAssignedDetail(
                lead_id=seen.lead_id,
                org_id=seen.org_id,
                owner_id=owner,
                owner_kind=change.owner_kind,
                owner_name=change.owner_name,
                territory_id=seen.territory_id,
                territory_name=seen.territory_name,
                tag_method=seen.tag_method,
                tag_precision=seen.tag_precision,
                group_id=seen.group_id,
                strategy=seen.strategy,
                assigned_at=now,
                sla_due_at=None,
                reroute_count=count,
                previous_owner_id=current,
                fallback=False,
                decision=trail,
            )
        )


def reroute_due_leads(
    *, store: LeadRoutingStore, now: datetime, max_reroutes: int, limit: int = 500, screen: Screen | None = None
) -> RerouteReport:
    """Re-route (or escalate) up to ``limit`` leads whose SLA ran out by ``now``, oldest first.

    ``max_reroutes`` (setting ``MAX_REROUTES``) applies unless the group or roster sets its own.

    ``screen`` (``services.lead_reroute.SalesforceScreen``, when a Salesforce connection is configured) is asked
    about all due leads first: a lead Salesforce shows worked, taken over, converted, closed or deleted is settled
    through the attend/release rules (counter released exactly once) instead of re-routed; a lead Salesforce
    could not be read for is left untouched (``blocked``) and comes back in the next run. Without a screen the
    run trusts its own record, as before.
    """
    due = store.due(now, limit)
    if not due.leads:
        return RerouteReport(items_read=due.items_read)
    verdicts = dict(screen(due.leads)) if screen is not None else {}
    roster = store.active_roster(refresh=True)
    run = _SlaRun(store, roster, now, max_reroutes)
    run.report.items_read = due.items_read
    run.refresh({r.territory_id for r in due.leads}, {r.group_id for r in due.leads if r.group_id})
    for seen in sorted(due.leads, key=lambda r: (r.sla_due_at or _EPOCH, r.lead_id)):
        outcome, reason = verdicts.get(seen.lead_id, (SCREEN_REROUTE, ""))
        if outcome == SCREEN_UNVERIFIED:
            run.report.blocked.append({"lead_id": seen.lead_id, "reason": reason})
        elif outcome in (SCREEN_ATTENDED, SCREEN_CLOSED, SCREEN_DELETED):
            run.settle(seen, outcome, reason)
        else:
            run.handle(seen)
    return run.report
