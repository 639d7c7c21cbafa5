"""SLA re-routing: leads nobody acted on in time go to another rep, and after too many hops to a manager.

The run reads only the late leads: a Query of the sparse index ``RerouteDueIndex``
(``reroute_shard = "DUE" AND sla_due_at <= now``); a lead is in that index only while it is assigned to a counted
rep and unattended (a lead that kept its owner is listed only when its group sets ``reroute_kept_leads``). Each
lead then changes in one transaction (lead version check, old rep -1, new rep +1 within
capacity, group pointer), so a lead attended at the same moment either stays put (its version moved) or is
released by ``mark_attended`` from its new owner - never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.engine import NoUsableOwner, decide
from territory_router.assignment.records import (
    REROUTE_SHARD,
    CounterChange,
    TransactionCancelled,
    detail_for_decision,
    detail_from_item,
    epoch,
    iso,
)
from territory_router.assignment.roster import Group, Roster, owner_kind
from territory_router.assignment.service import MAX_ATTEMPTS, _backoff, _release, groups_to_read
from territory_router.assignment.sla import due_at, sla_for
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagPrecision, TagResult
from territory_router.domain.messages import (
    REASON_GEOCODED,
    LeadAssignedDetail,
    LeadLifecycleDetail,
    lifecycle_detail,
)

if TYPE_CHECKING:
    from territory_router.adapters.routing_store import RoutingStore

REASON_SLA = "SLA_MISSED"  # LeadRerouted.reroute_reason: nobody attended the lead within its SLA (or GEOCODED)


# What a screen (services.reroute.SalesforceScreen) says of a due lead, read back from Salesforce.
SCREEN_REROUTE = "REROUTE"  # nobody worked it: the SLA rules decide (re-route or escalate)
SCREEN_ATTENDED = "ATTENDED"  # worked or taken over in Salesforce: mark attended, release the counter
SCREEN_CLOSED = "CLOSED"  # converted / closed in Salesforce: release the counter
SCREEN_DELETED = "DELETED"  # gone from Salesforce: release the counter
SCREEN_UNVERIFIED = "UNVERIFIED"  # Salesforce could not be read: leave the lead as it is, never re-route blind

# items -> {lead_id: (one of the SCREEN_* outcomes, reason)}; a lead it does not mention is re-routed as before.
Screen = Callable[[list[dict[str, Any]]], Mapping[str, tuple[str, str]]]


@dataclass
class RerouteReport:
    rerouted: list[LeadAssignedDetail] = field(default_factory=list)  # emit LeadRerouted
    escalated: list[LeadAssignedDetail] = field(default_factory=list)  # emit LeadEscalated
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"lead_id", "reason"}
    items_read: int = 0  # lead items read from DynamoDB (Query ScannedCount + re-reads)
    attended: list[LeadLifecycleDetail] = field(default_factory=list)  # worked in Salesforce: emit LeadAttended
    closed: list[LeadLifecycleDetail] = field(default_factory=list)  # closed/deleted in Salesforce: emit LeadClosed
    blocked: list[dict[str, str]] = field(default_factory=list)  # Salesforce unreadable: {"lead_id", "reason"}


# Leads the SLA run may move: assigned by us, or kept with their owner in a group that re-routes kept leads.
_WAITING = (LeadStatus.ASSIGNED.value, LeadStatus.KEPT_OWNER.value)


def _lead_of(item: dict[str, Any]) -> Lead:
    data = dict(item.get("lead") or {})
    data.setdefault("lead_id", item["lead_id"])
    try:
        return Lead.model_validate(data)
    except ValidationError:
        return Lead(lead_id=item["lead_id"])


def _tag_of(item: dict[str, Any]) -> TagResult:
    try:
        method = TagMethod(item.get("tag_method") or TagMethod.UNTAGGED.value)
    except ValueError:
        method = TagMethod.UNTAGGED
    try:
        precision = TagPrecision(item["tag_precision"]) if item.get("tag_precision") else None
    except ValueError:
        precision = None
    return TagResult(
        territory_id=item.get("territory_id"),
        territory_name=item.get("territory_name"),
        method=method,
        note=item.get("tag_note") or "",
        precision=precision,
    )


def _group_of(roster: Roster, item: dict[str, Any]) -> Group | None:
    g = roster.groups.get(item.get("group_id") or "")
    return g or roster.group_for_territory(item.get("territory_id"))


def _max_for(roster: Roster, group: Group | None, default: int) -> int:
    if group is not None and group.max_reroutes is not None:
        return group.max_reroutes
    if roster.max_reroutes is not None:
        return roster.max_reroutes
    return default


def _escalation_owner(roster: Roster, group: Group | None, current_owner: str | None,
                      unusable: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The first of: the group's escalation owner, the rep's manager, the group's fallback owner, the default
    fallback owner, that Salesforce has not refused as an owner."""
    unusable = unusable or {}
    candidates: list[tuple[str | None, str]] = []
    if group is not None:
        candidates.append((group.escalation_owner, f"escalation owner of group {group.group_id}"))
    rep = roster.reps.get(current_owner or "")
    if rep is not None:
        candidates.append((rep.manager_id, f"manager of {rep.label}"))
    if group is not None:
        candidates.append((group.fallback_owner, f"fallback owner of group {group.group_id}"))
    for owner, why in candidates:
        if owner and owner not in unusable:
            return owner, why
    if roster.default_fallback_owner in unusable:
        raise NoUsableOwner(f"every escalation owner is unusable, the default fallback owner too "
                            f"({unusable[roster.default_fallback_owner]})")
    return roster.default_fallback_owner, "default fallback owner"


