"""LeadIntakeFunction: Salesforce Event Relay events (via IntakeQueue) → lead records → TaggingQueue; lead updates
and Task/Event activities → attended/closed; wildcard record ids → a reconciliation request.

Thin handler: parse each SQS record into ``LeadChange`` values, apply each, report partial batch failures. A change
that names a lead is de-duplicated by the lead's own conditional writes (a create is a conditional put, a release or
attendance is conditional on the lead's version and counted rep, an echo writes nothing), so it is applied directly;
a change that names no lead (wildcard record ids, GAP_OVERFLOW: a reconciliation request) has no lead write to
guard it and goes through powertools idempotency, keyed on the Salesforce event id (docs/reliability.md). Malformed and foreign events are set
aside in the DLQ with their reason and do not block the rest of the batch.

``GAP_*`` events name leads but carry no fields: with a Salesforce connection (``WritebackEnabled=true``) the
leads are read back (``services.gaps``) and processed as the change they stand for; if Salesforce cannot be
read, the message fails and SQS delivers it again. Without a connection they are reported (``gap_reported``).
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

from territory_router.adapters import aws
from territory_router.adapters.event_schemas import EventSchemaCache
from territory_router.adapters.events import EventPublisher
from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.queues import QueuePublisher
from territory_router.config import LeadIntakeSettings, load_settings
from territory_router.domain.messages import APP_EVENT_SOURCE
from territory_router.observability import make_logger
from territory_router.outbox import BatchOutbox
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError
from territory_router.salesforce.events import ForeignOrgEvent, InvalidEvent, LeadChange, parse_relay_message
from territory_router.salesforce.lifecycle import saved_by_integration
from territory_router.services.dead_letters import DeadLetterSender
from territory_router.services.gaps import needs_refetch, resolve_gaps
from territory_router.services.intake import (
    IntakeDeps,
    IntakeResult,
    handle_change,
    routing_lifecycle,
    send_tag_requests,
    tag_request_for,
)
from territory_router.services.reconciliation import ReconciliationTrigger

logger = make_logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
config = load_settings(LeadIntakeSettings)  # fails the cold start if a variable is missing


@cache
def _salesforce() -> Any:
    """The Salesforce client, built at its first use: intake reads Salesforce only for gap events and bitmap schemas,
    so the HTTP stack (urllib, http.client, ssl) stays out of the cold start."""
    from territory_router.adapters.salesforce_client import salesforce_from_secret

    return salesforce_from_secret(config.salesforce_secret_name, api_version=config.salesforce_api_version)


@cache
def _deps() -> IntakeDeps:
    """Built once per container, not once per change: the collaborators hold no per-event state."""
    lifecycle = routing_lifecycle(config)
    return IntakeDeps(
        leads=LeadRepository(aws.client("dynamodb"), config.leads_table),
        lifecycle=lifecycle,
        integration_user_id=config.salesforce_integration_user_id,
        events=EventPublisher(aws.client("events"), config.app_event_bus, APP_EVENT_SOURCE),
        reconcile=ReconciliationTrigger(aws.client("sqs"), config.reconcile_queue_url),
        roster_people=lifecycle.roster_people,
    )


@cache
def _schemas() -> EventSchemaCache | None:
    """Event schemas for bitmap change fields, fetched from Salesforce once per schema id and container (only with a
    Salesforce connection, WritebackEnabled=true: before that the secret holds placeholders)."""
    if not config.writeback_enabled:
        return None
    return EventSchemaCache(lambda schema_id: _salesforce().event_schema(schema_id))


@cache
def _idempotency() -> tuple[Any, Any]:
    """(config, apply_change made idempotent), built at the first invocation: the idempotency layer imports boto3
    and builds its own DynamoDB client (cold start: docs/benchmarks.md). The stored result is the IntakeResult."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    idempotency_config = IdempotencyConfig(event_key_jmespath="idempotency_key", expires_after_seconds=7 * 24 * 3600)
    persistence = DynamoDBPersistenceLayer(table_name=config.idempotency_table)
    once = idempotent_function(data_keyword_argument="change", config=idempotency_config, persistence_store=persistence,
                               output_serializer=PydanticSerializer(model=IntakeResult))
    return idempotency_config, once(apply_change)


def apply_change(change: dict[str, Any]) -> IntakeResult:
    result = handle_change(LeadChange.model_validate(change), deps=_deps(), now=datetime.now(UTC))
    metrics.add_metric(name=f"Intake_{result.action}", unit=MetricUnit.Count, value=1)
    return result


_context: list[LambdaContext] = []  # the running invocation's context, for the idempotency layer when it is needed


