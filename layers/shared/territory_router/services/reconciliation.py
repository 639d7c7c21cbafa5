"""Reconciliation: find the leads Salesforce has and the pipeline never took in, and feed them to intake.

Change events are kept 72 hours; a relay stopped or failing longer loses them, gap and overflow events carry no
data, and leads that existed before go-live never had an event. So a query finds them (rules and sources:
docs/salesforce.md, "Never miss a lead"):

* ``find_unrouted``: ``soql.unrouted_leads`` — unconverted leads without a routing status whose ``SystemModstamp``
  is in the window, oldest first, at most ``max_leads`` a run (the rest next run) — then ``lifecycle.routable_now``
  keeps the open, untouched ones (initial status, no activity): a lead somebody works keeps its owner.
* ``feed_intake``: leads already in ``LeadsTable`` are skipped (one BatchGetItem per 100); each other lead goes to
  ``IntakeQueue`` as an Event-Relay-shaped CDC ``CREATE`` (``reconciliation_event``) marked as ours (relay id
  ``reconciliation``, ``changeOrigin`` ``territory-router/reconciliation``, event id ``reconcile-<lead id>``).
  Intake parses it with the same parser and takes it in on the same path as a Salesforce event: the lead record
  is created conditionally, so a lead whose CDC event arrives too is taken in once; a lead created by a rep is
  kept by the same rule as any CREATE.

The scheduled ``LeadReconcileFunction`` and ``territory-router backfill`` (go-live, Data Loader CSV) both use them.

The trigger (``ReconciliationTrigger``: "run a reconciliation now", a message on ``ReconcileQueue`` that
``LeadReconcileFunction`` consumes besides its own schedule) is what intake calls for a ``GAP_OVERFLOW`` event
(which names no record).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from territory_router.domain.ids import is_salesforce_id, to_18
from territory_router.domain.messages import ReconciliationRequest
from territory_router.salesforce import soql
from territory_router.salesforce.events import RECORD_FIELDS
from territory_router.salesforce.lifecycle import STATE_FIELDS, routable_now

log = logging.getLogger(__name__)


class ReconciliationRequestFailed(RuntimeError):
    """SQS did not take the request: the caller fails its own message so it is retried (nothing is lost)."""


@dataclass
class ReconciliationTrigger:
    """Asks for a reconciliation run: one ``ReconciliationRequest`` on ``ReconcileQueue``.

    ``request(reason=..., now=..., source_event_id=..., since=None)`` raises ``ReconciliationRequestFailed`` when
    the message could not be sent; the caller lets its own SQS message fail so the request is made again.
    Requests are cheap and may repeat: a run is idempotent (intake takes a lead in once) and a batch of requests
    is served by one run.
    """

    sqs_client: Any
    queue_url: str

    def request(self, *, reason: str, now: datetime, source_event_id: str | None = None,
                since: datetime | None = None) -> ReconciliationRequest:
        if not self.queue_url:
            raise ReconciliationRequestFailed("no ReconcileQueue configured (RECONCILE_QUEUE_URL is empty)")
        message = ReconciliationRequest(reason=reason[:500], requested_at=now, source_event_id=source_event_id,
                                        since=since)
        try:
            self.sqs_client.send_message(QueueUrl=self.queue_url, MessageBody=message.model_dump_json())
        except Exception as exc:  # botocore ClientError / EndpointConnectionError: retried by the caller
            raise ReconciliationRequestFailed(f"could not queue a reconciliation request: {exc}") from exc
        log.info("reconciliation requested", extra={"reason": message.reason, "source_event_id": source_event_id})
        return message


# ---------------------------------------------------------------------------------------------------------
# Finding the leads and feeding them to intake
# ---------------------------------------------------------------------------------------------------------

RECONCILIATION_RELAY_ID = "reconciliation"
RECONCILIATION_ORIGIN = "territory-router/reconciliation"


def reconcile_fields(extra_fields: Iterable[str] = (), routing_status_field: str | None = "Routing_Status__c"
                     ) -> list[str]:
    """What the reconciliation query selects: the CDC CREATE fields, the state fields, the window and routing field."""
    names = [*RECORD_FIELDS, *STATE_FIELDS, "SystemModstamp", *([routing_status_field] if routing_status_field else []),
             *extra_fields]
    return list(dict.fromkeys(names))


def reconciliation_event(record: Mapping[str, Any], *, org_id: str, time: datetime) -> dict[str, Any]:
    """The Event-Relay-shaped CDC ``CREATE`` intake takes a reconciled lead in from (see the module docstring).

    Built with the same builder as the demo's and the tests' Salesforce events, so it has exactly the shape the
    intake parser reads; the payload is the record's own fields (API names), minus what CDC never sends.
    """
    from territory_router.salesforce.relay import cdc_create_event

    lead_id = to_18(str(record["Id"]))
    fields = {k: v for k, v in record.items() if k not in {"attributes", "Id", "SystemModstamp", "LastActivityDate"}}
    creator = fields.get("CreatedById")
    event = cdc_create_event(
        fields, org_id=org_id, record_ids=[lead_id], relay_id=RECONCILIATION_RELAY_ID,
        event_id=f"reconcile-{lead_id}", time=time,
        commit_user=to_18(creator) if is_salesforce_id(creator) else "005000000000000AAA",
    )
    event["detail"]["payload"]["ChangeEventHeader"]["changeOrigin"] = RECONCILIATION_ORIGIN
    return event


class KnownLeads(Protocol):
    def known_ids(self, lead_ids: list[str]) -> set[str]: ...


class Sender(Protocol):
    def send_batch(self, queue_url: str, messages: list[tuple[str, str]]) -> list[str]: ...


@dataclass
class Found:
    """What ``find_unrouted`` read: the routable records, why others were left, whether the bound was hit."""

    records: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    not_routable: Counter[str] = field(default_factory=Counter)
    truncated: bool = False


@dataclass
class FeedSummary:
    candidates: int = 0
    already_known: int = 0
    fed: list[str] = field(default_factory=list)  # lead ids sent to intake (or that would be, in a dry run)
    failed: list[str] = field(default_factory=list)  # lead ids SQS did not accept (sent again next run)

    def as_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "already_known": self.already_known, "fed": len(self.fed),
                "failed": len(self.failed)}


def routable(records: Iterable[Mapping[str, Any]], *, routing_status_field: str | None = "Routing_Status__c",
             found: Found | None = None) -> Found:
    """Keep the records ``lifecycle.routable_now`` accepts; count why the others were left alone."""
    found = found or Found()
    for record in records:
        found.read += 1
        ok, why = routable_now(record, routing_status_field=routing_status_field)
        if ok:
            found.records.append(dict(record))
        else:
            found.not_routable[why] += 1
    return found


def find_unrouted(
    reader: soql.LeadReader,
    *,
    since: datetime,
    until: datetime | None = None,
    max_leads: int | None,
    extra_fields: Iterable[str] = (),
    routing_status_field: str | None = "Routing_Status__c",
    on_record: Callable[[int], None] | None = None,
) -> Found:
    """The open, untouched leads without a routing status changed since ``since``; at most ``max_leads`` read."""
    fields = reconcile_fields(extra_fields, routing_status_field)
    limit = None if max_leads is None else max_leads + 1  # one more tells whether the bound cut the window
    query = soql.unrouted_leads(fields, since=since, until=until, routing_status_field=routing_status_field,
                                limit=limit)
    records: list[dict[str, Any]] = []
    for record in reader.query_records(query, max_records=limit):
        records.append(record)
        if on_record is not None:
            on_record(len(records))
    truncated = max_leads is not None and len(records) > max_leads
    found = routable(records[:max_leads] if truncated else records, routing_status_field=routing_status_field)
    found.truncated = truncated
    return found


def feed_intake(
    records: list[dict[str, Any]],
    *,
    org_id: str,
    known: KnownLeads,
    sender: Sender | None,
    queue_url: str,
    now: datetime,
    on_sent: Callable[[int], None] | None = None,
) -> FeedSummary:
    """Send each record we never took in to intake as a reconciliation event; ``sender=None`` is a dry run."""
    summary = FeedSummary(candidates=len(records))
    by_id = {to_18(str(r["Id"])): r for r in records}
    ids = list(by_id)
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        have = known.known_ids(chunk)
        summary.already_known += len(have)
        todo = [i for i in chunk if i not in have]
        if sender is None:
            summary.fed.extend(todo)
        else:
            messages = [(i, _json(reconciliation_event(by_id[i], org_id=org_id, time=now))) for i in todo]
            refused = set(sender.send_batch(queue_url, messages))
            summary.fed.extend(i for i in todo if i not in refused)
            summary.failed.extend(i for i in todo if i in refused)
        if on_sent is not None:
            on_sent(min(start + 100, len(ids)))
    return summary


def _json(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


# ---------------------------------------------------------------------------------------------------------
# One run (LeadReconcileFunction)
# ---------------------------------------------------------------------------------------------------------

def requested_since(bodies: Iterable[str], default: datetime) -> tuple[datetime, int]:
    """The window start a batch of ``ReconciliationRequest`` messages asks for (the earliest), and how many were
    unreadable. A request never narrows the configured look-back."""
    since, unreadable = default, 0
    for body in bodies:
        try:
            data = json.loads(body)
        except ValueError:
            unreadable += 1
            continue
        try:
            request = ReconciliationRequest.model_validate({"reason": "request", "requested_at": default, **data}
                                                           if isinstance(data, dict) else data)
        except ValueError:
            unreadable += 1
            continue
        if request.since is not None:
            wanted = request.since if request.since.tzinfo else request.since.replace(tzinfo=default.tzinfo)
            since = min(since, wanted)
    return since, unreadable


@dataclass(frozen=True)
class ReconcileSummary:
    """What one reconciliation run did (the function's metrics, its log line and its response)."""

    since: datetime
    read: int  # unrouted leads Salesforce returned
    not_routable: dict[str, int]  # why the others were left (converted, closed, worked ...) -> how many
    truncated: bool  # more than max_leads: the next run continues
    candidates: int
    already_known: int
    fed: int  # sent to intake
    failed: int  # SQS did not accept them: the next run sends them again

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "read": self.read, "not_routable": dict(self.not_routable),
                "truncated": self.truncated, "candidates": self.candidates, "already_known": self.already_known,
                "fed": self.fed, "failed": self.failed}