class _Run:
    def __init__(self, store: RoutingStore, roster: Roster, now: datetime, max_reroutes: int) -> None:
        self.store = store
        self.roster = roster
        self.now = now
        self.max_reroutes = max_reroutes
        self.loads: dict[str, RepLoad] = {}
        self.pointers: dict[str, PointerState] = {}
        self.unusable: dict[str, str] = {}  # owners Salesforce refused (OWNERS/UNUSABLE)
        self.report = RerouteReport()

    def refresh(self, territory_ids: set[str | None], group_ids: set[str]) -> None:
        reps: list[str] = []
        pointer_groups: list[str] = []
        for t in territory_ids:
            r, p = groups_to_read(self.roster, t)
            reps += r
            pointer_groups += p
        for gid in group_ids:
            r, p = groups_to_read(self.roster, None, gid)
            reps += r
            pointer_groups += p
        snap = self.store.snapshot(lead_id=None, rep_ids=reps, group_ids=pointer_groups, include_active=False)
        self.loads.update(snap.loads)
        self.pointers.update(snap.pointers)
        self.unusable.update(snap.unusable)

    def _bump(self, rep_id: str | None, delta: int) -> None:
        if not rep_id:
            return
        cur = self.loads.get(rep_id) or RepLoad()
        self.loads[rep_id] = RepLoad(
            max(0, cur.open_leads + delta), cur.assigned_total + (1 if delta > 0 else 0)
        )

    def settle(self, item: dict[str, Any], outcome: str, reason: str) -> None:
        """Salesforce shows the lead worked, closed or gone: release it through the attend/release rules, once."""
        lead_id = item["lead_id"]
        status = {
            SCREEN_ATTENDED: LeadStatus.ATTENDED, SCREEN_CLOSED: LeadStatus.CLOSED, SCREEN_DELETED: LeadStatus.DELETED,
        }[outcome]
        released, changed = _release(lead_id, new_status=status, store=self.store, now=self.now, reason=reason)
        self.report.items_read += 1
        counted = item.get("counted_rep_id")
        if released and counted:
            self._bump(counted, -1)
        # Announce only what this run changed (as intake does): time to first touch is counted once.
        if status is LeadStatus.ATTENDED and changed:
            self.report.attended.append(lifecycle_detail(item, status.value, self.now, reason))
        elif status is not LeadStatus.ATTENDED and released:
            self.report.closed.append(lifecycle_detail(item, status.value, self.now, reason))
        else:
            self.report.skipped.append({"lead_id": lead_id, "reason": f"already settled: {reason}"})

    def handle(self, item: dict[str, Any]) -> None:
        lead_id = item["lead_id"]
        excluded_full: dict[str, str] = {}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if item.get("status") not in _WAITING or item.get("reroute_shard") != REROUTE_SHARD:
                self.report.skipped.append({"lead_id": lead_id, "reason": f"no longer waiting ({item.get('status')})"})
                return
            if int(item.get("sla_due_at") or 0) > epoch(self.now):
                self.report.skipped.append({"lead_id": lead_id, "reason": "SLA was renewed meanwhile"})
                return
            try:
                done = self._try(item, excluded_full)
            except TransactionCancelled as exc:
                if exc.failed(0) and exc.failed(0) != "TransactionConflict":
                    fresh = self.store.get_lead(lead_id)
                    self.report.items_read += 1
                    if fresh is None:
                        self.report.skipped.append({"lead_id": lead_id, "reason": "lead deleted meanwhile"})
                        return
                    item = fresh
                    continue
                self.refresh({item.get("territory_id")}, {item.get("group_id") or ""} - {""})
                _backoff(attempt)
                continue
            if done:
                return
        self.report.skipped.append({"lead_id": lead_id, "reason": f"gave up after {MAX_ATTEMPTS} attempts (contention)"})

    def _try(self, item: dict[str, Any], excluded_full: dict[str, str]) -> bool:
        roster, now = self.roster, self.now
        lead_id = item["lead_id"]
        group = _group_of(roster, item)
        current = item.get("owner_id")
        counted = item.get("counted_rep_id")
        count = int(item.get("reroute_count") or 0)
        limit = _max_for(roster, group, self.max_reroutes)
        previous = list(item.get("previous_owners") or [])
        condition = "#version = :v_seen AND #status IN (:s_assigned, :s_kept) AND #shard = :due"
        cvalues = {
            ":v_seen": int(item.get("version") or 0),
            ":s_assigned": LeadStatus.ASSIGNED.value,
            ":s_kept": LeadStatus.KEPT_OWNER.value,
            ":due": REROUTE_SHARD,
        }
        kept = item.get("status") == LeadStatus.KEPT_OWNER.value
        due_was = int(item.get("sla_due_at") or 0)

        if count >= limit:
            owner, why = _escalation_owner(roster, group, current, self.unusable)
            trail = {
                "at": iso(now),
                "roster_version": roster.version,
                "territory_id": item.get("territory_id"),
                "outcome": "escalation",
                "owner_id": owner,
                "fallback": False,
                "summary": f"escalated to {owner} ({why}): SLA missed after {count} re-route(s) (limit {limit})",
                "escalation": f"previous owners {', '.join([*previous, current or '?'])}",
                "previous_decision": (item.get("decision") or {}).get("summary"),
            }
            values = {
                "status": LeadStatus.ESCALATED.value,
                "version": int(item.get("version") or 0) + 1,
                "updated_at": iso(now),
                "escalated_at": iso(now),
                "assigned_at": iso(now),
                "owner_id": owner,
                "owner_kind": owner_kind(owner),
                "fallback": False,
                "decision": trail,
            }
            rep = roster.reps.get(owner)
            if rep is not None and rep.name:
                values["owner_name"] = rep.name
            remove = ["reroute_shard", "counted_rep_id", "kept_owner"]
            if not (rep is not None and rep.name):
                remove.append("owner_name")
            counters = [CounterChange(counted, -1)] if counted else []
            self.store.transact_lead_change(
                lead_id=lead_id,
                set_values=values,
                remove=remove,
                condition=condition,
                condition_values=cvalues,
                counters=counters,
                now=now,
                append_previous_owner=current,
            )
            self._bump(counted, -1)
            self.report.escalated.append(
                LeadAssignedDetail(
                    lead_id=lead_id,
                    org_id=item.get("org_id"),
                    owner_id=owner,
                    owner_kind=owner_kind(owner),
                    owner_name=values.get("owner_name"),
                    territory_id=item.get("territory_id"),
                    territory_name=item.get("territory_name"),
                    tag_method=item.get("tag_method"),
                    tag_precision=item.get("tag_precision"),
                    group_id=item.get("group_id"),
                    strategy=item.get("strategy"),
                    assigned_at=now,
                    sla_due_at=None,
                    reroute_count=count,
                    previous_owner_id=current,
                    fallback=False,
                    decision=trail,
                )
            )
            return True

        exclude = {p: "previous owner" for p in previous}
        if current:
            exclude[current] = "current owner (missed the SLA)"
        exclude.update(excluded_full)
        reason = (
            f"re-route {count + 1} of {limit}: {current} missed the SLA due "
            f"{iso(datetime.fromtimestamp(due_was, now.tzinfo))}"
            + (" (the owner the lead was created with; its group re-routes kept leads)" if kept else "")
        )
        detail = self.reassign(
            item, _lead_of(item), _tag_of(item), excluded_full=excluded_full, exclude=exclude,
            group_id=group.group_id if group else None, reroute_count=count + 1, why=reason,
            reroute_reason=REASON_SLA,
        )  # fmt: skip
        self.report.rerouted.append(detail)
        return True

    def reassign(
        self,
        item: dict[str, Any],
        lead: Lead,
        tag: TagResult,
        *,
        excluded_full: dict[str, str],
        exclude: dict[str, str],
        group_id: str | None,
        reroute_count: int,
        why: str,
        reroute_reason: str,
        tag_values: dict[str, Any] | None = None,
    ) -> LeadAssignedDetail:
        """Give an assigned lead to the owner ``decide`` picks now: one transaction (lead version check, the old
        rep -1 and the new rep +1 within capacity - none when the rep stays the same -, the group pointer), a new
        SLA clock, the previous owner appended. Raises ``TransactionCancelled`` when a race lost (the caller
        re-reads and retries). ``tag_values``: stamp attributes to write too (a move to another territory)."""
        roster, now = self.roster, self.now
        lead_id = item["lead_id"]
        current = item.get("owner_id")
        counted = item.get("counted_rep_id")
        condition = "#version = :v_seen AND #status = :s_assigned"
        cvalues: dict[str, Any] = {":v_seen": int(item.get("version") or 0), ":s_assigned": LeadStatus.ASSIGNED.value}
        if reroute_reason == REASON_SLA:
            # a lead that kept its owner is re-routed by its SLA too when its group says so (reroute_kept_leads)
            condition = "#version = :v_seen AND #status IN (:s_assigned, :s_kept) AND #shard = :due"
            cvalues.update({":s_kept": LeadStatus.KEPT_OWNER.value, ":due": REROUTE_SHARD})
        decision = decide(lead, tag, roster, self.loads, self.pointers, now, exclude_reps=exclude, group_id=group_id,
                          unusable_owners=self.unusable)  # fmt: skip
        dgroup = roster.groups.get(decision.group_id) if decision.group_id else None
        sla = sla_for(roster, dgroup, tag.territory_id, int(item.get("sla_minutes") or 60))
        due = due_at(now, sla)
        trail = dict(decision.trail)
        trail["sla"] = f"{sla.describe()}: due {iso(due)}"
        trail["reroute"] = why
        values = {
            "status": LeadStatus.ASSIGNED.value,
            "version": int(item.get("version") or 0) + 1,
            "updated_at": iso(now),
            "rerouted_at": iso(now),
            "assigned_at": iso(now),
            "owner_id": decision.owner_id,
            "owner_kind": decision.owner_kind,
            "fallback": decision.fallback,
            "decision": trail,
            "reroute_count": reroute_count,
            "sla_due_at": epoch(due),
            "sla_minutes": sla.minutes,
            **(tag_values or {}),
        }
        remove: list[str] = ["kept_owner"]  # from now on the owner is ours: the writeback sets OwnerId
        for attr, value in (("owner_name", decision.owner_name), ("group_id", decision.group_id), ("strategy", decision.strategy)):
            if value is not None:
                values[attr] = value
            else:
                remove.append(attr)
        same_rep = bool(counted) and decision.counted and decision.rep_id == counted
        counters: list[CounterChange] = []
        if counted and not same_rep:
            counters.append(CounterChange(counted, -1))
        if decision.counted:
            values["counted_rep_id"] = decision.rep_id
            values["reroute_shard"] = REROUTE_SHARD
            if not same_rep:
                counters.append(CounterChange(decision.rep_id, +1, decision.rep_capacity))  # type: ignore[arg-type]
        else:
            remove += ["counted_rep_id", "reroute_shard"]
        try:
            self.store.transact_lead_change(
                lead_id=lead_id,
                set_values=values,
                remove=remove,
                condition=condition,
                condition_values=cvalues,
                counters=counters,
                pointer=decision.pointer,
                now=now,
                append_previous_owner=current if current != decision.owner_id else None,
            )
        except TransactionCancelled as exc:
            new_index = len(counters)  # the new rep's counter is the last counter item
            if decision.counted and not same_rep and exc.failed(new_index) == "ConditionalCheckFailed":
                excluded_full[decision.rep_id] = "filled up meanwhile (raced)"  # type: ignore[index]
            raise
        if not same_rep:
            self._bump(counted, -1)
            self._bump(decision.rep_id, +1)
        if decision.pointer is not None:
            self.pointers[decision.pointer.group_id] = decision.pointer
        return detail_for_decision(
            decision, lead_id=lead_id, org_id=item.get("org_id"), tag=tag, assigned_at=now, sla_due_at=due,
            reroute_count=reroute_count, trail=trail, previous_owner_id=current, reroute_reason=reroute_reason,
        )  # fmt: skip


