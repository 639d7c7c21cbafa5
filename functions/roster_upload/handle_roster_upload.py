"""RosterUploadFunction: a roster file lands under ``roster/`` → validated and activated, counters untouched."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from territory_router.adapters import aws
from territory_router.config import RosterUploadSettings, load_settings
from territory_router.lambda_events import uploaded_objects
from territory_router.observability import make_logger
from territory_router.services.roster_upload import process_roster_upload

logger = make_logger()
metrics = Metrics()
config = load_settings(RosterUploadSettings)  # fails the cold start if a variable is missing


@logger.inject_lambda_context
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    from territory_router.adapters.lead_store import lead_store_for

    store = lead_store_for(config)
    results = []
    for bucket, key in uploaded_objects(event.records):
        outcome = process_roster_upload(bucket, key, store=store, s3_client=aws.client("s3"))
        accepted = outcome.accepted
        metrics.add_metric(name="RosterUploadsAccepted" if accepted else "RosterUploadsRejected", unit=MetricUnit.Count, value=1)
        summary = outcome.to_dict()
        (logger.info if accepted else logger.warning)("roster upload processed", extra=summary)
        results.append(summary)
    return {"uploads": results}