def reconcile(
    *,
    reader: soql.LeadReader,
    known: KnownLeads,
    sender: Sender,
    intake_queue_url: str,
    org_id: str,
    since: datetime,
    now: datetime,
    max_leads: int,
    extra_fields: Iterable[str] = (),
    routing_status_field: str | None = "Routing_Status__c",
) -> ReconcileSummary:
    """One reconciliation run: find the unrouted leads of ``[since, now)`` and feed the new ones to intake."""
    found = find_unrouted(reader, since=since, max_leads=max_leads, extra_fields=extra_fields,
                          routing_status_field=routing_status_field)
    feed = feed_intake(found.records, org_id=org_id, known=known, sender=sender, queue_url=intake_queue_url, now=now)
    summary = ReconcileSummary(since=since, read=found.read, not_routable=dict(found.not_routable),
                               truncated=found.truncated, candidates=feed.candidates,
                               already_known=feed.already_known, fed=len(feed.fed), failed=len(feed.failed))
    if found.truncated:
        log.warning("more unrouted leads than one run takes: the next run continues with the rest",
                    extra={"max_leads": max_leads, **summary.as_dict()})
    if feed.failed:
        log.error("SQS refused some reconciled leads; the next run sends them again", extra={"failed": feed.failed[:20]})
    return summary