def reroute_due_leads(
    *, store: RoutingStore, now: datetime, max_reroutes: int, limit: int = 500, screen: Screen | None = None
) -> RerouteReport:
    """Re-route (or escalate) up to ``limit`` leads whose SLA ran out by ``now``, oldest first.

    ``max_reroutes`` (setting ``MAX_REROUTES``) applies unless the group or roster sets its own.

    ``screen`` (``services.reroute.SalesforceScreen``, when a Salesforce connection is configured) is asked about
    all due leads first: a lead Salesforce shows worked, taken over, converted, closed or deleted is settled
    through the attend/release rules (counter released exactly once) instead of re-routed; a lead Salesforce
    could not be read for is left untouched (``blocked``) and comes back in the next run. Without a screen the
    run trusts its own record, as before.
    """
    items, read = store.query_due(now, limit)
    if not items:
        return RerouteReport(items_read=read)
    verdicts = dict(screen(items)) if screen is not None else {}
    roster = store.active_roster(refresh=True)
    run = _Run(store, roster, now, max_reroutes)
    run.report.items_read = read
    run.refresh({i.get("territory_id") for i in items}, {i.get("group_id") for i in items if i.get("group_id")})
    for item in sorted(items, key=lambda i: (int(i.get("sla_due_at") or 0), i["lead_id"])):
        outcome, reason = verdicts.get(item["lead_id"], (SCREEN_REROUTE, ""))
        if outcome == SCREEN_UNVERIFIED:
            run.report.blocked.append({"lead_id": item["lead_id"], "reason": reason})
        elif outcome in (SCREEN_ATTENDED, SCREEN_CLOSED, SCREEN_DELETED):
            run.settle(item, outcome, reason)
        else:
            run.handle(item)
    return run.report


