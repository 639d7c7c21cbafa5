"""What the Lambda service hands a handler, read the same way by every handler (pure: no AWS calls)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any


def scheduled_time(event: dict[str, Any], *, default: datetime | None = None) -> datetime:
    """The moment an EventBridge schedule fired (the Scheduled Event's ``time``), else ``default`` (now).

    The demo and the tests fire a schedule with a later ``time`` to show what a run then would do.
    """
    now = default or datetime.now(UTC)
    try:
        fired = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return now
    return fired if fired.tzinfo else fired.replace(tzinfo=UTC)


def uploaded_objects(records: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """``(bucket, key)`` of each record of an S3 notification (powertools ``S3Event.records``). S3 sends the key
    URL-encoded (a space as ``+``), so it is decoded here, once for every upload handler."""
    for record in records:
        yield record.s3.bucket.name, urllib.parse.unquote_plus(record.s3.get_object.key)
