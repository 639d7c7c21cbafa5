"""What the Lambda service hands a handler: S3 notification keys arrive URL-encoded."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import S3Event

from territory_router.lambda_events import uploaded_objects


def test_uploaded_objects_decode_the_key() -> None:
    event = S3Event({"Records": [
        {"s3": {"bucket": {"name": "b"}, "object": {"key": "territories/West+Coast%282026%29.geojson"}}},
        {"s3": {"bucket": {"name": "b"}, "object": {"key": "roster/team.json"}}},
    ]})
    assert list(uploaded_objects(event.records)) == [
        ("b", "territories/West Coast(2026).geojson"), ("b", "roster/team.json"),
    ]
