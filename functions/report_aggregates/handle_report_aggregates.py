"""ReportAggregatesFunction: every app-bus event (via AggregatesQueue) → daily counters per territory and per rep.

Each SQS record is one EventBridge event. Its counter increments go to ``AGG#<day>`` items in a DynamoDB
transaction with a de-duplication marker, so a fact delivered twice is counted once (see
territory_router.adapters.aggregates_store). The batch is first counted in as few transactions as possible; a
transaction that is cancelled (one of its facts was counted before) leaves its facts to be counted one by one. A record that fails is retried alone (partial batch failures) and,
after the queue's maxReceiveCount, lands in AggregatesDLQ.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.config import ReportAggregatesSettings, load_settings
from territory_router.domain.messages import DETAIL_LEAD_ATTENDED, DETAIL_LEAD_ESCALATED, DETAIL_LEAD_REROUTED
from territory_router.metrics import TerritoryMetrics
from territory_router.observability import make_logger
from territory_router.reporting.aggregates import ATTENDED_LATE, GEOCODE_MOVES, NotAnAppEvent, delta_for_event

logger = make_logger()
metrics = Metrics()
territory_metrics = TerritoryMetrics()
processor = BatchProcessor(event_type=EventType.SQS)
config = load_settings(ReportAggregatesSettings)  # fails the cold start if a variable is missing


@cache
def _store():
    from territory_router.adapters.aggregates_store import AggregatesStore

    return AggregatesStore(aws.client("dynamodb"), config.routing_table, config.idempotency_table)


def _delta(body: str):
    event = json.loads(body)
    return delta_for_event(str(event.get("detail-type")), event.get("detail") or {})


# message id -> counted now (True) / repeat (False), decided for the whole batch at once; absent: apply alone
_counted_in_batch: dict[str, bool] = {}


def _count_batch(records: list[dict[str, Any]]) -> dict[str, bool]:
    """Count the batch in as few transactions as possible; what this cannot settle is left to record_handler."""
    parsed = []
    for raw in records:
        try:
            parsed.append((raw["messageId"], _delta(raw["body"])))
        except (KeyError, ValueError, AttributeError, NotAnAppEvent):
            continue  # record_handler fails it alone
    if len(parsed) < 2:
        return {}
    try:
        flags = _store().apply_batch([d for _, d in parsed], now=datetime.now(UTC))
    except Exception:  # noqa: BLE001 - any trouble: count one by one (the markers keep that exact)
        logger.warning("batch count failed; counting one by one", exc_info=True)
        return {}
    return {message_id: flag for (message_id, _), flag in zip(parsed, flags, strict=True) if flag is not None}


def record_handler(record: SQSRecord) -> None:
    try:
        delta = _delta(record.body)
    except (ValueError, AttributeError, NotAnAppEvent) as exc:
        # Not retryable, but raising keeps it: after maxReceiveCount it waits in AggregatesDLQ (alarmed).
        logger.error("app event not understood", extra={"message_id": record.message_id, "reason": str(exc)[:300]})
        raise
    counted = _counted_in_batch.get(record.message_id)
    if counted is None:
        counted = _store().apply(delta, now=datetime.now(UTC))
    if not counted:
        metrics.add_metric(name="AggregateDuplicatesSkipped", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="AggregateEventsCounted", unit=MetricUnit.Count, value=1)
    territory = delta.territory_id
    if delta.detail_type == DETAIL_LEAD_REROUTED and delta.territory.get(GEOCODE_MOVES):
        territory_metrics.add_metric(name="LeadsMovedByGeocode", territory_id=territory, value=1)
    elif delta.detail_type == DETAIL_LEAD_REROUTED:
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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _counted_in_batch.clear()
    _counted_in_batch.update(_count_batch(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
