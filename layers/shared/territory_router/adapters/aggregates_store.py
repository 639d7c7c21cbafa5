"""Daily aggregates in the RoutingTable, counted exactly once per fact.

One ``TransactWriteItems`` per event: a marker ``aggregates#<dedup key>`` put into the IdempotencyTable on
condition that it does not exist yet (expires with the table's TTL), and one ``ADD`` update per aggregate item.
Either the marker and every counter change happen, or nothing does; a second delivery of the same fact fails the
marker's condition and changes nothing.

``apply_batch`` counts a whole SQS batch in as few transactions as possible (up to 100 items each: the markers plus
the merged item updates); when one is cancelled (a fact counted before, or a conflict) its facts are left for
``apply``, one by one, which sorts the new from the already counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from territory_router.adapters.dynamo import to_attr
from territory_router.reporting.aggregates import AggregateDelta

MARKER_PREFIX = "aggregates#"
MARKER_TTL_S = 14 * 24 * 3600  # EventBridge retries for a day and SQS keeps messages 4 days: 14 is plenty
MAX_ATTEMPTS = 4
MAX_TRANSACTION_ITEMS = 100


class AggregatesStore:
    def __init__(self, dynamodb_client: Any, routing_table: str, idempotency_table: str) -> None:
        self.ddb = dynamodb_client
        self.routing_table = routing_table
        self.idempotency_table = idempotency_table

    def _marker(self, delta: AggregateDelta, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.idempotency_table,
                "Item": {
                    "id": to_attr(MARKER_PREFIX + delta.dedup_key),
                    "expiration": to_attr(int(now.timestamp()) + MARKER_TTL_S),
                    "status": to_attr("COUNTED"),
                    "day": to_attr(delta.day),
                },
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }

    def _update(self, pk: str, sk: str, identity: dict[str, Any], counters: dict[str, int], now: datetime) -> dict[str, Any]:
        names: dict[str, str] = {"#day": "day", "#updated": "updated_at"}
        values: dict[str, Any] = {":day": to_attr(pk.split("#", 1)[1]), ":now": to_attr(now.isoformat())}
        sets = ["#day = :day", "#updated = :now"]
        for i, (attr, value) in enumerate(sorted(identity.items())):
            names[f"#i{i}"] = attr
            values[f":i{i}"] = to_attr(value)
            sets.append(f"#i{i} = :i{i}")
        adds = []
        for i, (counter, value) in enumerate(sorted(counters.items())):
            names[f"#c{i}"] = counter
            values[f":c{i}"] = to_attr(int(value))
            adds.append(f"#c{i} :c{i}")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return {
            "Update": {
                "TableName": self.routing_table,
                "Key": {"pk": to_attr(pk), "sk": to_attr(sk)},
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def apply(self, delta: AggregateDelta, *, now: datetime | None = None) -> bool:
        """Count ``delta`` once. True if counted now, False if this fact was counted before."""
        now = now or datetime.now(UTC)
        items = [self._marker(delta, now)]
        items += [self._update(delta.pk, sk, identity, counters, now) for sk, identity, counters in delta.items()]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", []) or []]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # the marker exists: counted before
                if not reasons and "ConditionalCheckFailed" in str(exc):
                    return False  # emulators that omit CancellationReasons; only the marker has a condition
                if attempt == MAX_ATTEMPTS:
                    raise
                time.sleep(0.05 * 2**attempt)  # TransactionConflict on a hot counter: back off and retry
        return False

    def apply_batch(self, deltas: Sequence[AggregateDelta], *, now: datetime | None = None) -> list[bool | None]:
        """Count many facts; per fact: True (counted now), False (a repeat within this batch), None (not counted by
        this call: its transaction was cancelled or failed; count it with ``apply``)."""
        now = now or datetime.now(UTC)
        flags: list[bool | None] = [None] * len(deltas)
        chunk: list[int] = []
        keys: set[tuple[str, str]] = set()
        seen: set[str] = set()
        for i, delta in enumerate(deltas):
            if delta.dedup_key in seen:
                flags[i] = False  # the same fact twice in one batch: the first one counts
                continue
            seen.add(delta.dedup_key)
            new = {(delta.pk, sk) for sk, _identity, _counters in delta.items()} - keys
            if chunk and len(chunk) + len(keys) + len(new) + 1 > MAX_TRANSACTION_ITEMS:
                self._commit([deltas[j] for j in chunk], chunk, flags, now)
                chunk, keys = [], set()
                new = {(delta.pk, sk) for sk, _identity, _counters in delta.items()}
            chunk.append(i)
            keys |= new
        if chunk:
            self._commit([deltas[j] for j in chunk], chunk, flags, now)
        return flags

    def _commit(self, deltas: list[AggregateDelta], positions: list[int], flags: list[bool | None], now: datetime) -> None:
        merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, int]]] = {}
        for delta in deltas:
            for sk, identity, counters in delta.items():
                _identity, total = merged.setdefault((delta.pk, sk), (identity, {}))
                for name, value in counters.items():
                    total[name] = total.get(name, 0) + value
        items = [self._marker(d, now) for d in deltas]
        items += [self._update(pk, sk, identity, counters, now) for (pk, sk), (identity, counters) in merged.items()]
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError:
            return  # cancelled (a fact counted before, a conflict) or refused: leave these facts to apply()
        for position in positions:
            flags[position] = True
