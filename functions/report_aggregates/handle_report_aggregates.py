"""ReportAggregatesFunction: every app-bus event (via AggregatesQueue) → daily counters per territory and per rep.

Each SQS record is one EventBridge event. Its counter increments go to ``AGG#<day>`` items in one DynamoDB
transaction with a de-duplication marker, so a fact delivered twice is counted once (see
territory_router.adapters.aggregates_store). A record that fails is retried alone (partial batch failures) and,
after the queue's maxReceiveCount, lands in AggregatesDLQ.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.config import settings
from territory_router.domain.messages import DETAIL_LEAD_ATTENDED, DETAIL_LEAD_ESCALATED, DETAIL_LEAD_REROUTED
from territory_router.metrics import TerritoryMetrics
from territory_router.observability import make_logger
from territory_router.reporting.aggregates import ATTENDED_LATE, NotAnAppEvent, delta_for_event

logger = make_logger()
metrics = Metrics()
territory_metrics = TerritoryMetrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS)
config = settings()


@cache
def _store():
    from territory_router.adapters.aggregates_store import AggregatesStore

    return AggregatesStore(aws.client("dynamodb"), config.routing_table, config.idempotency_table)


def record_handler(record: SQSRecord) -> None:
    try:
        event = json.loads(record.body)
        delta = delta_for_event(str(event.get("detail-type")), event.get("detail") or {})
    except (ValueError, AttributeError, NotAnAppEvent) as exc:
        # Not retryable, but raising keeps it: after maxReceiveCount it waits in AggregatesDLQ (alarmed).
        logger.error("app event not understood", extra={"message_id": record.message_id, "reason": str(exc)[:300]})
        raise
    if not _store().apply(delta, now=datetime.now(UTC)):
        metrics.add_metric(name="AggregateDuplicatesSkipped", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="AggregateEventsCounted", unit=MetricUnit.Count, value=1)
    territory = delta.territory_id
    if delta.detail_type == DETAIL_LEAD_REROUTED:
        territory_metrics.add_metric(name="LeadsRerouted", territory_id=territory, value=1)
        territory_metrics.add_metric(name="SlaBreaches", territory_id=territory, value=1)
    elif delta.detail_type == DETAIL_LEAD_ESCALATED:
        territory_metrics.add_metric(name="LeadsEscalated", territory_id=territory, value=1)
        territory_metrics.add_metric(name="SlaBreaches", territory_id=territory, value=1)
    elif delta.detail_type == DETAIL_LEAD_ATTENDED:
        territory_metrics.add_metric(name="LeadsAttended", territory_id=territory, value=1)
        if delta.time_to_first_touch_s is not None:
            ttft = delta.time_to_first_touch_s
            metrics.add_metric(name="TimeToFirstTouch", unit=MetricUnit.Seconds, value=ttft)
            territory_metrics.add_metric(name="TimeToFirstTouch", territory_id=territory, value=ttft, unit=MetricUnit.Seconds)
        if delta.territory.get(ATTENDED_LATE):
            # Re-routes and escalations are counted as SlaBreaches by LeadRerouteFunction; late first touches here.
            metrics.add_metric(name="SlaBreaches", unit=MetricUnit.Count, value=1)
            territory_metrics.add_metric(name="SlaBreaches", territory_id=territory, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
@territory_metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
