"""SQS calls in batches of ten, reporting which entries failed instead of losing them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
SQS_BATCH = 10  # SendMessageBatch / ChangeMessageVisibilityBatch take at most ten entries


def _in_tens(items: Sequence[tuple[str, T]], call: Callable[[list[dict[str, Any]]], dict[str, Any]],
             entry: Callable[[T], dict[str, Any]]) -> list[str]:
    """``call`` with the entries of ``(key, item)`` pairs, ten at a time; the keys of the entries SQS refused.

    SQS entry ids allow [A-Za-z0-9_-]{1,80}: each entry's id is its position in the call, mapped back to its key."""
    failed: list[str] = []
    for start in range(0, len(items), SQS_BATCH):
        chunk = items[start : start + SQS_BATCH]
        response = call([{"Id": str(i), **entry(item)} for i, (_, item) in enumerate(chunk)])
        failed.extend(chunk[int(f["Id"])][0] for f in response.get("Failed", []))
    return failed


class QueuePublisher:
    def __init__(self, sqs_client) -> None:
        self._sqs = sqs_client

    def send_batch(self, queue_url: str, messages: Sequence[tuple[str, str]]) -> list[str]:
        """Send ``(entry_id, body)`` pairs; returns the entry ids that SQS did not accept."""
        return _in_tens(
            messages,
            lambda entries: self._sqs.send_message_batch(QueueUrl=queue_url, Entries=entries),
            lambda body: {"MessageBody": body},
        )


class QueueVisibility:
    """Let received messages wait: ``ChangeMessageVisibility`` in batches of ten (SQS caps it at 12 hours)."""

    def __init__(self, sqs_client) -> None:
        self._sqs = sqs_client

    def defer(self, queue_url: str, messages: Sequence[tuple[str, int]]) -> list[str]:
        """Hide ``(receipt_handle, seconds)`` messages that long; returns the receipt handles SQS refused."""
        return _in_tens(
            [(receipt, (receipt, seconds)) for receipt, seconds in messages],
            lambda entries: self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries),
            lambda item: {"ReceiptHandle": item[0], "VisibilityTimeout": max(0, min(43_200, int(item[1])))},
        )
