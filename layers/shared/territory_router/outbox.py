"""The outbox of an SQS batch: what its records send on, sent once the whole batch is processed.

The SQS handlers (intake → TaggingQueue, tagging → AssignmentQueue, assignment → the app bus) process a batch record
by record with powertools' ``BatchProcessor``; what each record wants to send waits here and goes out afterwards in
as few calls as possible (ten per ``SendMessageBatch``/``PutEvents``). A record whose item was refused is reported
in ``batchItemFailures`` (once, whatever else failed): SQS delivers it again and its processing, idempotent, sends
it again. Nothing is lost, nothing is sent before its record's own writes are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

# ``send`` gets ``(entry key, item)`` pairs and answers the keys it could not send.
Send = Callable[[list[tuple[str, Item]]], Iterable[str]]


class BatchOutbox(Generic[Item]):
    """Items added by the records of one batch, keyed by their SQS message id."""

    def __init__(self) -> None:
        self._items: list[tuple[str, Item]] = []

    def clear(self) -> None:
        """Forget a previous invocation's items (call at the start of each invocation)."""
        self._items.clear()

    def add(self, message_id: str, item: Item) -> None:
        self._items.append((message_id, item))

    def __len__(self) -> int:
        return len(self._items)

    def flush(self, send: Send[Item], response: dict[str, Any]) -> dict[str, Any]:
        """Hand every item to ``send`` (keys are positions: unique even when one message added several items) and
        add the message of each refused item to ``response["batchItemFailures"]``. Returns ``response``."""
        items, self._items = self._items, []
        entries = [(str(position), item) for position, (_, item) in enumerate(items)]
        refused = set(send(entries)) if entries else set()
        failed = {items[int(key)][0] for key in refused}
        failures = response.setdefault("batchItemFailures", [])
        known = {f["itemIdentifier"] for f in failures}
        failures.extend({"itemIdentifier": message_id} for message_id in sorted(failed - known))
        return response
