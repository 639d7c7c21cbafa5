"""The writeback's rules: what a Lead update contains, which decision of a lead wins, how Salesforce's answers are
sorted, when a write waits. The orchestration of an SQS batch (ledger, deferrals, dead letters, re-decisions) is
``territory_router.services.writeback_batch``.

``write_back`` runs over a client that follows ``OwnerUpdater`` (the HTTP adapter
``territory_router.adapters.salesforce_client.SalesforceClient`` does): it builds one Lead update per lead
(``OwnerId`` plus our custom fields; the custom fields only for a lead that kept its owner), collapses duplicates to
the latest decision (``latest_decision``: the one rule, also applied by the batch before it claims), sends at most
200 records per call, and sorts the per-record outcomes into succeeded / transient (retry) / permanent
(dead-letter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from territory_router.domain.ids import record_key
from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_ESCALATED,
    DETAIL_LEAD_KEPT,
    DETAIL_LEAD_REROUTED,
    DETAIL_LEAD_RETAGGED,
    LeadAssignedDetail,
)
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError

MAX_RECORDS_PER_CALL = 200  # sObject Collections limit
MAX_TEXT = 255  # Text(255) custom fields

# Per-record error codes worth retrying: the record or the org is busy, not wrong.
TRANSIENT_ERROR_CODES = frozenset({
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "REQUEST_RUNNING_TOO_LONG",
    "QUERY_TIMEOUT",
    "REQUEST_LIMIT_EXCEEDED",
    "TXN_SECURITY_METERING_ERROR",
    "UNKNOWN_EXCEPTION",
})


# ---------------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """``Sforce-Limit-Info: api-usage=25/15000`` — API requests used in the last 24 h out of the org's limit."""

    used: int
    limit: int

    @property
    def ratio(self) -> float:
        return self.used / self.limit if self.limit else 0.0

    @classmethod
    def parse(cls, header: str | None) -> ApiUsage | None:
        if not header:
            return None
        match = re.search(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)", header)  # not per-app-api-usage
        return cls(int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True, slots=True)
class RecordError:
    code: str
    message: str = ""
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordResult:
    """One element of an sObject Collections response, matched to the record sent at the same position."""

    id: str | None
    success: bool
    errors: tuple[RecordError, ...] = ()

    @classmethod
    def from_json(cls, item: Mapping[str, Any], sent_id: str | None = None) -> RecordResult:
        errors = tuple(
            RecordError(
                code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
                message=str(e.get("message") or "")[:1000],
                fields=tuple(str(f) for f in (e.get("fields") or [])),
            )
            for e in (item.get("errors") or [])
            if isinstance(e, Mapping)
        )
        return cls(id=item.get("id") or sent_id, success=bool(item.get("success")), errors=errors)

    @property
    def code(self) -> str | None:
        return self.errors[0].code if self.errors else None


class OwnerUpdater(Protocol):
    """What ``write_back`` needs from a Salesforce client: the update call and the ``Sforce-Limit-Info`` it saw last
    (None before any answer carried one)."""

    @property
    def last_api_usage(self) -> ApiUsage | None: ...

    def update_owners(self, records: list[dict[str, Any]]) -> list[RecordResult]: ...


class WritebackFieldMap(BaseModel):
    """Lead fields written back. ``None`` disables a field (e.g. an org without our custom fields)."""

    model_config = ConfigDict(frozen=True)

    owner: str = "OwnerId"
    territory: str | None = "Territory__c"
    tag_method: str | None = "Territory_Tag_Method__c"
    tag_precision: str | None = "Territory_Tag_Precision__c"
    routing_status: str | None = "Routing_Status__c"
    routing_reason: str | None = "Routing_Reason__c"

    def router_fields(self) -> frozenset[str]:
        """Fields only the router writes: a change limited to these is our own echo."""
        names = (self.owner, self.territory, self.tag_method, self.tag_precision, self.routing_status,
                 self.routing_reason)  # fmt: skip
        return frozenset(n for n in names if n)


@dataclass(frozen=True, slots=True)
class WritebackFailure:
    lead_id: str
    code: str
    message: str = ""
    fields: tuple[str, ...] = ()

    @property
    def error_code(self) -> str:
        return self.code


