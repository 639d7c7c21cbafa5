"""LeadTaggingFunction: tags a whole SQS batch of leads at once, stamps them, queues them for assignment.

The compiled territory index stays warm in the container and is reloaded only when the active version changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from territory_router.adapters import aws
from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.queues import QueuePublisher
from territory_router.adapters.territory_store import TerritoryStore
from territory_router.config import LeadTaggingSettings, load_settings
from territory_router.domain.messages import RetagRequest, TagRequest
from territory_router.metrics import TerritoryMetrics
from territory_router.observability import make_logger
from territory_router.outbox import BatchOutbox
from territory_router.services.dead_letters import DeadLetterSender
from territory_router.services.tagging import (
    ActiveTaggerCache,
    TaggedLead,
    build_tagger,
    forward_retag,
    parse_tagging_message,
    requests_for_retags,
    stamp_and_forward,
    tag_requests,
)

logger = make_logger()
metrics = Metrics()
territory_metrics = TerritoryMetrics()  # per-territory series (dimension Territory), one EMF line per territory
processor = BatchProcessor(event_type=EventType.SQS)
config = load_settings(LeadTaggingSettings)  # fails the cold start if a variable is missing


def _store() -> TerritoryStore:
    return TerritoryStore(aws.client("s3"), aws.client("dynamodb"), config.territory_bucket, config.routing_table)


tagger_cache = ActiveTaggerCache(
    get_active=lambda: _store().get_active(),
    load_bytes=lambda key: _store().load_bytes(key),
    build=lambda data: build_tagger(data, config),
)


@logger.inject_lambda_context
@metrics.log_metrics
@territory_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    dead_letters = DeadLetterSender(aws.client("sqs"), config.tagging_dlq_url, "tagging")
    parsed: dict[str, TagRequest] = {}
    retags: dict[str, RetagRequest] = {}
    for raw in records:
        try:
            message = parse_tagging_message(raw["body"])
        except ValidationError as exc:
            reason = f"not a TagRequest: {exc.error_count()} error(s), first at {'.'.join(map(str, exc.errors()[0]['loc']))}"
            logger.error("tagging message set aside", extra={"reason": reason, "message_id": raw["messageId"]})
            dead_letters.send(raw["body"], reason=reason, code="INVALID_MESSAGE", message_id=raw["messageId"])
            continue
        if isinstance(message, RetagRequest):
            retags[raw["messageId"]] = message
        else:
            parsed[raw["messageId"]] = message
    leads = LeadRepository(aws.client("dynamodb"), config.leads_table)
    if retags:  # late geocodes: tag the stored lead (with its new location) again, in the same vectorised call
        found, dropped = requests_for_retags(retags, leads=leads)
        parsed.update(found)
        for message_id, why in dropped.items():
            logger.info("re-tag not needed", extra={"message_id": message_id, "reason": why})
    version, tagger = tagger_cache.current()
    ids = list(parsed)
    tagged = dict(zip(ids, tag_requests([parsed[i] for i in ids], tagger), strict=True))
    outbox: BatchOutbox[str] = BatchOutbox()  # AssignRequest json per message
    now = datetime.now(UTC)

    def record_handler(record: SQSRecord) -> None:
        item: TaggedLead | None = tagged.get(record.message_id)
        if item is None:  # set aside above
            return
        forward = forward_retag if record.message_id in retags else stamp_and_forward
        outcome = forward(
            item, leads=leads, send=lambda _lead_id, body: outbox.add(record.message_id, body), now=now
        )
        metrics.add_metric(name=f"LeadsTagged_{item.tag.method.value}", unit=MetricUnit.Count, value=1)
        territory_metrics.add_metric(name="LeadsTagged", territory_id=item.tag.territory_id, value=1)
        if outcome not in ("forwarded", "forwarded_retag"):
            logger.info("lead not forwarded", extra={"lead_id": item.request.lead.lead_id, "outcome": outcome})

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    publisher = QueuePublisher(aws.client("sqs"))
    response = outbox.flush(lambda entries: publisher.send_batch(config.assignment_queue_url, entries), response)
    logger.info("batch tagged", extra={"territory_version": version, "leads": len(parsed),
                                       "failed": len(response["batchItemFailures"])})
    return response
