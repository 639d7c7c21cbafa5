"""ReportAggregatesFunction: the LeadsTable's stream → daily counters per territory and per rep, exactly once.

Lambda reads the stream shard by shard (event source mapping in template.yaml: only lead items whose new status can
carry a fact reach the function) and invokes this handler with one shard's batch, in order. Each record's old/new
image says what happened to the lead (``reporting.lead_changes``); the batch's increments are merged per aggregate
item and each item is written once, guarded by the shard's high-water mark on it
(``adapters.aggregates_store``), so a retried batch never counts a change twice. The shard id comes with the
event because the mapping has a tumbling window (``shardId``; docs/reliability.md, "Report aggregates").

A record whose images cannot be read, or an item that cannot be written, is reported as the batch item failure
(the lowest sequence number): Lambda retries from there (ReportBatchItemFailures) and, after MaximumRetryAttempts,
sends the batch's description to AggregatesDLQ (alarmed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.config import ReportAggregatesSettings, load_settings
from territory_router.domain.messages import DETAIL_LEAD_ATTENDED, DETAIL_LEAD_ESCALATED, DETAIL_LEAD_REROUTED
from territory_router.metrics import TerritoryMetrics
from territory_router.observability import make_logger
from territory_router.reporting.aggregates import ATTENDED_LATE, GEOCODE_MOVES, AggregateDelta

logger = make_logger()
metrics = Metrics()
territory_metrics = TerritoryMetrics()
config = load_settings(ReportAggregatesSettings)  # fails the cold start if a variable is missing


@cache
def _store():
    from territory_router.adapters.aggregates_store import AggregatesStore

    return AggregatesStore(aws.client("dynamodb"), config.routing_table)


def _metrics(delta: AggregateDelta) -> None:
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


def count_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Count one shard's batch; the stream response (``state`` for the tumbling window, ``batchItemFailures``)."""
    records = event.get("Records") or []
    response: dict[str, Any] = {"state": {}, "batchItemFailures": []}
    if not records:
        return response  # the window's final invocation: nothing kept in the state
    shard_id = event.get("shardId")
    if not shard_id:
        # Without the shard id the high-water marks cannot be kept: refuse the batch rather than risk counting twice.
        raise ValueError("stream event without shardId: the event source mapping needs TumblingWindowInSeconds")
    from territory_router.services.report_aggregates import count_stream_batch

    counted = count_stream_batch(_store(), shard_id, records, now=datetime.now(UTC))
    for reason in counted.unreadable:
        logger.error("lead change not understood; the batch is retried from it", extra={"reason": reason})
    for error in counted.outcome.errors:
        logger.warning("aggregate item not written; the batch is retried from it", extra={"error": error})
    for change in counted.changes:
        for delta in change.deltas:
            if counted.outcome.counted(delta, change.sequence):
                _metrics(delta)
    if counted.outcome.skipped:
        metrics.add_metric(name="AggregateItemsAlreadyCounted", unit=MetricUnit.Count, value=counted.outcome.skipped)
    first = counted.failed_from
    if first is not None:
        by_number = {int((r.get("dynamodb") or {})["SequenceNumber"]): r["dynamodb"]["SequenceNumber"] for r in records}
        response["batchItemFailures"] = [{"itemIdentifier": by_number[first]}]
    return response


@logger.inject_lambda_context
@metrics.log_metrics
@territory_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return count_batch(event)