@dataclass
class WritebackResult:
    succeeded: list[str] = field(default_factory=list)
    transient: list[WritebackFailure] = field(default_factory=list)
    permanent: list[WritebackFailure] = field(default_factory=list)
    retry_after: float | None = None  # set when Salesforce asked us to back off
    api_usage: ApiUsage | None = None
    calls: int = 0

    @property
    def limit_info(self) -> ApiUsage | None:
        """Alias of ``api_usage`` (the ``Sforce-Limit-Info`` of the last call)."""
        return self.api_usage

    def outcome(self, lead_id: str) -> str:
        """``succeeded`` / ``transient`` / ``permanent`` / ``unknown`` for one lead (any of its messages)."""
        key = record_key(lead_id)
        if any(record_key(i) == key for i in self.succeeded):
            return "succeeded"
        if any(record_key(f.lead_id) == key for f in self.transient):
            return "transient"
        if any(record_key(f.lead_id) == key for f in self.permanent):
            return "permanent"
        return "unknown"


# ---------------------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------------------

_STATUS_BY_DETAIL_TYPE = {
    DETAIL_LEAD_ASSIGNED: "ASSIGNED",
    DETAIL_LEAD_KEPT: "KEPT_OWNER",
    DETAIL_LEAD_RETAGGED: "RETAGGED",
    DETAIL_LEAD_REROUTED: "REROUTED",
    DETAIL_LEAD_ESCALATED: "ESCALATED",
}


def routing_status(detail: LeadAssignedDetail, detail_type: str | None = None) -> str:
    """``ASSIGNED`` / ``KEPT_OWNER`` / ``REROUTED`` / ``ESCALATED``, from the app-bus detail-type or else the detail."""
    if detail.kept_owner:
        return "KEPT_OWNER"
    if detail_type in _STATUS_BY_DETAIL_TYPE:
        return _STATUS_BY_DETAIL_TYPE[detail_type]
    if detail.stamp_only:
        return "RETAGGED"
    if detail.reroute_reason:
        return "REROUTED"
    if detail.decision.get("escalated"):
        return "ESCALATED"
    return "REROUTED" if detail.reroute_count > 0 else "ASSIGNED"


def routing_reason(detail: LeadAssignedDetail, status: str) -> str:
    """One line a sales admin can read on the Lead, at most 255 characters."""
    parts: list[str] = []
    territory = detail.territory_name or detail.territory_id
    if territory:
        how = ", ".join(x for x in (detail.tag_method, _precision_words(detail.tag_precision)) if x)
        parts.append(f"Territory {territory}" + (f" ({how})" if how else ""))
    elif detail.tag_method:
        parts.append(f"No territory ({detail.tag_method})")
    owner = detail.owner_name or detail.owner_id
    via = f" by {detail.strategy}" if detail.strategy else ""
    group = f" in group {detail.group_id}" if detail.group_id else ""
    if detail.kept_owner:
        parts.append(f"owner kept: {owner} created or owns it and is a rep of the roster")
        return truncate("; ".join(parts), MAX_TEXT)
    if detail.stamp_only:
        parts.append("territory refined after Salesforce geocoded the lead; owner unchanged")
        return truncate("; ".join(parts), MAX_TEXT)
    parts.append(f"{status.lower()} to {detail.owner_kind.lower()} {owner}{group}{via}")
    if detail.reroute_reason == "GEOCODED":
        parts.append("moved after Salesforce geocoded the lead")
    if detail.fallback:
        parts.append("fallback owner")
    if detail.reroute_count:
        parts.append(f"reroute #{detail.reroute_count}")
    summary = detail.decision.get("summary") or detail.decision.get("reason")
    if isinstance(summary, str) and summary.strip():
        parts.append(summary.strip())
    return truncate("; ".join(parts), MAX_TEXT)


def _precision_words(precision: str | None) -> str | None:
    """Only the coarse precisions are worth words in the reason: a rooftop tag is the normal case."""
    words = {"POSTAL_CODE": "located by postal code", "CITY": "located by city", "STATE": "located by state",
             "COUNTRY": "located by country"}  # fmt: skip
    return words.get(precision or "")


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_record(detail: LeadAssignedDetail, field_map: WritebackFieldMap, detail_type: str | None = None
                 ) -> dict[str, Any]:
    """The Lead update for one decision, in sObject Collections form. ``OwnerId`` is never sent for a lead that kept
    its owner (the owner is the rep's choice, not ours; a late or stale write must never take the lead from its rep)
    nor for a ``stamp_only`` detail (late geocode of a worked lead, or one that stays in its territory), which writes
    the territory fields and the reason only, not the routing status either."""
    status = routing_status(detail, detail_type)
    record: dict[str, Any] = {"attributes": {"type": "Lead"}, "id": detail.lead_id}
    if not (detail.kept_owner or detail.stamp_only):
        record[field_map.owner] = detail.owner_id
    if field_map.territory:
        territory = detail.territory_name or detail.territory_id
        record[field_map.territory] = truncate(territory) if territory else None
    if field_map.tag_method:
        record[field_map.tag_method] = detail.tag_method
    if field_map.tag_precision:
        record[field_map.tag_precision] = detail.tag_precision
    if field_map.routing_status and not detail.stamp_only:
        record[field_map.routing_status] = status
    if field_map.routing_reason:
        record[field_map.routing_reason] = routing_reason(detail, status)
    return record


