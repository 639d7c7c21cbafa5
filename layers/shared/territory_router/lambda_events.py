"""What the Lambda service hands a handler, read the same way by every handler (pure: no AWS calls)."""

from __future__ import annotations

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
