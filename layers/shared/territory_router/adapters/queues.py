"""SQS sends in batches of ten, reporting which entries failed instead of losing them."""

from __future__ import annotations

from collections.abc import Sequence


class QueuePublisher:
    def __init__(self, sqs_client) -> None:
        self._sqs = sqs_client

    def send_batch(self, queue_url: str, messages: Sequence[tuple[str, str]]) -> list[str]:
        """Send ``(entry_id, body)`` pairs; returns the entry ids that SQS did not accept."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            # SQS entry ids allow [A-Za-z0-9_-]{1,80}; map ours to positions and back.
            entries = [{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)]
            resp = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed.extend(chunk[int(f["Id"])][0] for f in resp.get("Failed", []))
        return failed


class QueueVisibility:
    """Let received messages wait: ``ChangeMessageVisibility`` in batches of ten (SQS caps it at 12 hours)."""

    def __init__(self, sqs_client) -> None:
        self._sqs = sqs_client

    def defer(self, queue_url: str, messages: Sequence[tuple[str, int]]) -> list[str]:
        """Hide ``(receipt_handle, seconds)`` messages that long; returns the receipt handles SQS refused."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": receipt, "VisibilityTimeout": max(0, min(43_200, int(seconds)))}
                       for i, (receipt, seconds) in enumerate(chunk)]
            resp = self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
            failed.extend(chunk[int(f["Id"])][0] for f in resp.get("Failed", []))
        return failed