def _apply_once(change: LeadChange) -> IntakeResult:
    """Apply ``change`` once: directly when it names a lead (its conditional writes de-duplicate), else through the
    idempotency record (the only guard of a reconciliation request)."""
    if change.lead_id is not None:
        return apply_change(change.model_dump(mode="json"))
    idempotency_config, once = _idempotency()
    if _context:
        idempotency_config.register_lambda_context(_context[-1])
    return once(change=change.model_dump(mode="json"))


outbox: BatchOutbox[str] = BatchOutbox()  # TagRequest json per message of the batch being processed


def record_handler(record: SQSRecord) -> None:
    try:
        changes = parse_relay_message(
            record.body, expected_org_id=config.salesforce_org_id, schemas=_schemas()
        )
    except InvalidEvent as exc:
        foreign = isinstance(exc, ForeignOrgEvent)
        code = "FOREIGN_ORG" if foreign else "INVALID_EVENT"
        metrics.add_metric(name="ForeignOrgEventsRefused" if foreign else "MalformedEvents", unit=MetricUnit.Count, value=1)
        logger.error("Salesforce event set aside", extra={"reason": exc.reason, "code": code, "message_id": record.message_id})
        DeadLetterSender(aws.client("sqs"), config.intake_dlq_url, "intake").send(
            record.body, reason=exc.reason, code=code, message_id=record.message_id
        )
        return
    metrics.add_metric(name="LeadChangesReceived", unit=MetricUnit.Count, value=len(changes))
    if config.writeback_enabled and needs_refetch(changes):
        try:
            changes = resolve_gaps(changes, reader=_salesforce(),
                                   extra_fields=config.salesforce_extra_lead_fields)
        except SalesforceError as exc:
            metrics.add_metric(name="GapRefetchFailed", unit=MetricUnit.Count, value=1)
            if isinstance(exc, SalesforceAuthError):
                _salesforce().invalidate()  # refused even after a fresh read: the next delivery reads it again
            if exc.retryable or isinstance(exc, SalesforceAuthError):
                logger.warning("could not read the leads of a gap event; the message will be retried",
                               extra={"code": exc.code, "message_id": record.message_id})
                raise
            # The query itself is wrong for this org (e.g. INVALID_FIELD in SALESFORCE_EXTRA_LEAD_FIELDS):
            # retrying cannot help. Set the event aside with the reason; redrive it once the setting is fixed.
            logger.error("Salesforce refused the gap refetch query", extra={"code": exc.code, "error": str(exc)[:300]})
            DeadLetterSender(aws.client("sqs"), config.intake_dlq_url, "intake").send(
                record.body, reason=f"gap refetch refused by Salesforce: {str(exc)[:300]}", code=exc.code,
                message_id=record.message_id,
            )
            return
        metrics.add_metric(name="GapEventsRefetched", unit=MetricUnit.Count, value=1)
    for change in changes:
        if saved_by_integration(change, config.salesforce_integration_user_id):
            _count_unfiltered_echo(change)
        if change.changed_fields_source != "header":
            # Bitmap change fields: decoded with the event schema, or (schema unknown) read from the payload keys.
            metrics.add_metric(
                name="BitmapFieldsDecoded" if change.changed_fields_source == "bitmap" else "BitmapFieldsFromPayload",
                unit=MetricUnit.Count, value=1,
            )
        result = _apply_once(change)
        if result.queue:
            outbox.add(record.message_id, tag_request_for(change, now=datetime.now(UTC)))


_echo_warned = False


def _count_unfiltered_echo(change: LeadChange) -> None:
    """Our own writeback came back although the channel member's filter should have kept it in Salesforce: it is
    still recognised and ignored (the lifecycle rules), but paid for. Metric on every one, a warning once per
    container (docs/salesforce.md 1.6: install the filter with ``territory-router salesforce echo-filter``)."""
    global _echo_warned
    metrics.add_metric(name="EchoesNotFiltered", unit=MetricUnit.Count, value=1)
    if not _echo_warned:
        _echo_warned = True
        logger.warning(
            "our own writeback's echo reached intake: the LeadChangeEvent channel member has no echo filter, or it "
            "names another user than SALESFORCE_INTEGRATION_USER_ID",
            extra={"event_id": change.event_id, "lead_id": change.lead_id},
        )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _context[:] = [context]
    outbox.clear()
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    # One SendMessageBatch per ten leads instead of one call per lead; a record whose lead SQS refused is retried
    # (its redelivery finds the lead still RECEIVED and queues the same TagRequest again, never lost).
    publisher = QueuePublisher(aws.client("sqs"))
    return outbox.flush(lambda entries: send_tag_requests(publisher, config.tagging_queue_url, entries), response)
