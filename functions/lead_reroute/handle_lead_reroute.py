"""LeadRerouteFunction (scheduled): re-routes leads nobody attended within their SLA; escalates repeat offenders.

Finds due leads through the sparse ``RerouteDueIndex`` (never a Scan), so a run costs O(late leads). With a
Salesforce connection (``WritebackEnabled=true``) it first reads the due leads back from Salesforce (one SOQL query
per 200) and releases those a person already worked, converted or deleted; a batch Salesforce cannot answer for is
not re-routed (metric ``RerouteBlockedSalesforceUnreadable``). Without one it trusts its own record, as before.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.adapters.events import EventPublisher
from territory_router.adapters.salesforce_client import salesforce_from_secret
from territory_router.config import LeadRerouteSettings, load_settings
from territory_router.domain.messages import APP_EVENT_SOURCE
from territory_router.lambda_events import scheduled_time
from territory_router.observability import make_logger
from territory_router.services.lead_reroute import SalesforceScreen, reroute_and_announce

logger = make_logger()
metrics = Metrics()
config = load_settings(LeadRerouteSettings)  # fails the cold start if a variable is missing
salesforce = salesforce_from_secret(config.salesforce_secret_name, api_version=config.salesforce_api_version)


def _screen() -> SalesforceScreen | None:
    if not config.writeback_enabled:
        return None  # no Salesforce connection configured: today's behaviour (docs/rerouting.md)
    return SalesforceScreen(reader=lambda: salesforce, reset=salesforce.invalidate,
                            integration_user_id=config.salesforce_integration_user_id)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from territory_router.adapters.lead_store import lead_store_for

    store = lead_store_for(config)
    summary = reroute_and_announce(
        store=store,
        events=EventPublisher(aws.client("events"), config.app_event_bus, APP_EVENT_SOURCE),
        now=scheduled_time(event),
        max_reroutes=config.max_reroutes,
        screen=_screen(),
    )
    metrics.add_metric(name="LeadsRerouted", unit=MetricUnit.Count, value=summary["rerouted"])
    metrics.add_metric(name="LeadsEscalated", unit=MetricUnit.Count, value=summary["escalated"])
    metrics.add_metric(name="SlaBreaches", unit=MetricUnit.Count, value=summary["rerouted"] + summary["escalated"])
    metrics.add_metric(name="RerouteSkippedWorkedInSalesforce", unit=MetricUnit.Count,
                       value=summary["attended_in_salesforce"])
    metrics.add_metric(name="RerouteSkippedClosedInSalesforce", unit=MetricUnit.Count,
                       value=summary["closed_in_salesforce"])
    metrics.add_metric(name="RerouteBlockedSalesforceUnreadable", unit=MetricUnit.Count,
                       value=summary["blocked_salesforce_unreadable"])
    if summary["blocked_salesforce_unreadable"]:
        logger.error("Salesforce could not be read: due leads were left as they are, not re-routed blind",
                     extra=summary)
    logger.info("re-route run finished", extra=summary)
    return summary
