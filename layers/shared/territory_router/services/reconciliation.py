"""Reconciliation: find the leads Salesforce has and the pipeline never took in, and feed them to intake.

This module holds the trigger (``ReconciliationTrigger``: "run a reconciliation now", a message on
``ReconcileQueue`` that ``LeadReconcileFunction`` consumes besides its own schedule). Intake calls it for a
``GAP_OVERFLOW`` event (which names no record) and for a change event whose ``recordIds`` hold a wildcard such as
``00Q*`` (the affected records are unknown). Rules and sources: docs/salesforce.md, "Never miss a lead".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from territory_router.domain.messages import ReconciliationRequest

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
