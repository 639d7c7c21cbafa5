"""Dead-letter queues: look at what was set aside, and send it back to where it came from.

Every stage queue of the stack has a DLQ (logical ids ``<Stage>Queue`` / ``<Stage>DLQ``). Messages get there two
ways: a handler sets a poison message aside at once with message attributes ``error_reason``, ``error_code``,
``error_stage`` (``territory_router.services.dead_letters``), or SQS moves a message that kept failing after the
source queue's ``maxReceiveCount`` (no reason attached; the stage is the DLQ's).

``peek`` lists without consuming: it receives every message with a short visibility timeout and makes each visible
again at once (listing does increase SQS's ``ApproximateReceiveCount``). ``redrive`` sends each chosen message to
its source queue and only then deletes it from the DLQ: a crash in between leaves a copy in both, never none, and
the pipeline absorbs the duplicate (at-least-once everywhere).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territory_router.observability import REDACTED, redact
from territory_router_tools.adapters.stream_replay import ReplayError, stream_batch_of

DLQ_SUFFIX = "DLQ"
PEEK_VISIBILITY_S = 30
# Besides contact data (redact), a preview leaves out names: enough to recognise a message, nothing personal.
_NAME_KEYS = frozenset({"firstname", "lastname", "name", "first_name", "last_name", "first_name__c", "last_name__c",
                        "middlename", "salutation", "title"})


class DeadLetterError(RuntimeError):
    pass


def _redact_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in _NAME_KEYS and v not in (None, "") and not isinstance(v, dict | list)
                else _redact_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_names(v) for v in value]
    return value


def preview(body: str, limit: int = 120) -> str:
    """A short one-line view of a message body without personal data (emails, phones, streets, names)."""
    try:
        text = json.dumps(_redact_names(redact(json.loads(body))), separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        text = str(redact(body))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class DeadLetter:
    queue: str  # logical id of the DLQ
    message_id: str
    receipt_handle: str
    body: str
    stage: str
    error_code: str | None
    error_reason: str | None
    receive_count: int
    sent_at: datetime | None
    source_message_id: str | None = None
    truncated: bool = False
    attributes: dict[str, str] = field(default_factory=dict)

    def age_s(self, now: datetime | None = None) -> float | None:
        if self.sent_at is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - self.sent_at).total_seconds())

    def summary(self, now: datetime | None = None) -> dict[str, Any]:
        """What ``dlq list`` shows: no body, only a redacted preview."""
        return {
            "queue": self.queue,
            "message_id": self.message_id,
            "stage": self.stage,
            "error_code": self.error_code,
            "error_reason": self.error_reason,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at.isoformat(timespec="seconds") if self.sent_at else None,
            "age_s": None if self.sent_at is None else round(self.age_s(now) or 0.0),
            "source_message_id": self.source_message_id,
            "truncated": self.truncated,
            "preview": preview(self.body),
        }


@dataclass
class RedriveResult:
    queue: str
    target: str
    moved: list[str] = field(default_factory=list)  # DLQ message ids sent back and deleted
    kept: list[str] = field(default_factory=list)  # left in the DLQ (filtered out, or over --max)
    failed: list[str] = field(default_factory=list)  # could not be sent: still in the DLQ
    errors: list[str] = field(default_factory=list)  # why, for the failed ones that say (a stream replay)


def _stage_of(dlq_lid: str) -> str:
    return dlq_lid[: -len(DLQ_SUFFIX)].lower() or dlq_lid


class DeadLetterQueues:
    """The DLQs of one stack. ``resources`` maps logical ids to queue URLs (``Stack.resources``)."""

    def __init__(self, sqs_client: Any, resources: Mapping[str, str],
                 replay: Callable[[dict[str, Any]], int] | None = None) -> None:
        """``replay`` counts a stream batch described by an on-failure destination message (``AggregatesDLQ``)."""
        self.sqs = sqs_client
        self.resources = dict(resources)
        self.replay = replay

    def dlqs(self) -> dict[str, str]:
        return {lid: url for lid, url in sorted(self.resources.items())
                if lid.endswith(DLQ_SUFFIX) and str(url).startswith(("http://", "https://"))}

    def resolve(self, name: str | None) -> dict[str, str]:
        """DLQs matching ``name``: a logical id (``IntakeDLQ``), a stage (``intake``) or a source (``IntakeQueue``)."""
        dlqs = self.dlqs()
        if not name:
            return dlqs
        key = name.strip().lower()
        for lid, url in dlqs.items():
            stage = _stage_of(lid)
            if key in (lid.lower(), stage, f"{stage}queue", f"{stage}dlq"):
                return {lid: url}
        raise DeadLetterError(f"no dead-letter queue {name!r}; the stack has {', '.join(dlqs) or 'none'}")

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def source_of(self, dlq_lid: str) -> tuple[str, str]:
        """(logical id, URL) of the queue whose RedrivePolicy targets this DLQ; else ``<Stage>Queue`` by name."""
        dlq_arn = self._arn(self.resources[dlq_lid])
        for lid, url in sorted(self.resources.items()):
            if lid.endswith(DLQ_SUFFIX) or not lid.endswith("Queue") or not str(url).startswith(("http://", "https://")):
                continue
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
            policy = attrs.get("RedrivePolicy")
            if policy and json.loads(policy).get("deadLetterTargetArn") == dlq_arn:
                return lid, url
        by_name = dlq_lid[: -len(DLQ_SUFFIX)] + "Queue"
        if by_name in self.resources:
            return by_name, self.resources[by_name]
        raise DeadLetterError(f"{dlq_lid}: no source queue found (no RedrivePolicy points at it, no {by_name})")

    def depth(self, dlq_lid: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.resources[dlq_lid],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))

    # --------------------------------------------------------------------------------------- reading
    def _receive_all(self, dlq_lid: str, visibility_s: int, limit: int | None) -> list[DeadLetter]:
        url = self.resources[dlq_lid]
        seen: dict[str, DeadLetter] = {}
        empty_polls = 0
        while limit is None or len(seen) < limit:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - len(seen))),
                VisibilityTimeout=visibility_s,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                empty_polls += 1
                if empty_polls >= 2:  # SQS may answer empty once while messages exist (short polling)
                    break
                continue
            empty_polls = 0
            for m in got:
                if m["MessageId"] not in seen:
                    seen[m["MessageId"]] = self._letter(dlq_lid, m)
        return list(seen.values())

    def _letter(self, dlq_lid: str, m: dict[str, Any]) -> DeadLetter:
        attrs = {k: v.get("StringValue", "") for k, v in (m.get("MessageAttributes") or {}).items()}
        sys_attrs = m.get("Attributes") or {}
        sent = sys_attrs.get("SentTimestamp")
        stage = attrs.get("error_stage") or _stage_of(dlq_lid)
        reason = attrs.get("error_reason")
        receives = int(sys_attrs.get("ApproximateReceiveCount", 1))
        batch = stream_batch_of(m.get("Body", "")) if reason is None else None
        if batch is not None:
            reason = (f"stream batch not counted: shard {batch['shardId']}, records {batch['startSequenceNumber']}"
                      f"..{batch['endSequenceNumber']} (redrive replays them from the stream within 24 hours)")
            attrs.setdefault("error_code", "STREAM_BATCH")
        if reason is None:
            reason = "moved here by SQS after repeated failures (maxReceiveCount); no reason recorded"
        return DeadLetter(
            queue=dlq_lid,
            message_id=m["MessageId"],
            receipt_handle=m["ReceiptHandle"],
            body=m.get("Body", ""),
            stage=stage,
            error_code=attrs.get("error_code") or ("MAX_RECEIVES" if "error_reason" not in attrs else None),
            error_reason=reason,
            receive_count=receives,
            sent_at=datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None,
            source_message_id=attrs.get("source_message_id"),
            truncated=attrs.get("truncated") == "true",
            attributes=attrs,
        )

    def _release(self, dlq_lid: str, letters: list[DeadLetter]) -> None:
        """Make received messages visible again now."""
        url = self.resources[dlq_lid]
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                         for i, d in enumerate(chunk)],
            )

    def peek(self, dlq_lid: str, limit: int | None = None) -> list[DeadLetter]:
        """The messages of a DLQ (up to ``limit``), left in place and visible again."""
        letters = self._receive_all(dlq_lid, PEEK_VISIBILITY_S, limit)
        self._release(dlq_lid, letters)
        return sorted(letters, key=lambda d: (d.sent_at or datetime.min.replace(tzinfo=UTC), d.message_id))

    # -------------------------------------------------------------------------------------- redriving
    def redrive(self, dlq_lid: str, *, max_messages: int | None = None, error_code: str | None = None) -> RedriveResult:
        """Send messages back to the source queue (send, then delete), optionally only those with ``error_code``.

        A DLQ with no source queue that holds stream batch descriptions (``AggregatesDLQ``) is redriven by replaying
        each batch from the stream (``replay``), then deleting its message."""
        try:
            target_lid, target_url = self.source_of(dlq_lid)
        except DeadLetterError:
            if self.replay is None:
                raise
            return self._replay_all(dlq_lid, max_messages=max_messages)
        result = RedriveResult(dlq_lid, target_lid)
        letters = self._receive_all(dlq_lid, PEEK_VISIBILITY_S, None)
        chosen: list[DeadLetter] = []
        keep: list[DeadLetter] = []
        for d in sorted(letters, key=lambda d: (d.sent_at or datetime.min.replace(tzinfo=UTC), d.message_id)):
            wanted = error_code is None or (d.error_code or "").upper() == error_code.upper()
            if wanted and (max_messages is None or len(chosen) < max_messages):
                chosen.append(d)
            else:
                keep.append(d)
        now_ms = str(int(time.time() * 1000))
        for start in range(0, len(chosen), 10):
            chunk = chosen[start : start + 10]
            resp = self.sqs.send_message_batch(
                QueueUrl=target_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": d.body,
                        "MessageAttributes": {
                            "redriven_from": {"DataType": "String", "StringValue": dlq_lid},
                            "redriven_at": {"DataType": "Number", "StringValue": now_ms},
                        },
                    }
                    for i, d in enumerate(chunk)
                ],
            )
            failed_ids = {int(f["Id"]) for f in resp.get("Failed", [])}
            sent = [d for i, d in enumerate(chunk) if i not in failed_ids]
            result.failed += [d.message_id for i, d in enumerate(chunk) if i in failed_ids]
            keep += [d for i, d in enumerate(chunk) if i in failed_ids]
            if sent:
                deleted = self.sqs.delete_message_batch(
                    QueueUrl=self.resources[dlq_lid],
                    Entries=[{"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(sent)],
                )
                not_deleted = {int(f["Id"]) for f in deleted.get("Failed", [])}
                result.moved += [d.message_id for i, d in enumerate(sent) if i not in not_deleted]
                result.failed += [d.message_id for i, d in enumerate(sent) if i in not_deleted]
        result.kept = [d.message_id for d in keep]
        self._release(dlq_lid, keep)
        return result

    def _replay_all(self, dlq_lid: str, *, max_messages: int | None) -> RedriveResult:
        assert self.replay is not None
        result = RedriveResult(dlq_lid, "the LeadsTable stream (replayed)")
        letters = sorted(self._receive_all(dlq_lid, PEEK_VISIBILITY_S, None),
                         key=lambda d: (d.sent_at or datetime.min.replace(tzinfo=UTC), d.message_id))
        keep: list[DeadLetter] = []
        for letter in letters:
            batch = stream_batch_of(letter.body)
            if batch is None or (max_messages is not None and len(result.moved) + len(result.failed) >= max_messages):
                keep.append(letter)
                continue
            try:
                self.replay(batch)
            except ReplayError as exc:
                result.errors.append(f"{letter.message_id}: {exc}")
                result.failed.append(letter.message_id)
                keep.append(letter)
                continue
            self.sqs.delete_message(QueueUrl=self.resources[dlq_lid], ReceiptHandle=letter.receipt_handle)
            result.moved.append(letter.message_id)
        result.kept = [d.message_id for d in keep if d.message_id not in result.failed]
        self._release(dlq_lid, keep)
        return result
