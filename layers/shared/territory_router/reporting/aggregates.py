"""What one app-bus event adds to the daily aggregates (pure: no I/O).

Items (RoutingTable): ``pk = AGG#<yyyy-mm-dd>`` (UTC day of the event), ``sk = TERRITORY#<id>`` and
``sk = REP#<user id>``, each a set of counters incremented with DynamoDB ``ADD``. Every event also has a
de-duplication key: the same fact announced twice (EventBridge -> SQS at-least-once delivery, or an assignment
message redelivered and announced again with a new event id) has the same key and is counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territory_router.domain.ids import USER_KEY_PREFIX
from territory_router.domain.leads import TagMethod, TagPrecision, default_precision
from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    DETAIL_LEAD_ESCALATED,
    DETAIL_LEAD_KEPT,
    DETAIL_LEAD_REASSIGNED,
    DETAIL_LEAD_REROUTED,
    REASON_GEOCODED,
    LeadAssignedDetail,
    LeadLifecycleDetail,
)

AGG_PREFIX = "AGG#"
TERRITORY_PREFIX = "TERRITORY#"
REP_PREFIX = "REP#"
NO_TERRITORY = "(none)"  # leads no territory matched (UNTAGGED)

# Counters kept on both TERRITORY# and REP# items.
ASSIGNED = "assigned"  # leads given to this territory's reps / to this rep (first assignment)
KEPT = "kept"  # new leads that kept the rep who owns them (not an assignment by us: tagged and counted only)
REROUTED = "rerouted"  # re-routed after a missed SLA (territory) / received by re-routing (rep: rerouted_in)
REROUTED_IN = "rerouted_in"
ESCALATED = "escalated"
ESCALATED_IN = "escalated_in"
MISSED = "missed"  # rep lost the lead to a re-route or escalation (its SLA ran out)
ATTENDED = "attended"  # first touch
ATTENDED_LATE = "attended_late"  # first touch after the SLA was due
CLOSED = "closed"
FALLBACK = "fallback"  # given to the fallback owner: nobody eligible
SLA_BREACHES = "sla_breaches"  # re-routed, escalated, or attended late
TTFT_SUM = "ttft_sum_s"  # time to first touch (attended - assigned), seconds
TTFT_COUNT = "ttft_count"
TTA_SUM = "tta_sum_s"  # time to assign (assigned - received), when the event carries received_at
TTA_COUNT = "tta_count"
GEOCODE_MOVES = "geocode_moved_in"  # moved here after Salesforce geocoded the lead late (not an SLA breach)
TAG_PREFIX = "tag_"  # tag_POLYGON, tag_NEAREST, ... (territory items only)
PRECISION_PREFIX = "precision_"  # precision_ROOFTOP, precision_POSTAL_CODE, ... (territory items only)

COUNTERS = (
    ASSIGNED, KEPT, REROUTED, REROUTED_IN, ESCALATED, ESCALATED_IN, MISSED, ATTENDED, ATTENDED_LATE, CLOSED, FALLBACK,
    SLA_BREACHES, TTFT_SUM, TTFT_COUNT, TTA_SUM, TTA_COUNT, GEOCODE_MOVES,
) + tuple(f"{TAG_PREFIX}{m.value}" for m in TagMethod) + tuple(f"{PRECISION_PREFIX}{p.value}" for p in TagPrecision)

APP_DETAIL_TYPES = (DETAIL_LEAD_ASSIGNED, DETAIL_LEAD_KEPT, DETAIL_LEAD_REROUTED, DETAIL_LEAD_ESCALATED,
                    DETAIL_LEAD_ATTENDED, DETAIL_LEAD_CLOSED, DETAIL_LEAD_REASSIGNED)


class NotAnAppEvent(ValueError):
    """The message is not an app-bus event this module knows (wrong detail-type or invalid detail)."""


@dataclass(frozen=True)
class AggregateDelta:
    """The counter increments one event causes, on one day."""

    day: str  # yyyy-mm-dd, UTC
    dedup_key: str
    detail_type: str
    territory_id: str
    territory: dict[str, int] = field(default_factory=dict)
    reps: dict[str, dict[str, int]] = field(default_factory=dict)
    # For metrics: what the event measured (seconds), None when it measured nothing.
    time_to_first_touch_s: int | None = None
    time_to_assign_s: int | None = None

    @property
    def pk(self) -> str:
        return AGG_PREFIX + self.day

    def items(self) -> list[tuple[str, dict[str, Any], dict[str, int]]]:
        """``(sk, identity attributes, counters)`` of every item this delta touches."""
        out: list[tuple[str, dict[str, Any], dict[str, int]]] = [
            (TERRITORY_PREFIX + self.territory_id, {"kind": "TERRITORY", "territory_id": self.territory_id}, self.territory)
        ]
        for rep_id, counters in sorted(self.reps.items()):
            if counters:
                out.append((REP_PREFIX + rep_id, {"kind": "REP", "rep_id": rep_id}, counters))
        return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day_of(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%d")


def _epoch(value: datetime) -> int:
    return int(_utc(value).timestamp())


def _is_rep(owner_id: str | None) -> bool:
    return bool(owner_id) and str(owner_id).startswith(USER_KEY_PREFIX)  # queues (00G) are owners but not reps


def _add(counters: dict[str, int], name: str, value: int = 1) -> None:
    counters[name] = counters.get(name, 0) + value


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def delta_for_event(detail_type: str, detail: Mapping[str, Any]) -> AggregateDelta:
    """The increments of one app event. Raises ``NotAnAppEvent`` for anything else."""
    if detail_type in (DETAIL_LEAD_ASSIGNED, DETAIL_LEAD_KEPT, DETAIL_LEAD_REROUTED, DETAIL_LEAD_ESCALATED,
                       DETAIL_LEAD_REASSIGNED):
        try:
            d = LeadAssignedDetail.model_validate(detail)
        except ValueError as exc:
            raise NotAnAppEvent(f"{detail_type}: invalid detail ({exc.__class__.__name__})") from exc
        return _assignment_delta(detail_type, d, _parse_time(detail.get("received_at")))
    if detail_type in (DETAIL_LEAD_ATTENDED, DETAIL_LEAD_CLOSED):
        try:
            lc = LeadLifecycleDetail.model_validate(detail)
        except ValueError as exc:
            raise NotAnAppEvent(f"{detail_type}: invalid detail ({exc.__class__.__name__})") from exc
        return _lifecycle_delta(detail_type, lc)
    raise NotAnAppEvent(f"not an app event detail-type: {detail_type!r}")


def _add_tag(territory: dict[str, int], d: LeadAssignedDetail) -> None:
    """Count how the lead was tagged: its method and its precision (the method's default for older events)."""
    method = d.tag_method if d.tag_method in TagMethod.__members__ else TagMethod.UNTAGGED.value
    _add(territory, TAG_PREFIX + method)
    precision = d.tag_precision if d.tag_precision in TagPrecision.__members__ else default_precision(method).value
    _add(territory, PRECISION_PREFIX + precision)


def _assignment_delta(detail_type: str, d: LeadAssignedDetail, received_at: datetime | None) -> AggregateDelta:
    territory_id = d.territory_id or NO_TERRITORY
    territory: dict[str, int] = {}
    reps: dict[str, dict[str, int]] = {}
    owner_is_rep = d.owner_kind == "USER" and _is_rep(d.owner_id)
    tta: int | None = None
    if detail_type == DETAIL_LEAD_KEPT:
        # The lead kept its owner: it is tagged and counted in the rep's load, but we did not assign it.
        _add(territory, KEPT)
        _add_tag(territory, d)
        if owner_is_rep:
            _add(reps.setdefault(d.owner_id, {}), KEPT)
    elif detail_type == DETAIL_LEAD_ASSIGNED:
        _add(territory, ASSIGNED)
        _add_tag(territory, d)
        if d.fallback:
            _add(territory, FALLBACK)
        if owner_is_rep:
            _add(reps.setdefault(d.owner_id, {}), ASSIGNED)
        if received_at is not None:
            tta = max(0, _epoch(d.assigned_at) - _epoch(received_at))
            _add(territory, TTA_SUM, tta)
            _add(territory, TTA_COUNT)
    elif detail_type == DETAIL_LEAD_REROUTED and d.reroute_reason == REASON_GEOCODED:
        _add(territory, GEOCODE_MOVES)  # a better location, not a missed SLA: no breach, no rep "missed"
    elif detail_type == DETAIL_LEAD_REASSIGNED:
        # The lead was counted when first assigned; Salesforce refused that owner and another got it: only the new
        # owner's assignment counts (not a re-route, not an SLA breach).
        if owner_is_rep:
            _add(reps.setdefault(d.owner_id, {}), ASSIGNED)
    else:
        rerouted = detail_type == DETAIL_LEAD_REROUTED
        _add(territory, REROUTED if rerouted else ESCALATED)
        _add(territory, SLA_BREACHES)
        if rerouted and d.fallback:
            _add(territory, FALLBACK)
        if owner_is_rep:
            _add(reps.setdefault(d.owner_id, {}), REROUTED_IN if rerouted else ESCALATED_IN)
        if _is_rep(d.previous_owner_id) and d.previous_owner_id != d.owner_id:
            previous = reps.setdefault(d.previous_owner_id, {})  # type: ignore[arg-type]
            _add(previous, MISSED)
            _add(previous, SLA_BREACHES)
    key = f"{detail_type}#{d.lead_id}#{_epoch(d.assigned_at)}"
    return AggregateDelta(
        day=day_of(d.assigned_at), dedup_key=key, detail_type=detail_type, territory_id=territory_id,
        territory=territory, reps=reps, time_to_assign_s=tta,
    )


def _lifecycle_delta(detail_type: str, d: LeadLifecycleDetail) -> AggregateDelta:
    territory_id = d.territory_id or NO_TERRITORY
    common: dict[str, int] = {}
    ttft: int | None = None
    if detail_type == DETAIL_LEAD_ATTENDED:
        _add(common, ATTENDED)
        if d.assigned_at is not None:
            ttft = max(0, _epoch(d.at) - _epoch(d.assigned_at))
            _add(common, TTFT_SUM, ttft)
            _add(common, TTFT_COUNT)
        # Late only if the SLA ran for this owner: an escalated lead keeps its old due time but its new owner
        # (assigned after it) has none, so touching it then is not another breach.
        running = d.sla_due_at is not None and (d.assigned_at is None or _epoch(d.assigned_at) < _epoch(d.sla_due_at))
        if running and _epoch(d.at) > _epoch(d.sla_due_at):  # type: ignore[arg-type]
            _add(common, ATTENDED_LATE)
            _add(common, SLA_BREACHES)
    else:
        _add(common, CLOSED)
    reps = {d.owner_id: dict(common)} if _is_rep(d.owner_id) else {}  # type: ignore[dict-item]
    key = f"{detail_type}#{d.lead_id}#{d.status}#{_epoch(d.at)}"
    return AggregateDelta(
        day=day_of(d.at), dedup_key=key, detail_type=detail_type, territory_id=territory_id,
        territory=dict(common), reps=reps, time_to_first_touch_s=ttft,
    )
