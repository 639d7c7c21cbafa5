"""Poison messages: sent to the stage's dead-letter queue with the reason attached, never retried forever.

A message that can never succeed (malformed JSON, a foreign org, an unknown event type) would otherwise be
retried until SQS moves it to the DLQ with no explanation. We put it there ourselves, at once, with the reason
and the stage in message attributes, so `territory-router dlq list` can show why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DeadLetterSender:
    sqs_client: object
    queue_url: str
    stage: str

    def send(self, body: str, *, reason: str, code: str, message_id: str | None = None) -> None:
        if not self.queue_url:
            raise RuntimeError(f"{self.stage}: no dead-letter queue configured; cannot set aside a poison message")
        attributes = {
            "error_reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
            "error_code": {"DataType": "String", "StringValue": code},
            "error_stage": {"DataType": "String", "StringValue": self.stage},
        }
        if message_id:
            attributes["source_message_id"] = {"DataType": "String", "StringValue": message_id}
        # SQS caps a message at 256 KiB: keep what fits (the reason says it was truncated).
        encoded = body.encode("utf-8", "replace")
        if len(encoded) > 250_000:
            body = encoded[:250_000].decode("utf-8", "ignore")
            attributes["truncated"] = {"DataType": "String", "StringValue": "true"}
        self.sqs_client.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)
