"""TerritoryUploadFunction: a territory file lands under ``territories/`` → validated, compiled, versioned.

A valid file becomes a new version (report, map and compiled index stored next to it) and, unless configured
otherwise, the active set. A rejected file is recorded with its reasons and the live set stays live.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.adapters.territory_store import TerritoryStore
from territory_router.config import TerritoryUploadSettings, load_settings
from territory_router.lambda_events import uploaded_objects
from territory_router.observability import make_logger
from territory_router.services.territory_upload import process_territory_upload

logger = make_logger()
metrics = Metrics()
config = load_settings(TerritoryUploadSettings)  # fails the cold start if a variable is missing


@logger.inject_lambda_context
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    store = TerritoryStore(aws.client("s3"), aws.client("dynamodb"), config.territory_bucket, config.routing_table)
    results = []
    for bucket, key in uploaded_objects(event.records):
        outcome = process_territory_upload(
            bucket, key, store=store, auto_activate=config.auto_activate_territories
        )
        summary = outcome.summary()
        accepted = outcome.valid
        metrics.add_metric(
            name="TerritoryUploadsAccepted" if accepted else "TerritoryUploadsRejected", unit=MetricUnit.Count, value=1
        )
        (logger.info if accepted else logger.warning)("territory upload processed", extra=summary)
        results.append(summary)
    return {"uploads": results}
