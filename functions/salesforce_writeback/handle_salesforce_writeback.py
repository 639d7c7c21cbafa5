"""SalesforceWritebackFunction: sets OwnerId and the territory fields on Salesforce leads.

Consumes app-bus assignment events from WritebackQueue. With writeback off (parameter ``WritebackEnabled``) the
events are acknowledged and counted, so turning it on later does not replay history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.adapters.lead_repository import WritebackLedger
from territory_router.config import settings
from territory_router.observability import make_logger
from territory_router.services.dead_letters import DeadLetterSender
from territory_router.services.writeback import PoisonWriteback, parse_event_body, write_back_batch

logger = make_logger()
metrics = Metrics()
tracer = Tracer()
config = settings()


@cache
def _client():
    from territory_router.adapters.salesforce_client import client_from_secret

    return client_from_secret(config.salesforce_secret_name, api_version=config.salesforce_api_version)


def _write(details):
    from territory_router.salesforce.writeback import write_back

    return write_back(details, client=_client())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    dead_letters = DeadLetterSender(aws.client("sqs"), config.writeback_dlq_url, "writeback")
    items = []
    for record in records:
        try:
            items.append((record["messageId"], parse_event_body(record["body"])))
        except PoisonWriteback as exc:
            dead_letters.send(record["body"], reason=str(exc), code="INVALID_MESSAGE", message_id=record["messageId"])
    if not config.writeback_enabled:
        metrics.add_metric(name="WritebackSkipped", unit=MetricUnit.Count, value=len(items))
        logger.info("writeback is off (WritebackEnabled=false): assignments not sent to Salesforce", extra={"count": len(items)})
        return {"batchItemFailures": []}
    ledger = WritebackLedger(aws.client("dynamodb"), config.leads_table)
    result = write_back_batch(items, ledger=ledger, write=_write, now=datetime.now(UTC))
    by_id = {r["messageId"]: r["body"] for r in records}
    for message_id, lead_id, code in result.permanent:
        dead_letters.send(by_id[message_id], reason=f"Salesforce refused the update of {lead_id}: {code}", code=code, message_id=message_id)
    metrics.add_metric(name="WritebackSucceeded", unit=MetricUnit.Count, value=len(result.written))
    metrics.add_metric(name="WritebackDuplicatesSkipped", unit=MetricUnit.Count, value=len(result.skipped_duplicates))
    metrics.add_metric(name="WritebackRetried", unit=MetricUnit.Count, value=len(result.retry))
    metrics.add_metric(name="WritebackRejected", unit=MetricUnit.Count, value=len(result.permanent))
    if result.limit_info is not None:
        used = getattr(result.limit_info, "used", None)
        if used is not None:
            metrics.add_metric(name="SalesforceApiUsage", unit=MetricUnit.Count, value=used)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in result.retry]}
