"""Count one batch of the LeadsTable's stream into the daily aggregates (the handler, and the DLQ replay of the CLI).

The records are a shard's, in stream order. Each record's images say what happened to the lead
(``reporting.lead_changes``); the store merges the batch per aggregate item and writes each item once, guarded by the
shard's high-water mark (``adapters.aggregates_store``): counting a batch again counts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from territory_router.adapters.aggregates_store import AggregatesStore, BatchOutcome, StreamChange
from territory_router.adapters.dynamo import from_item
from territory_router.reporting.aggregates import NotAnAppEvent
from territory_router.reporting.lead_changes import deltas_for_change

log = logging.getLogger(__name__)


@dataclass
class CountedBatch:
    changes: list[StreamChange] = field(default_factory=list)
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    poison: int | None = None  # the first record whose images could not be read (its sequence number)
    unreadable: list[str] = field(default_factory=list)  # why, per unreadable record

    @property
    def failed_from(self) -> int | None:
        """The lowest sequence number to retry from, None when the whole batch is counted."""
        failed = [s for s in (self.poison, self.outcome.failed_from) if s is not None]
        return min(failed) if failed else None


def stream_changes(records: Sequence[dict[str, Any]]) -> tuple[list[StreamChange], int | None, list[str]]:
    """(the records' changes in stream order, the first unreadable record's sequence number, why each failed)."""
    changes: list[StreamChange] = []
    poison: int | None = None
    reasons: list[str] = []
    for record in records:
        stream = record.get("dynamodb") or {}
        sequence = int(stream["SequenceNumber"])
        try:
            old, new = from_item(stream.get("OldImage")), from_item(stream.get("NewImage"))
            changes.append(StreamChange(sequence, tuple(deltas_for_change(old, new))))
        except (NotAnAppEvent, ValueError, TypeError, KeyError, AttributeError) as exc:
            reasons.append(f"{sequence} {stream.get('Keys')}: {str(exc)[:300]}")
            poison = sequence if poison is None else min(poison, sequence)
    return changes, poison, reasons


def count_stream_batch(store: AggregatesStore, shard_id: str, records: Sequence[dict[str, Any]], *,
                       now: datetime) -> CountedBatch:
    """Count one shard's records (exactly once per aggregate item, whatever was counted before)."""
    changes, poison, reasons = stream_changes(records)
    outcome = store.apply_stream_batch(shard_id, changes, now=now)
    return CountedBatch(changes=changes, outcome=outcome, poison=poison, unreadable=reasons)
