"""SalesforceWritebackFunction: sets OwnerId and the territory fields on Salesforce leads.

Consumes app-bus assignment events from WritebackQueue. With writeback off (parameter ``WritebackEnabled``) the
events are acknowledged and counted, so turning it on later does not replay history. The work is
``territory_router.services.writeback_batch.process_writeback_batch``: writes that must wait are deferred (message
visibility), refused owners are re-decided, the rest is written or set aside with Salesforce's reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.config import SalesforceWritebackSettings, load_settings
from territory_router.observability import make_logger
from territory_router.salesforce.writeback_rules import ApiBudget

logger = make_logger()
metrics = Metrics()
config = load_settings(SalesforceWritebackSettings)  # fails the cold start if a variable is missing
# Per container: the last Sforce-Limit-Info seen decides whether to pause (docs/salesforce.md, "Limits").
budget = ApiBudget(pause_at=config.writeback_pause_api_percent / 100)


def clock() -> datetime:
    """Now (tests that live through a simulated day replace it with their clock)."""
    return datetime.now(UTC)


@cache
def _client():
    from territory_router.adapters.salesforce_client import salesforce_from_secret

    return salesforce_from_secret(config.salesforce_secret_name, api_version=config.salesforce_api_version)


@cache
def _deps():
    from territory_router.adapters.events import EventPublisher
    from territory_router.adapters.lead_repository import WritebackLedger
    from territory_router.adapters.lead_store import lead_store_for
    from territory_router.adapters.queues import QueueVisibility
    from territory_router.domain.messages import APP_EVENT_SOURCE
    from territory_router.salesforce.writeback_rules import write_back
    from territory_router.services.dead_letters import DeadLetterSender
    from territory_router.services.writeback_batch import WritebackDeps, settle_refused_owners

    store = lead_store_for(config)
    events = EventPublisher(aws.client("events"), config.app_event_bus, APP_EVENT_SOURCE)
    return WritebackDeps(
        ledger=WritebackLedger(aws.client("dynamodb"), config.leads_table),
        write=lambda details: write_back(details, client=_client()),
        dead_letters=DeadLetterSender(aws.client("sqs"), config.writeback_dlq_url, "writeback"),
        visibility=QueueVisibility(aws.client("sqs")),
        queue_url=config.writeback_queue_url,
        budget=budget,
        redecide=lambda refused: settle_refused_owners(refused, store=store, events=events, now=clock(),
                                                       default_sla_minutes=config.default_sla_minutes),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    if not config.writeback_enabled:
        metrics.add_metric(name="WritebackSkipped", unit=MetricUnit.Count, value=len(records))
        logger.info("writeback is off (WritebackEnabled=false): assignments not sent to Salesforce", extra={"count": len(records)})
        return {"batchItemFailures": []}
    outcome = _process(records)
    result = outcome.result
    metrics.add_metric(name="WritebackSucceeded", unit=MetricUnit.Count, value=len(result.written))
    metrics.add_metric(name="WritebackDuplicatesSkipped", unit=MetricUnit.Count, value=len(result.skipped_duplicates))
    metrics.add_metric(name="WritebackRetried", unit=MetricUnit.Count, value=len(result.retry))
    metrics.add_metric(name="WritebackRejected", unit=MetricUnit.Count, value=len(result.permanent) + outcome.refused_owner_dead)
    metrics.add_metric(name="WritebackPaused", unit=MetricUnit.Count, value=len(result.retry) if result.paused else 0)
    metrics.add_metric(name="WritebackOwnerRefused", unit=MetricUnit.Count, value=len(result.refused_owners))
    metrics.add_metric(name="LeadsReassigned", unit=MetricUnit.Count, value=outcome.reassigned)
    if result.auth_failed:
        metrics.add_metric(name="SalesforceAuthFailures", unit=MetricUnit.Count, value=1)
    usage = budget.last
    if usage is not None:
        metrics.add_metric(name="SalesforceApiUsage", unit=MetricUnit.Count, value=usage.used)
        metrics.add_metric(name="SalesforceApiUsagePercent", unit=MetricUnit.Percent, value=round(100 * usage.ratio, 2))
    if result.paused:
        logger.warning("writeback paused: Salesforce API usage above the pause share; messages wait",
                       extra={"api_usage": f"{usage.used}/{usage.limit}" if usage else None,
                              "pause_at_percent": config.writeback_pause_api_percent})
    return outcome.response


def _process(records):
    from territory_router.services.writeback_batch import process_writeback_batch

    return process_writeback_batch(records, deps=_deps(), now=clock())
