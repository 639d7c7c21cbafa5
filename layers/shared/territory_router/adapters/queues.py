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
