"""LeadReconcileFunction: finds the leads Salesforce has and the pipeline never took in, and feeds them to intake.

Runs on its schedule (``ReconcileScheduleRate``, hourly by default) over the last ``ReconcileLookbackMinutes``
(overlapping windows: a missed run is covered by the next), and sooner when ``ReconcileQueue`` asks (a
``GAP_OVERFLOW`` event, a wildcard ``00Q*`` change). One SOQL query (paged) per run, at most
``ReconcileMaxLeads`` leads; the ones intake never took in go to ``IntakeQueue`` as Event-Relay-shaped CREATE
events marked as reconciliation, so intake de-duplicates them exactly like Salesforce's own events.
Without a Salesforce connection (``WritebackEnabled=false``) there is nothing to query: the run is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.adapters.lead_repository import LeadRepository
from territory_router.adapters.queues import QueuePublisher
from territory_router.adapters.salesforce_client import salesforce_from_secret
from territory_router.config import LeadReconcileSettings, load_settings
from territory_router.lambda_events import scheduled_time
from territory_router.observability import make_logger
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError
from territory_router.services.reconciliation import reconcile, requested_since

logger = make_logger()
metrics = Metrics()
config = load_settings(LeadReconcileSettings)  # fails the cold start if a variable is missing
salesforce = salesforce_from_secret(config.salesforce_secret_name, api_version=config.salesforce_api_version)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    now = datetime.now(UTC) if records else scheduled_time(event)
    since = now - timedelta(minutes=config.reconcile_lookback_minutes)
    if records:  # ReconcileQueue: one run serves the whole batch of requests
        since, unreadable = requested_since([r.get("body", "") for r in records], since)
        if unreadable:
            logger.warning("unreadable reconciliation requests ignored (the run happens anyway)",
                           extra={"count": unreadable})
    if not config.writeback_enabled:
        metrics.add_metric(name="ReconciliationSkipped", unit=MetricUnit.Count, value=1)
        logger.info("no Salesforce connection (WritebackEnabled=false): nothing to reconcile")
        return {"skipped": "WritebackEnabled=false", "batchItemFailures": []}
    try:
        summary = reconcile(
            reader=salesforce,
            known=LeadRepository(aws.client("dynamodb"), config.leads_table),
            sender=QueuePublisher(aws.client("sqs")),
            intake_queue_url=config.intake_queue_url,
            org_id=config.salesforce_org_id,
            since=since,
            now=now,
            max_leads=config.reconcile_max_leads,
            extra_fields=config.salesforce_extra_lead_fields,
        )
    except SalesforceError as exc:
        if isinstance(exc, SalesforceAuthError):
            salesforce.invalidate()  # a paged query runs outside the client's own retry: next run reads it again
        metrics.add_metric(name="ReconciliationFailed", unit=MetricUnit.Count, value=1)
        logger.error("reconciliation could not read Salesforce", extra={"code": exc.code, "error": str(exc)[:300]})
        if records:  # the requests come back after the visibility timeout
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
        raise
    metrics.add_metric(name="ReconcileLeadsRead", unit=MetricUnit.Count, value=summary.read)
    metrics.add_metric(name="ReconcileLeadsFed", unit=MetricUnit.Count, value=summary.fed)
    metrics.add_metric(name="ReconcileLeadsAlreadyKnown", unit=MetricUnit.Count, value=summary.already_known)
    metrics.add_metric(name="ReconcileLeadsNotRoutable", unit=MetricUnit.Count, value=sum(summary.not_routable.values()))
    metrics.add_metric(name="ReconcileFeedFailed", unit=MetricUnit.Count, value=summary.failed)
    metrics.add_metric(name="ReconcileTruncated", unit=MetricUnit.Count, value=int(summary.truncated))
    logger.info("reconciliation run finished", extra=summary.as_dict())
    return {**summary.as_dict(), "batchItemFailures": []}