# --------------------------------------------------------------------------------------------- late geocodes

STAMP_ATTRIBUTES = ("territory_id", "territory_name", "tag_method", "tag_precision", "tag_note")


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


def _stamp_values(tag: TagResult) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {"tag_method": tag.method.value, "tag_precision": tag.precision.value, "tag_note": tag.note}
    remove: list[str] = []
    for attr, value in (("territory_id", tag.territory_id), ("territory_name", tag.territory_name)):
        if value is not None:
            values[attr] = value
        else:
            remove.append(attr)
    return values, remove


def _same_stamp(item: dict[str, Any], tag: TagResult) -> bool:
    return (
        item.get("territory_id") == tag.territory_id
        and item.get("tag_method") == tag.method.value
        and (item.get("tag_precision") or None) == tag.precision.value
    )


def apply_late_geocode(
    lead: Lead, tag: TagResult, *, store: RoutingStore, now: datetime, default_sla_minutes: int
) -> GeocodeOutcome:
    """A lead re-tagged after Salesforce geocoded it (or its address changed) after it was taken in.

    - not assigned yet: assigned with the new stamp (``assign_lead``);
    - assigned and nobody has worked it, another territory: moved with the re-route mechanism (:meth:`_Run.reassign`:
      counters exactly once in one transaction, new SLA clock), announced as ``LeadRerouted`` (reason GEOCODED);
      the re-route count is not increased (the rep did not miss anything);
    - otherwise (same territory, or worked: attended/escalated): the stamp is refined, the owner kept
      (``LeadRetagged``, written back without ``OwnerId``);
    - closed/deleted/unknown: nothing.
    """
    from territory_router.assignment.service import ASSIGNABLE, assign_lead
    from territory_router.domain.messages import (
        DETAIL_LEAD_ASSIGNED,
        DETAIL_LEAD_REROUTED,
        DETAIL_LEAD_RETAGGED,
        AssignRequest,
    )

    lead_id = lead.lead_id
    excluded_full: dict[str, str] = {}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        item = store.get_lead(lead_id)
        status = (item or {}).get("status")
        if item is None:
            return GeocodeOutcome("skipped", "lead not known")
        if status in ASSIGNABLE:
            out = assign_lead(AssignRequest(lead=lead, tag=tag), store=store, now=now, default_sla_minutes=default_sla_minutes)
            return GeocodeOutcome("assigned", "not assigned yet: assigned with the refined stamp", out.detail,
                                  DETAIL_LEAD_ASSIGNED if out.detail else None, duplicate=out.duplicate)  # fmt: skip
        if status in (LeadStatus.CLOSED.value, LeadStatus.DELETED.value) or not item.get("owner_id"):
            return GeocodeOutcome("skipped", f"lead is {status}")
        if _same_stamp(item, tag):  # a redelivery (or nothing new): announce what is stored again
            moved = item.get("reroute_reason") == REASON_GEOCODED and status == LeadStatus.ASSIGNED.value
            detail = detail_from_item(item)
            if not moved:
                detail = detail.model_copy(update={"stamp_only": True, "assigned_at": now})
            return GeocodeOutcome("unchanged", "the lead already has this stamp", detail,
                                  DETAIL_LEAD_REROUTED if moved else DETAIL_LEAD_RETAGGED, duplicate=True)  # fmt: skip
        old = item.get("territory_id")
        stamp, remove = _stamp_values(tag)
        try:
            if status == LeadStatus.ASSIGNED.value and old != tag.territory_id:
                roster = store.active_roster(refresh=True)
                run = _Run(store, roster, now, max_reroutes=0)
                run.refresh({tag.territory_id, old}, set())
                why = (f"moved from {old or 'no territory'} to {tag.territory_id or 'no territory'}: Salesforce "
                       f"geocoded the lead after it was assigned, nobody had worked it ({tag.method.value}, "
                       f"precision {tag.precision.value})")  # fmt: skip
                detail = run.reassign(
                    item, lead, tag, excluded_full=excluded_full, exclude=dict(excluded_full), group_id=None,
                    reroute_count=int(item.get("reroute_count") or 0), why=why, reroute_reason=REASON_GEOCODED,
                    tag_values={**stamp, "reroute_reason": REASON_GEOCODED},
                )  # fmt: skip
                return GeocodeOutcome("moved", why, detail, DETAIL_LEAD_REROUTED)
            worked = status != LeadStatus.ASSIGNED.value
            trail = dict(item.get("decision") or {})
            trail["refined"] = (
                f"{iso(now)}: territory stamp refined after a late geocode ({tag.method.value}, precision "
                f"{tag.precision.value})" + (f"; owner kept: the lead is {status.lower()}" if worked else "")
            )
            store.transact_lead_change(
                lead_id=lead_id,
                set_values={**stamp, "version": int(item.get("version") or 0) + 1, "updated_at": iso(now),
                            "decision": trail},  # fmt: skip
                remove=remove,
                condition="#version = :v_seen AND #status = :s_seen",
                condition_values={":v_seen": int(item.get("version") or 0), ":s_seen": status},
                now=now,
            )
        except TransactionCancelled as exc:
            if not (exc.failed(0) and exc.failed(0) != "TransactionConflict"):
                _backoff(attempt)
            continue  # the lead changed meanwhile (or a race was lost): look again
        refined = {**item, **stamp, "decision": trail}
        for attr in remove:
            refined.pop(attr, None)
        detail = detail_from_item(refined).model_copy(update={"stamp_only": True, "assigned_at": now})
        return GeocodeOutcome("refined", trail["refined"], detail, DETAIL_LEAD_RETAGGED)
    return GeocodeOutcome("skipped", f"gave up after {MAX_ATTEMPTS} attempts (contention)")


