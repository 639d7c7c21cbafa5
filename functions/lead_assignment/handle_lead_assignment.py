"""LeadAssignmentFunction: picks the owner of each tagged lead and announces it with ``LeadAssigned`` (or keeps the
rep who already owns it and announces ``LeadKept``).

The assignment and the rep's workload counter change in one DynamoDB transaction (see
territory_router.adapters.lead_store); a redelivered message finds the lead already assigned and re-emits the
stored decision, which the writeback de-duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from territory_router.adapters import aws
from territory_router.adapters.events import EventPublisher
from territory_router.config import LeadAssignmentSettings, load_settings
from territory_router.domain.messages import APP_EVENT_SOURCE, AssignRequest, LeadAssignedDetail
from territory_router.metrics import TerritoryMetrics, seconds_between
from territory_router.observability import make_logger
from territory_router.outbox import BatchOutbox
from territory_router.services.dead_letters import DeadLetterSender
from territory_router.services.lead_assignment import announce_assignments, assign_only

logger = make_logger()
metrics = Metrics()
territory_metrics = TerritoryMetrics()  # per-territory series (dimension Territory), one EMF line per territory
processor = BatchProcessor(event_type=EventType.SQS)
config = load_settings(LeadAssignmentSettings)  # fails the cold start if a variable is missing


@cache
def _store():
    from territory_router.adapters.lead_store import lead_store_for

    return lead_store_for(config)


def record_handler(record: SQSRecord) -> None:
    try:
        request = AssignRequest.model_validate_json(record.body)
    except ValidationError as exc:
        reason = f"not an AssignRequest: {exc.error_count()} error(s), first at {'.'.join(map(str, exc.errors()[0]['loc']))}"
        logger.error("assignment message set aside", extra={"reason": reason, "message_id": record.message_id})
        DeadLetterSender(aws.client("sqs"), config.assignment_dlq_url, "assignment").send(
            record.body, reason=reason, code="INVALID_MESSAGE", message_id=record.message_id
        )
        return
    outcome = assign_only(
        request, store=_store(), now=datetime.now(UTC), default_sla_minutes=config.default_sla_minutes,
        integration_user_id=config.salesforce_integration_user_id,
    )
    if outcome.detail is not None:
        outbox.add(record.message_id, (outcome.detail, outcome.detail_type))
    if request.retag_reason is not None and not outcome.duplicate:
        metrics.add_metric(name=f"LateGeocode_{outcome.detail_type}", unit=MetricUnit.Count, value=1)
    if outcome.kept and not outcome.duplicate:
        # Not an assignment by us: the rep who owns the lead keeps it (tagged, counted in their load).
        metrics.add_metric(name="LeadsKeptOwner", unit=MetricUnit.Count, value=1)
        territory_metrics.add_metric(name="LeadsKeptOwner", territory_id=outcome.detail.territory_id, value=1)
        return
    if outcome.announced and not outcome.duplicate and outcome.detail_type == "LeadAssigned":
        metrics.add_metric(name="LeadsAssigned", unit=MetricUnit.Count, value=1)
        territory = outcome.detail.territory_id
        territory_metrics.add_metric(name="LeadsAssigned", territory_id=territory, value=1)
        waited = seconds_between(request.lead.created_at, outcome.detail.assigned_at)  # Salesforce CreatedDate -> owner
        if waited is not None:
            metrics.add_metric(name="TimeToAssign", unit=MetricUnit.Seconds, value=waited)
            territory_metrics.add_metric(name="TimeToAssign", territory_id=territory, value=waited, unit=MetricUnit.Seconds)
        if outcome.fallback:
            metrics.add_metric(name="LeadsToFallbackOwner", unit=MetricUnit.Count, value=1)


outbox: BatchOutbox[tuple[LeadAssignedDetail, str]] = BatchOutbox()  # (detail, detail-type) per message of the batch


@logger.inject_lambda_context
@metrics.log_metrics
@territory_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outbox.clear()
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    # Announce the whole batch in PutEvents calls of ten; a message whose event was refused is retried and
    # re-announces the stored decision (the assignment itself is not repeated).
    events = EventPublisher(aws.client("events"), config.app_event_bus, APP_EVENT_SOURCE)
    return outbox.flush(lambda entries: announce_assignments(events, [(k, d, t) for k, (d, t) in entries]), response)