def _latest(details: Sequence[LeadAssignedDetail]) -> tuple[int, LeadAssignedDetail]:
    """``latest_decision`` and the position of the owner decision that won."""
    if not details:
        raise ValueError("no decision to choose from")

    def order(position: int) -> tuple:
        return (details[position].reroute_count, details[position].assigned_at, position)

    positions = range(len(details))
    owners = [i for i in positions if not details[i].stamp_only]
    if not owners:
        winner = max(positions, key=order)
        return winner, details[winner]
    winner = max(owners, key=order)
    best = details[winner]
    stamps = [i for i in positions
              if details[i].stamp_only and order(i)[:2] >= (best.reroute_count, best.assigned_at)]
    if not stamps:
        return winner, best
    stamp = details[max(stamps, key=order)]
    refined = best.model_copy(update={"territory_id": stamp.territory_id, "territory_name": stamp.territory_name,
                                      "tag_method": stamp.tag_method, "tag_precision": stamp.tag_precision})
    return winner, refined


def latest_decision(details: Sequence[LeadAssignedDetail]) -> LeadAssignedDetail:
    """The one decision Salesforce should show, of several decisions of one lead delivered together.

    The latest owner decision wins: the higher ``reroute_count``, then the later ``assigned_at``, then the one
    delivered last. The count comes first because it is the lead record's own logical clock: written under the
    record's version condition, it never goes down, so a later decision never has a lower count. ``assigned_at``
    comes from different clocks (a re-route or an escalation is stamped with its schedule's time, other decisions
    with the container's clock), so it only orders decisions of the same count. A stamp-only refinement (a late
    geocode, owner unchanged) never hides an owner change Salesforce has not received yet: its stamp is carried
    onto that decision when it is at least as recent.
    """
    return _latest(details)[1]


def latest_per_lead(details: Sequence[LeadAssignedDetail], detail_types: Sequence[str | None] | None = None
                    ) -> list[tuple[LeadAssignedDetail, str | None]]:
    """Decisions of the same lead (its 15- or 18-character id) collapse to ``latest_decision``, with the detail-type
    of the owner decision that won. Leads keep the order of their winning decisions."""
    types = list(detail_types) if detail_types is not None else [None] * len(details)
    if len(types) != len(details):
        raise ValueError("detail_types must be as long as details")
    by_lead: dict[str, list[int]] = {}
    for index, detail in enumerate(details):
        by_lead.setdefault(record_key(detail.lead_id), []).append(index)
    chosen: list[tuple[int, LeadAssignedDetail, str | None]] = []
    for indexes in by_lead.values():
        winner, detail = _latest([details[i] for i in indexes])
        chosen.append((indexes[winner], detail, types[indexes[winner]]))
    return [(d, t) for _, d, t in sorted(chosen, key=lambda item: item[0])]


# ---------------------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------------------


def write_back(
    details: Sequence[LeadAssignedDetail],
    *,
    client: OwnerUpdater,
    field_map: WritebackFieldMap | None = None,
    detail_types: Sequence[str | None] | None = None,
) -> WritebackResult:
    """Set ``OwnerId`` and our Lead fields for each decision; classify every lead's outcome.

    ``detail_types`` (parallel to ``details``) are the app-bus detail-types (``LeadAssigned`` ...), used for
    ``Routing_Status__c``. A retryable error for a whole call (API limit, 5xx, timeout) marks that call's leads
    and every later one transient and stops: Salesforce asked us to back off. ``SalesforceAuthError``
    propagates (nothing can succeed without credentials).
    """
    field_map = field_map or WritebackFieldMap()
    result = WritebackResult()
    planned = latest_per_lead(details, detail_types)
    records = [build_record(d, field_map, t) for d, t in planned]

    for start in range(0, len(records), MAX_RECORDS_PER_CALL):
        chunk = records[start : start + MAX_RECORDS_PER_CALL]
        ids = [r["id"] for r in chunk]
        try:
            result.calls += 1
            outcomes = client.update_owners(chunk)
        except SalesforceAuthError:
            raise
        except SalesforceRetryableError as exc:
            result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
            for lead_id in (r["id"] for r in records[start:]):
                result.transient.append(WritebackFailure(lead_id, exc.code, str(exc)[:500]))
            break
        except SalesforceError as exc:
            for lead_id in ids:
                result.permanent.append(WritebackFailure(lead_id, exc.code, str(exc)[:500]))
            continue
        finally:
            usage = client.last_api_usage
            if usage is not None:
                result.api_usage = usage
        _classify(ids, outcomes, result)
    return result


