"""Daily aggregates in the RoutingTable, counted exactly once from the LeadsTable's stream, without a marker per fact.

A DynamoDB stream is read shard by shard, in order, and a failed batch is retried from its first unfinished
record (docs/reliability.md, "Report aggregates"). So each aggregate item (``AGG#<day>`` / ``TERRITORY#..`` or
``REP#..``) keeps, per shard, a high-water mark: the last sequence number of that shard whose changes are counted
on the item (attribute ``seq#<shard id>``, a 40-digit zero-padded string so that string order is number order:
sequence numbers have up to 40 digits, more than a DynamoDB number holds).

``apply_stream_batch`` merges a batch's increments per item and writes each item ONCE: ``ADD`` the counters and
``SET`` the mark to the batch's last sequence number, on condition that the mark is below the first sequence number
of the item's changes in the batch (or absent). The counters and the mark change in the same UpdateItem, so for
every item: counted records of a shard == that shard's records up to the mark. A retried batch finds the items it
counted before with a mark at or beyond their changes and skips them (or, when the retry reaches further, counts
only the changes beyond the mark); the items it did not reach are counted now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from territory_router.adapters.dynamo import from_item, to_attr
from territory_router.reporting.aggregates import AggregateDelta

MARK_PREFIX = "seq#"
SEQUENCE_DIGITS = 40  # DynamoDB Streams sequence numbers: 21 to 40 digits (API reference, StreamRecord)
MAX_ROUNDS = 4  # condition failures in a row on one item (a concurrent shard moving its own mark is no failure)


def sequence_key(sequence_number: int | str) -> str:
    """A sequence number as a fixed-width string: compares as the integer does."""
    value = int(sequence_number)
    if value < 0 or len(str(value)) > SEQUENCE_DIGITS:
        raise ValueError(f"not a stream sequence number: {sequence_number!r}")
    return str(value).zfill(SEQUENCE_DIGITS)


def mark_attribute(shard_id: str) -> str:
    return MARK_PREFIX + shard_id


@dataclass(frozen=True)
class StreamChange:
    """One stream record's increments: its sequence number and what it adds (often nothing)."""

    sequence: int
    deltas: tuple[AggregateDelta, ...] = ()


@dataclass
class BatchOutcome:
    """What ``apply_stream_batch`` did: items written, items skipped as counted before, and the first sequence
    number it could not count (retry from there), None when the whole batch is counted."""

    written: int = 0
    skipped: int = 0
    recounted: int = 0  # items where only the changes beyond an earlier mark were counted
    failed_from: int | None = None
    errors: list[str] = field(default_factory=list)
    counted_from: dict[tuple[str, str], int] = field(default_factory=dict)  # item -> first sequence counted now

    def counted(self, delta: AggregateDelta, sequence: int) -> bool:
        """Whether this call counted ``delta`` (of the record ``sequence``) on its territory item."""
        first = self.counted_from.get((delta.pk, delta.items()[0][0]))
        return first is not None and sequence >= first


@dataclass
class _Item:
    pk: str
    sk: str
    identity: dict[str, Any]
    changes: list[tuple[int, dict[str, int]]] = field(default_factory=list)  # (sequence, counters)

    def counters_after(self, mark: int | None) -> tuple[int | None, dict[str, int]]:
        """(first sequence counted, merged counters) of the changes beyond ``mark``."""
        total: dict[str, int] = {}
        first: int | None = None
        for seq, counters in self.changes:
            if mark is not None and seq <= mark:
                continue
            first = seq if first is None else min(first, seq)
            for name, value in counters.items():
                total[name] = total.get(name, 0) + int(value)
        return first, total


