"""LeadRerouteFunction (scheduled): re-routes leads nobody attended within their SLA; escalates repeat offenders.

Finds due leads through the sparse ``RerouteDueIndex`` (never a Scan), so a run costs O(late leads).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.adapters.events import EventPublisher
from territory_router.config import settings
from territory_router.domain.messages import APP_EVENT_SOURCE
from territory_router.observability import make_logger
from territory_router.services.assignment import reroute_and_announce

logger = make_logger()
metrics = Metrics()
tracer = Tracer()
config = settings()


def _schedule_time(event: dict[str, Any]) -> datetime:
    """The moment the schedule fired (the event's ``time``; only the schedule may invoke this function).

    The demo fires the schedule with a later time to show what a run two hours on would do.
    """
    now = datetime.now(UTC)
    try:
        fired = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return now
    return fired if fired.tzinfo else fired.replace(tzinfo=UTC)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from territory_router.adapters.routing_store import routing_store_for

    store = routing_store_for(config)
    summary = reroute_and_announce(
        store=store,
        events=EventPublisher(aws.client("events"), config.app_event_bus, APP_EVENT_SOURCE),
        now=_schedule_time(event),
        max_reroutes=config.max_reroutes,
    )
    metrics.add_metric(name="LeadsRerouted", unit=MetricUnit.Count, value=summary["rerouted"])
    metrics.add_metric(name="LeadsEscalated", unit=MetricUnit.Count, value=summary["escalated"])
    metrics.add_metric(name="SlaBreaches", unit=MetricUnit.Count, value=summary["rerouted"] + summary["escalated"])
    logger.info("re-route run finished", extra=summary)
    return summary