def _classify(ids: list[str], outcomes: list[RecordResult], result: WritebackResult) -> None:
    for position, lead_id in enumerate(ids):
        if position >= len(outcomes):
            result.transient.append(WritebackFailure(lead_id, "NO_RESULT", "Salesforce returned no result"))
            continue
        outcome = outcomes[position]
        if outcome.success:
            result.succeeded.append(lead_id)
            continue
        error = outcome.errors[0] if outcome.errors else RecordError("UNKNOWN", "no error detail")
        failure = WritebackFailure(lead_id, error.code, error.message, error.fields)
        (result.transient if error.code in TRANSIENT_ERROR_CODES else result.permanent).append(failure)


# ---------------------------------------------------------------------------------------------------------
# Refused owners, deferrals and the API budget (pure rules; the writeback service applies them)
# ---------------------------------------------------------------------------------------------------------

# Salesforce refuses the owner itself (docs/salesforce.md, "Refused owners"): the user is inactive, the id names no
# user/queue of the org, or the queue does not list Lead as a supported object (a public group shares the 00G
# prefix). Re-deciding the lead is the fix; retrying the same owner never is.
OWNER_REFUSAL_CODES = frozenset({"INACTIVE_OWNER_OR_USER", "INVALID_CROSS_REFERENCE_KEY", "FIELD_INTEGRITY_EXCEPTION"})


def refused_owner(failure: WritebackFailure, owner_field: str = "OwnerId") -> bool:
    """True when Salesforce refused the update because of the owner we set (not the lead, not another field).

    ``INACTIVE_OWNER_OR_USER`` always names the owner (we set no other user reference). The two generic codes count
    only when the error names the owner field (``fields: ["OwnerId"]``) or its message names the owner
    (``Owner ID: id value of incorrect type``).
    """
    if failure.code == "INACTIVE_OWNER_OR_USER":
        return True
    if failure.code not in OWNER_REFUSAL_CODES:
        return False
    return owner_field in failure.fields or "owner" in failure.message.lower()


# Deferral (SQS visibility) of a write that cannot be made now. SQS caps a visibility timeout at 12 hours.
SQS_MAX_VISIBILITY_S = 43_200
LIMIT_DEFERRAL_S = 900  # API allocation spent or writeback paused: look again in 15 minutes
FIRST_RETRY_S = 30  # other transient failures: 30 s, doubling per receive, up to LIMIT_DEFERRAL_S
MAX_DEFER_AGE_S = 3 * 86_400  # older than this, a deferred write is set aside (queue retention is 4 days)
LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "WRITEBACK_PAUSED"})


def deferral_seconds(code: str, retry_after: float | None, receive_count: int) -> int:
    """How long a write waits before its next try: never sooner than Salesforce's ``Retry-After``.

    A spent allocation (``REQUEST_LIMIT_EXCEEDED``) or our own pause waits at least 15 minutes, so a whole day of
    refusals costs at most 96 receives of the message; other transient failures back off exponentially from 30 s
    to 15 minutes. Capped at SQS's 12-hour maximum.
    """
    if code in LIMIT_CODES:
        floor = LIMIT_DEFERRAL_S
    else:
        floor = min(LIMIT_DEFERRAL_S, FIRST_RETRY_S * 2 ** max(0, receive_count - 1))
    wanted = max(float(retry_after or 0.0), float(floor))
    return int(min(SQS_MAX_VISIBILITY_S, -(-wanted // 1)))


@dataclass
class ApiBudget:
    """Pause the writeback while the org's daily API usage is above ``pause_at`` of its allocation.

    Every response's ``Sforce-Limit-Info`` is observed; while the last one is at or above the share, writes wait
    (``paused`` is true) until ``probe_after_s`` have passed since it was seen: then one call is let through, and
    its answer decides again. The allocation is the org's, shared with every other integration.
    """

    pause_at: float = 0.8
    probe_after_s: float = LIMIT_DEFERRAL_S
    last: ApiUsage | None = None
    seen_at: float | None = None  # epoch seconds

    def observe(self, usage: ApiUsage | None, at: float) -> None:
        if usage is not None:
            self.last = usage
            self.seen_at = at

    def paused(self, at: float) -> bool:
        if self.last is None or self.seen_at is None or self.pause_at <= 0:
            return False
        if self.last.ratio < self.pause_at:
            return False
        return at - self.seen_at < self.probe_after_s