# ------------------------------------------------------------------------------------- refused owners


@dataclass
class RedecideOutcome:
    """What ``redecide_refused_owner`` did: ``detail`` to announce (``LeadReassigned``), or why nothing."""

    detail: LeadAssignedDetail | None = None
    skipped_reason: str | None = None


def redecide_refused_owner(
    lead_id: str, refused: str, reason: str, *, store: RoutingStore, now: datetime, default_sla_minutes: int = 60,
) -> RedecideOutcome:
    """Salesforce refused ``refused`` as the owner of ``lead_id``: decide again without it.

    Uses the re-route's mechanism (``decide`` with the refused and every unusable owner excluded, then one
    transaction: lead version and owner checked, old rep -1, new rep +1 within capacity, group pointer), so the
    counters move exactly once however often the message is delivered. An assigned lead goes to its group's next
    candidate (or the fallback owner); an escalated one to the next escalation owner. The re-route count and the
    lead's history are kept; the refused owner joins ``previous_owners``. Raises ``NoUsableOwner`` when nobody is
    left. A lead whose owner already changed is left alone, but a decision that replaced this refused owner and
    may not have been announced is returned again (announcing twice is harmless: the writeback de-duplicates).
    """
    roster = store.active_roster(refresh=True)
    run = _Run(store, roster, now, max_reroutes=0)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        item = store.get_lead(lead_id)
        if item is None:
            return RedecideOutcome(skipped_reason="lead not found")
        if item.get("owner_id") != refused:
            if (item.get("decision") or {}).get("refused_owner_id") == refused:
                return RedecideOutcome(detail=_detail_of(item))
            return RedecideOutcome(skipped_reason=f"owner already changed to {item.get('owner_id')}")
        status = item.get("status")
        if status not in (LeadStatus.ASSIGNED.value, LeadStatus.ESCALATED.value):
            return RedecideOutcome(skipped_reason=f"lead is {status}")
        run.refresh({item.get("territory_id")}, {item.get("group_id") or ""} - {""})
        try:
            return RedecideOutcome(detail=_replace_owner(run, item, refused, reason, default_sla_minutes))
        except TransactionCancelled as exc:
            if exc.failed(0) and exc.failed(0) != "TransactionConflict":
                continue  # the lead changed: look again
            _backoff(attempt)
    raise RuntimeError(f"lead {lead_id}: re-decision gave up after {MAX_ATTEMPTS} attempts (contention)")