class AggregatesStore:
    def __init__(self, dynamodb_client: Any, routing_table: str) -> None:
        self.ddb = dynamodb_client
        self.routing_table = routing_table

    @staticmethod
    def _items(changes: Sequence[StreamChange]) -> list[_Item]:
        items: dict[tuple[str, str], _Item] = {}
        for change in changes:
            for delta in change.deltas:
                for sk, identity, counters in delta.items():
                    if not counters:
                        continue
                    item = items.setdefault((delta.pk, sk), _Item(delta.pk, sk, identity))
                    item.changes.append((change.sequence, counters))
        return sorted(items.values(), key=lambda i: (min(s for s, _ in i.changes), i.pk, i.sk))

    def apply_stream_batch(self, shard_id: str, changes: Sequence[StreamChange], *,
                           now: datetime | None = None) -> BatchOutcome:
        """Count one shard's batch (``changes`` in stream order), each aggregate item in one conditional write."""
        now = now or datetime.now(UTC)
        outcome = BatchOutcome()
        if not changes:
            return outcome
        last = max(c.sequence for c in changes)
        for item in self._items(changes):
            try:
                self._apply_item(item, shard_id, last, now, outcome)
            except ClientError as exc:  # throttled, or refused: retry from this item's first change
                first = min(s for s, _ in item.changes)
                outcome.failed_from = first if outcome.failed_from is None else min(outcome.failed_from, first)
                outcome.errors.append(f"{item.pk}/{item.sk}: {exc.response.get('Error', {}).get('Code')}")
        return outcome

    def _apply_item(self, item: _Item, shard_id: str, last: int, now: datetime, outcome: BatchOutcome) -> None:
        mark: int | None = None
        for round_ in range(MAX_ROUNDS):
            first, counters = item.counters_after(mark)
            if first is None:
                outcome.skipped += 1  # every change of this item in the batch was counted before
                return
            try:
                self.ddb.update_item(**self._update(item, counters, shard_id, first, last, now))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                mark = self._mark(exc, item, shard_id)
                continue
            if round_:
                outcome.recounted += 1
            outcome.written += 1
            outcome.counted_from[(item.pk, item.sk)] = first
            return
        raise ClientError({"Error": {"Code": "MarkKeptMoving", "Message": f"{item.pk}/{item.sk}"}}, "UpdateItem")

    def _update(self, item: _Item, counters: dict[str, int], shard_id: str, first: int, last: int,
                now: datetime) -> dict[str, Any]:
        names: dict[str, str] = {"#day": "day", "#updated": "updated_at", "#mark": mark_attribute(shard_id)}
        values: dict[str, Any] = {
            ":day": to_attr(item.pk.split("#", 1)[1]), ":now": to_attr(now.isoformat()),
            ":first": to_attr(sequence_key(first)), ":last": to_attr(sequence_key(last)),
        }
        sets = ["#day = :day", "#updated = :now", "#mark = :last"]
        for i, (attr, value) in enumerate(sorted(item.identity.items())):
            names[f"#i{i}"] = attr
            values[f":i{i}"] = to_attr(value)
            sets.append(f"#i{i} = :i{i}")
        adds = []
        for i, (counter, value) in enumerate(sorted(counters.items())):
            names[f"#c{i}"] = counter
            values[f":c{i}"] = to_attr(int(value))
            adds.append(f"#c{i} :c{i}")
        return {
            "TableName": self.routing_table,
            "Key": {"pk": to_attr(item.pk), "sk": to_attr(item.sk)},
            "UpdateExpression": "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else ""),
            "ConditionExpression": "attribute_not_exists(#mark) OR #mark < :first",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _mark(self, exc: ClientError, item: _Item, shard_id: str) -> int | None:
        """The item's mark for this shard, from the failed condition's ALL_OLD (else a consistent read)."""
        attr = mark_attribute(shard_id)
        old = exc.response.get("Item")
        if old is None:
            resp = self.ddb.get_item(TableName=self.routing_table, Key={"pk": to_attr(item.pk), "sk": to_attr(item.sk)},
                                     ProjectionExpression="#m", ExpressionAttributeNames={"#m": attr},
                                     ConsistentRead=True)
            old = resp.get("Item") or {}
        value = (from_item(old) or {}).get(attr)
        return int(value) if value not in (None, "") else None
