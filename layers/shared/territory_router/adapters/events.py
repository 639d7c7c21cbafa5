"""EventBridge PutEvents in batches of ten, reporting the entries that were not accepted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class EventPublisher:
    def __init__(self, events_client, bus_name: str, source: str) -> None:
        self._events = events_client
        self._bus = bus_name
        self._source = source

    def publish(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """Publish ``(key, detail_type, detail)`` triples; returns the keys of entries that failed."""
        failed: list[str] = []
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            entries = [
                {
                    "Source": self._source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "EventBusName": self._bus,
                }
                for _, detail_type, detail in chunk
            ]
            resp = self._events.put_events(Entries=entries)
            if resp.get("FailedEntryCount"):
                for (key, _, _), result in zip(chunk, resp["Entries"], strict=False):
                    if result.get("ErrorCode"):
                        failed.append(key)
        return failed
