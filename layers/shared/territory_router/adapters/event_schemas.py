"""Event schemas by schema id, for decoding bitmap change fields (``territory_router.salesforce.bitmap``).

A schema id names one immutable schema (Salesforce gives a changed event definition a new id), so a schema fetched
once is kept for the life of the container. A failed or empty fetch is remembered for ``retry_after_s``: while
Salesforce cannot be asked, events fall back to their payload keys instead of waiting on the network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from territory_router.salesforce.bitmap import EventSchema

log = logging.getLogger(__name__)


class EventSchemaCache:
    """``SchemaLookup`` (``schema_id -> EventSchema | None``) over a fetch of the Avro schema JSON."""

    def __init__(
        self,
        fetch: Callable[[str], Mapping[str, Any] | None],
        *,
        retry_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._schemas: dict[str, EventSchema] = {}
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def __call__(self, schema_id: str) -> EventSchema | None:
        with self._lock:
            known = self._schemas.get(schema_id)
            if known is not None:
                return known
            failed_at = self._failed.get(schema_id)
            if failed_at is not None and self._clock() - failed_at < self._retry_after_s:
                return None
        self.fetches += 1
        try:
            doc = self._fetch(schema_id)
            schema = EventSchema.from_avro(doc, schema_id=schema_id) if doc is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure: decode without the schema, ask again later
            log.warning("event schema not available; change fields fall back to the payload keys",
                        extra={"schema_id": schema_id, "error": type(exc).__name__})
            schema = None
        with self._lock:
            if schema is None:
                self._failed[schema_id] = self._clock()
            else:
                self._schemas[schema_id] = schema
                self._failed.pop(schema_id, None)
        return schema
