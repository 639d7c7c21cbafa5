"""The writeback of one SQS batch: ``LeadAssigned``/``LeadRerouted``/``LeadEscalated``/``LeadReassigned`` events →
Salesforce (the orchestration; what is written and which decision wins are ``salesforce.writeback_rules``).

Each assignment is written back once: one conditional write on the lead record (WritebackLedger: the mark that is
both the claim and, once Salesforce answered, the record) filters duplicates before Salesforce is called, and the
Collections API updates up to 200 leads per call. What cannot be written now waits
in SQS (its visibility set to Salesforce's ``Retry-After``, at least 15 minutes while the API allocation is spent
or the writeback is paused above its share of it); what can never be written goes to the writeback DLQ with
Salesforce's error code; a refused owner (inactive user, unknown id, queue without Leads) is handed back for a
new decision (``territory_router.assignment.refused_owner.redecide_refused_owner``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from territory_router.adapters.lead_repository import WritebackLedger
from territory_router.domain.ids import record_key
from territory_router.domain.messages import LeadAssignedDetail
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError
from territory_router.salesforce.writeback_rules import (
    MAX_DEFER_AGE_S,
    ApiBudget,
    ApiUsage,
    WritebackFailure,
    WritebackResult,
    deferral_seconds,
    latest_decision,
    refused_owner,
)

log = logging.getLogger(__name__)


class PoisonWriteback(ValueError):
    pass


def assignment_key(detail: LeadAssignedDetail) -> str:
    """One key per assignment: the same decision delivered twice has the same key.

    ``assigned_at`` counts in whole epoch seconds: the first announcement carries the assignment's clock reading, a
    redelivered message re-announces the decision stored on the lead (ISO seconds), and both must be one key.
    """
    at = detail.assigned_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f"{detail.owner_id}@{int(at.timestamp())}#{detail.reroute_count}"


def parse_event_body(body: str) -> LeadAssignedDetail:
    try:
        event = json.loads(body)
        return LeadAssignedDetail.model_validate(event["detail"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonWriteback(f"not an app-bus assignment event: {type(exc).__name__}") from exc


@dataclass
class RefusedOwner:
    message_id: str
    detail: LeadAssignedDetail
    code: str
    message: str


@dataclass
class WritebackBatchResult:
    written: list[str] = field(default_factory=list)  # message ids
    skipped_duplicates: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # message ids to report as batch item failures
    permanent: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, lead id, error code)
    limit_info: ApiUsage | None = None
    deferrals: dict[str, int] = field(default_factory=dict)  # message id -> visibility seconds (all in retry)
    refused_owners: list[RefusedOwner] = field(default_factory=list)  # acknowledged: re-decide these leads
    paused: bool = False  # no call made: the API usage is above the pause share
    auth_failed: bool = False  # the credentials were refused (the client was rebuilt and refused again)
    retry_codes: dict[str, str] = field(default_factory=dict)  # message id -> why it waits


@dataclass(frozen=True)
class Delivery:
    """What SQS says about one message: how often it was received, when it was first sent (epoch seconds)."""

    receive_count: int = 1
    sent_at: float | None = None
    redriven: bool = False  # sent back from the DLQ by ``territory-router dlq redrive``: takes the mark over


def write_back_batch(
    items: Sequence[tuple[str, LeadAssignedDetail]],
    *,
    ledger: WritebackLedger,
    write: Callable[[Sequence[LeadAssignedDetail]], WritebackResult],
    now: datetime,
    budget: ApiBudget | None = None,
    deliveries: Mapping[str, Delivery] | None = None,
) -> WritebackBatchResult:
    """Mark, write, and settle each ``(message_id, detail)``: one ledger write per decision written (the mark); a
    second only for a refusal or a write set aside. ``write`` is ``writeback_rules.write_back`` bound
    to a client.

    Decisions of one lead (by ``record_key``: either id form) are written once, as ``latest_decision`` of those
    claimed; every message of that lead is settled by the outcome of that write.

    Messages that must wait get a deferral (``deferrals``: SQS visibility seconds, from ``deferral_seconds``);
    one that has waited longer than ``MAX_DEFER_AGE_S`` is set aside as ``DEFERRED_TOO_LONG`` instead, before the
    queue's retention could drop it.
    """
    result = WritebackBatchResult()
    deliveries = deliveries or {}
    at = now.timestamp()
    marked: dict[str, bool] = {}  # message id -> this message holds the lead's writeback mark

    def defer(message_id: str, code: str, retry_after: float | None) -> None:
        # A message that waits keeps its mark: its redelivery (same message id) writes again; other copies skip.
        delivery = deliveries.get(message_id, Delivery())
        if delivery.sent_at is not None and at - delivery.sent_at > MAX_DEFER_AGE_S:
            lead_id, key = next(((d.lead_id, assignment_key(d)) for m, d in items if m == message_id), ("?", None))
            if key is not None and marked.get(message_id):
                ledger.refused(lead_id, key, message_id=message_id, error_code="DEFERRED_TOO_LONG")
            result.permanent.append((message_id, lead_id, "DEFERRED_TOO_LONG"))
            return
        result.retry.append(message_id)
        result.retry_codes[message_id] = code
        result.deferrals[message_id] = deferral_seconds(code, retry_after, delivery.receive_count)

    if budget is not None and budget.paused(at):
        result.paused = True
        for message_id, _detail in items:
            defer(message_id, "WRITEBACK_PAUSED", None)
        return result
    claimed: dict[str, list[tuple[str, LeadAssignedDetail, str]]] = {}  # record key -> (message id, detail, key)
    for message_id, detail in items:
        key = assignment_key(detail)
        # Only while the lead still has this owner: a stale event never overwrites a newer owner.
        if ledger.claim(detail.lead_id, key, message_id=message_id, owner_id=detail.owner_id,
                        takeover=deliveries.get(message_id, Delivery()).redriven):
            marked[message_id] = True
            claimed.setdefault(record_key(detail.lead_id), []).append((message_id, detail, key))
        else:
            result.skipped_duplicates.append(message_id)
    if not claimed:
        return result
    # The latest decision per lead is what Salesforce should show (the one rule: writeback_rules.latest_decision).
    latest = [latest_decision([detail for _, detail, _ in entries]) for entries in claimed.values()]
    try:
        outcome = write(latest)
    except Exception as exc:
        code = exc.code if isinstance(exc, SalesforceError) else type(exc).__name__
        retry_after = exc.retry_after if isinstance(exc, SalesforceRetryableError) else None
        result.auth_failed = isinstance(exc, SalesforceAuthError)
        for entries in claimed.values():
            for message_id, _detail, _key in entries:
                defer(message_id, str(code), retry_after)
        log.exception("Salesforce writeback call failed; the batch will be retried", extra={"code": code})
        return result
    result.limit_info = outcome.api_usage
    if budget is not None:
        budget.observe(result.limit_info, at)
    succeeded = {record_key(lead_id) for lead_id in outcome.succeeded}
    transient: dict[str, WritebackFailure] = {record_key(f.lead_id): f for f in outcome.transient}
    permanent: dict[str, WritebackFailure] = {record_key(f.lead_id): f for f in outcome.permanent}
    for lead_key, entries in claimed.items():
        for message_id, detail, key in entries:
            lead_id = detail.lead_id
            if lead_key in succeeded:
                result.written.append(message_id)  # the mark written before the call is the record
            elif lead_key in permanent:
                failure = permanent[lead_key]
                ledger.refused(lead_id, key, message_id=message_id, error_code=failure.code)
                if refused_owner(failure):
                    result.refused_owners.append(RefusedOwner(message_id, detail, failure.code, failure.message))
                else:
                    result.permanent.append((message_id, lead_id, failure.code))
            else:  # transient, or not mentioned by Salesforce: retry (this message keeps its mark)
                waiting = transient.get(lead_key)
                defer(message_id, waiting.code if waiting is not None else "NO_RESULT", outcome.retry_after)
                if waiting is None:
                    log.warning("Salesforce returned no result for a lead; retrying", extra={"lead_id": lead_id})
    return result


# --------------------------------------------------------------------------------------------- the batch


class DeadLetters(Protocol):
    """Where a message that can never be written is set aside (``services.dead_letters.DeadLetterSender``)."""

    def send(self, body: str, *, reason: str, code: str, message_id: str | None = None) -> None: ...


class Visibility(Protocol):
    """Lets received messages wait (``adapters.queues.QueueVisibility``)."""

    def defer(self, queue_url: str, messages: Sequence[tuple[str, int]]) -> list[str]: ...


@dataclass
class WritebackDeps:
    """What one writeback invocation works with (built once per container by the handler)."""

    ledger: WritebackLedger
    write: Callable[[Sequence[LeadAssignedDetail]], WritebackResult]
    dead_letters: DeadLetters
    visibility: Visibility
    queue_url: str
    budget: ApiBudget | None = None
    redecide: Callable[[list[RefusedOwner]], SettleReport] | None = None  # settle_refused_owners bound to its deps


@dataclass
class BatchOutcome:
    response: dict[str, list[dict[str, str]]]  # {"batchItemFailures": [...]}: the handler's answer to Lambda
    result: WritebackBatchResult
    reassigned: int = 0
    refused_owner_dead: int = 0


def process_writeback_batch(records: Sequence[Mapping[str, Any]], *, deps: WritebackDeps, now: datetime) -> BatchOutcome:
    """One SQS batch of app-bus assignment events: parse, write, defer, dead-letter, re-decide refused owners."""
    items: list[tuple[str, LeadAssignedDetail]] = []
    deliveries: dict[str, Delivery] = {}
    by_id = {r["messageId"]: r for r in records}
    for record in records:
        try:
            items.append((record["messageId"], parse_event_body(record["body"])))
        except PoisonWriteback as exc:
            deps.dead_letters.send(record["body"], reason=str(exc), code="INVALID_MESSAGE", message_id=record["messageId"])
            continue
        attributes = record.get("attributes") or {}
        sent = attributes.get("SentTimestamp")
        deliveries[record["messageId"]] = Delivery(
            receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
            sent_at=int(sent) / 1000 if sent else None,
            redriven="redriven_from" in (record.get("messageAttributes") or {}),
        )
    result = write_back_batch(items, ledger=deps.ledger, write=deps.write, now=now, budget=deps.budget,
                              deliveries=deliveries)
    for message_id, lead_id, code in result.permanent:
        reason = (f"waited {MAX_DEFER_AGE_S // 86400} days for Salesforce to take the update of {lead_id}"
                  if code == "DEFERRED_TOO_LONG" else f"Salesforce refused the update of {lead_id}: {code}")
        deps.dead_letters.send(by_id[message_id]["body"], reason=reason, code=code, message_id=message_id)
    retry = list(result.retry)
    outcome = BatchOutcome(response={}, result=result)
    if result.refused_owners and deps.redecide is not None:
        settled = deps.redecide(result.refused_owners)
        outcome.reassigned = len(settled.reassigned)
        outcome.refused_owner_dead = len(settled.dead)
        for message_id, code, reason in settled.dead:
            deps.dead_letters.send(by_id[message_id]["body"], reason=reason, code=code, message_id=message_id)
        retry += settled.retry
    deferrals = [(by_id[m]["receiptHandle"], seconds) for m, seconds in result.deferrals.items()
                 if by_id[m].get("receiptHandle")]
    if deferrals and deps.queue_url:
        # Lambda leaves a failed message's visibility alone: it comes back when the timeout we set here ends.
        failed = deps.visibility.defer(deps.queue_url, deferrals)
        if failed:
            log.warning("SQS refused to defer some messages; they come back after the queue's visibility timeout",
                        extra={"count": len(failed)})
    outcome.response = {"batchItemFailures": [{"itemIdentifier": m} for m in retry]}
    return outcome


@dataclass
class SettleReport:
    reassigned: list[LeadAssignedDetail] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (lead id, why)
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, code, reason)
    retry: list[str] = field(default_factory=list)  # message ids whose new decision could not be announced


class UnusableOwners(Protocol):
    """The routing store as the re-decision uses it (``adapters.lead_store.DynamoLeadStore``)."""

    def mark_unusable(self, owner_id: str, *, code: str, reason: str, now: datetime, lead_id: str | None = None
                      ) -> None: ...


class Announcer(Protocol):
    """``adapters.events.EventPublisher``: ``(key, detail-type, detail)`` in, the keys that failed out."""

    def publish(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]: ...


def settle_refused_owners(refused: Sequence[RefusedOwner], *, store: UnusableOwners, events: Announcer,
                          now: datetime, default_sla_minutes: int) -> SettleReport:
    """Mark each refused owner unusable (``OWNERS/UNUSABLE``), re-decide its lead, announce ``LeadReassigned``."""
    from territory_router.assignment.engine import NoUsableOwner
    from territory_router.assignment.refused_owner import redecide_refused_owner
    from territory_router.domain.messages import DETAIL_LEAD_REASSIGNED

    report = SettleReport()
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for r in refused:
        owner, lead_id = r.detail.owner_id, r.detail.lead_id
        reason = f"{r.code}: {r.message}".strip(": ")
        store.mark_unusable(owner, code=r.code, reason=reason, now=now, lead_id=lead_id)
        log.warning("Salesforce refused the owner; marked unusable, deciding again",
                    extra={"lead_id": lead_id, "owner_id": owner, "code": r.code})
        try:
            decided = redecide_refused_owner(lead_id, owner, reason, store=store, now=now,
                                             default_sla_minutes=default_sla_minutes)
        except NoUsableOwner as exc:
            report.dead.append((r.message_id, "NO_USABLE_OWNER", f"lead {lead_id}: {exc}"))
            continue
        if decided.detail is None:
            report.skipped.append((lead_id, decided.skipped_reason or ""))
            continue
        report.reassigned.append(decided.detail)
        entries.append((r.message_id, DETAIL_LEAD_REASSIGNED, decided.detail.model_dump(mode="json")))
    report.retry = list(events.publish(entries)) if entries else []
    return report