def _detail_of(item: dict[str, Any]) -> LeadAssignedDetail:
    from territory_router.assignment.records import detail_from_item

    return detail_from_item(item)


def _replace_owner(self: _Run, item: dict[str, Any], refused: str, reason: str, default_sla_minutes: int
                   ) -> LeadAssignedDetail:
    roster, now = self.roster, self.now
    lead_id = item["lead_id"]
    group = _group_of(roster, item)
    counted = item.get("counted_rep_id")
    unusable = {**self.unusable, refused: reason}
    condition = "#version = :v_seen AND #owner = :refused"
    cvalues: dict[str, Any] = {":v_seen": int(item.get("version") or 0), ":refused": refused}
    remove: list[str] = []
    counters: list[CounterChange] = [CounterChange(counted, -1)] if counted else []
    pointer = None
    if item.get("status") == LeadStatus.ESCALATED.value:
        owner, why = _escalation_owner(roster, group, refused, unusable)
        rep = roster.reps.get(owner)
        trail = {"at": iso(now), "roster_version": roster.version, "territory_id": item.get("territory_id"),
                 "outcome": "escalation", "owner_id": owner, "fallback": False,
                 "summary": f"escalated to {owner} ({why}): Salesforce refused {refused}"}
        values: dict[str, Any] = {"owner_id": owner, "owner_kind": owner_kind(owner)}
        if rep is not None and rep.name:
            values["owner_name"] = rep.name
        else:
            remove.append("owner_name")
        remove += ["counted_rep_id", "reroute_shard"]
        new_rep, due, sla_minutes = None, None, None
        strategy, group_id, fallback = item.get("strategy"), item.get("group_id"), False
    else:
        decision = decide(_lead_of(item), _tag_of(item), roster, self.loads, self.pointers, now,
                          exclude_reps={refused: f"refused by Salesforce: {reason}"},
                          group_id=group.group_id if group else None, unusable_owners=unusable)
        dgroup = roster.groups.get(decision.group_id) if decision.group_id else None
        sla = sla_for(roster, dgroup, item.get("territory_id"), int(item.get("sla_minutes") or default_sla_minutes))
        due, sla_minutes = due_at(now, sla), sla.minutes
        trail = dict(decision.trail)
        trail["sla"] = f"{sla.describe()}: due {iso(due)}"
        owner, new_rep, pointer = decision.owner_id, decision.rep_id, decision.pointer
        strategy, group_id, fallback = decision.strategy, decision.group_id, decision.fallback
        values = {"owner_id": owner, "owner_kind": decision.owner_kind, "fallback": fallback, "sla_minutes": sla_minutes}
        for attr, value in (("owner_name", decision.owner_name), ("group_id", group_id), ("strategy", strategy)):
            if value is not None:
                values[attr] = value
            else:
                remove.append(attr)
        if decision.counted:
            values["counted_rep_id"] = decision.rep_id
            values["reroute_shard"] = REROUTE_SHARD
            values["sla_due_at"] = epoch(due)
            counters.append(CounterChange(decision.rep_id, +1, decision.rep_capacity))  # type: ignore[arg-type]
        else:
            remove += ["counted_rep_id", "reroute_shard"]
    trail["refused_owner"] = f"{refused}: {reason}"
    trail["refused_owner_id"] = refused
    values.update({"version": int(item.get("version") or 0) + 1, "updated_at": iso(now), "assigned_at": iso(now),
                   "decision": trail})
    try:
        self.store.transact_lead_change(
            lead_id=lead_id, set_values=values, remove=[r for r in remove if r not in values], condition=condition,
            condition_values=cvalues, counters=counters, pointer=pointer, now=now, append_previous_owner=refused,
        )
    except TransactionCancelled:
        raise  # the caller re-reads the lead and the counters (refresh) and decides again
    self._bump(counted, -1)
    self._bump(new_rep, +1)
    if pointer is not None:
        self.pointers[pointer.group_id] = pointer
    return LeadAssignedDetail(
        lead_id=lead_id, org_id=item.get("org_id"), owner_id=owner, owner_kind=owner_kind(owner),
        owner_name=values.get("owner_name"), territory_id=item.get("territory_id"),
        territory_name=item.get("territory_name"), tag_method=item.get("tag_method"),
        tag_precision=item.get("tag_precision"), group_id=group_id,
        strategy=strategy, assigned_at=now, sla_due_at=due, reroute_count=int(item.get("reroute_count") or 0),
        previous_owner_id=refused, fallback=fallback, decision=trail,
    )

