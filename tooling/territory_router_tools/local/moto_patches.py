"""Fixes to moto that our tests and the local stack depend on: three for correctness, three for speed.

1. **Atomic writes under concurrency.** moto's server handles requests on threads but its DynamoDB backend does
   not serialise writes: two concurrent conditional updates (or transactions) can interleave between the
   condition check and the write, which real DynamoDB never allows. We hold one lock around every write, and
   around every read so that no read sees a transaction half applied.
2. **Transactions in O(items), not O(table).** moto backs up every table a transaction touches with
   ``copy.deepcopy`` before running it (tens of milliseconds at a few thousand items, growing with the table). We
   snapshot only the items the transaction names and restore those on cancellation, the same observable result.
   A cancelled transaction also leaves no stream record (moto streamed each item it applied, and the undo), and
   stream reads take the lock: the report aggregates read the LeadsTable's stream.

3. **Speed** (same behaviour, measured with py-spy on the demo: about a third of the emulator's CPU): moto lists its
   own package directory on disk for every request to find the service, builds a JSONPath parser (ply yacc tables)
   for every EventBridge target delivery, and computes "now" through naive-datetime arithmetic for every message it
   looks at in a queue. We cache the directory listing and the parsed JSONPath expressions, and read the clock
   directly.

Applied in the local stack's moto process and in the test suite's moto server; handler code is unaware of it.
"""

from __future__ import annotations

import copy as _copy
import functools
import json
import threading
from typing import Any

_LOCK = threading.RLock()
_applied = False
_CLOCK = [0.0]  # seconds added to the emulator's SQS clock (tests that live through a day: advance_clock)


def advance_clock(seconds: float) -> None:
    """Move the in-process emulator's SQS clock forward (visibility timeouts, retention, timestamps).

    Only for a moto server running in this process (the test suite's); a test that uses it calls ``reset_clock``.
    """
    _CLOCK[0] += seconds


def reset_clock() -> None:
    _CLOCK[0] = 0.0


class _TableCopyShim:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: tables are not deep-copied."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value  # the transaction wrapper restores item snapshots instead
        return _copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(_copy, name)


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    if op_type != "Put":
        return op.get("Key")
    attrs = op.get("Item") or {}
    names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
    if any(n not in attrs for n in names):
        return None
    return {n: attrs[n] for n in names}


def apply() -> None:
    """Patch moto's DynamoDB backend (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    models.copy = _TableCopyShim(Table)  # type: ignore[attr-defined]

    # Reads take the lock too: moto applies a transaction item by item and rolls back on cancellation, so a read
    # between two of its items would see writes that are then undone (a dirty read DynamoDB never gives). Seen
    # as a double assignment: a duplicate AssignRequest read a lead "assigned" by a transaction that was then
    # cancelled, and announced an owner that never was.
    for name in ("put_item", "update_item", "delete_item", "batch_write_item",
                 "get_item", "batch_get_item", "query", "scan", "transact_get_items"):
        original = getattr(backend, name, None)
        if original is None:
            continue

        @functools.wraps(original)
        def locked(self, *args, __original=original, **kwargs):
            with _LOCK:
                return __original(self, *args, **kwargs)

        setattr(backend, name, locked)

    original_transact = backend.transact_write_items

    @functools.wraps(original_transact)
    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            tables = dict(self.tables)
            snapshots: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any] | None]] = {}
            for entry in transact_items[:100]:
                op_type, op = next(iter(entry.items()))
                table_name = op.get("TableName")
                if table_name not in self.tables:
                    continue
                key = _item_key(self.tables[table_name], op_type, op)
                if key is None:
                    continue
                marker = (table_name, json.dumps(key, sort_keys=True))
                if marker not in snapshots:
                    current = self.get_item(table_name, key)
                    snapshots[marker] = (table_name, key, _copy.deepcopy(current.to_json()["Attributes"]) if current else None)
            # Stream records written so far, per table: a cancelled transaction leaves none (below).
            streamed = {name: len(t.stream_shard.items) for name, t in self.tables.items()
                        if getattr(t, "stream_shard", None) is not None}
            try:
                return original_transact(self, transact_items)
            except Exception:
                # moto put its "backup" (the live table itself, see the shim) back; undo the applied writes.
                self.tables.update(tables)
                for table_name, key, attrs in snapshots.values():
                    if attrs is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attrs)
                # moto wrote a stream record for each item it applied before the cancellation, and the undo wrote
                # more; DynamoDB streams nothing for a cancelled transaction. Seen as a lead counted twice by the
                # report aggregates: a phantom TAGGED -> ASSIGNED, then the retry's real one.
                for name, count in streamed.items():
                    shard = getattr(self.tables.get(name), "stream_shard", None)
                    if shard is not None:
                        del shard.items[count:]
                raise

    backend.transact_write_items = transact_write_items

    # Stream reads under the same lock: a reader never sees a record of a transaction that is then cancelled.
    from moto.dynamodbstreams import models as stream_models

    original_get_records = stream_models.DynamoDBStreamsBackend.get_records

    @functools.wraps(original_get_records)
    def get_records(self, *args, **kwargs):
        with _LOCK:
            return original_get_records(self, *args, **kwargs)

    stream_models.DynamoDBStreamsBackend.get_records = get_records
    _speed_up()
    _applied = True


def _speed_up() -> None:
    import time

    import jsonpath_ng.ext
    from moto import backends
    from moto.core import utils as core_utils
    from moto.sqs import models as sqs_models

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)

    original_unix_time = core_utils.unix_time
    original_unix_time_millis = core_utils.unix_time_millis

    def unix_time(dt: Any = None) -> float:
        return time.time() + _CLOCK[0] if dt is None else original_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return (time.time() + _CLOCK[0]) * 1000.0 if dt is None else original_unix_time_millis(dt)

    for module in (core_utils, sqs_models):
        module.unix_time = unix_time  # type: ignore[attr-defined]
        module.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]
    _visibility_from_receive(sqs_models)


def _visibility_from_receive(sqs_models: Any) -> None:
    """SQS limits a message's visibility to 12 hours from the ReceiveMessage that returned it (ChangeMessageVisibility
    "can extend the visibility timeout to a maximum of 12 hours"; each receive starts anew). moto measures from the
    message's *send* time, so it refuses any deferral of a message older than 12 hours. Measure from the receive."""
    message_cls = sqs_models.Message
    original_mark = message_cls.mark_received

    def mark_received(self: Any, visibility_timeout: int | None = None) -> None:
        self.tr_received_at = sqs_models.unix_time_millis()
        original_mark(self, visibility_timeout)

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        for message in queue._messages:
            if message.had_receipt_handle(receipt_handle):
                received = getattr(message, "tr_received_at", message.sent_timestamp)
                if sqs_models.unix_time_millis() + int(visibility_timeout) * 1000 - received > 43200 * 1000:
                    raise sqs_models.InvalidParameterValue(
                        f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                        "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                    )
                message.change_visibility(visibility_timeout)
                if message.visible and message in queue.pending_messages:
                    queue.pending_messages.remove(message)
                return
        raise sqs_models.ReceiptHandleIsInvalid

    message_cls.mark_received = mark_received
    sqs_models.SQSBackend.change_message_visibility = change_message_visibility
