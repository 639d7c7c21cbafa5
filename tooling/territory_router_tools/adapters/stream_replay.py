"""Replay a LeadsTable stream batch the report aggregates gave up on (an ``AggregatesDLQ`` message).

Lambda's stream mapping sends the on-failure destination a description of the batch, not its records
(``DDBStreamBatchInfo``: stream ARN, shard id, first and last sequence numbers; see docs/reliability.md). The records
stay in the stream for 24 hours: this reads them back from the shard and counts them with the function's own rule
(``services.report_aggregates``). The per-shard high-water marks make it safe to replay a batch that was partly
counted, or twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

STREAM_BATCH_KEY = "DDBStreamBatchInfo"


class ReplayError(RuntimeError):
    """The batch could not be counted (records gone from the stream, or not countable): the message stays."""


def stream_batch_of(body: str) -> dict[str, Any] | None:
    """The ``DDBStreamBatchInfo`` of an on-failure destination message, None for any other message."""
    try:
        info = json.loads(body).get(STREAM_BATCH_KEY)
    except (ValueError, AttributeError):
        return None
    if not isinstance(info, Mapping) or not all(info.get(k) for k in ("streamArn", "shardId", "startSequenceNumber",
                                                                        "endSequenceNumber")):
        return None
    return dict(info)


def _records(streams: Any, info: Mapping[str, Any]) -> list[dict[str, Any]]:
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=str(info["startSequenceNumber"]))["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        got = page.get("Records") or []
        for record in got:
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append(record)
        if not got:
            break
        iterator = page.get("NextShardIterator")
    if not records or int(records[0]["dynamodb"]["SequenceNumber"]) != start:
        raise ReplayError(f"shard {info['shardId']}: the records from {start} are no longer in the stream "
                          "(DynamoDB keeps them 24 hours); the aggregates of that batch cannot be recounted")
    return records


def replay_stream_batch(streams: Any, store: Any, info: Mapping[str, Any], *, now: datetime | None = None) -> int:
    """Count the described batch again (what was counted before is skipped); the number of records read."""
    from territory_router.services.report_aggregates import count_stream_batch

    try:
        records = _records(streams, info)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ReplayError(f"shard {info.get('shardId')}: {error.get('Code')}: {error.get('Message')}") from exc
    counted = count_stream_batch(store, str(info["shardId"]), records, now=now or datetime.now(UTC))
    if counted.failed_from is not None:
        why = "; ".join(counted.unreadable + counted.outcome.errors)[:500]
        raise ReplayError(f"shard {info['shardId']}: not counted from {counted.failed_from}: {why}")
    return len(records)
