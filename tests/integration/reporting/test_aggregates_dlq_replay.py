"""AggregatesDLQ holds descriptions of stream batches the report aggregates gave up on (Lambda's on-failure
destination sends ``DDBStreamBatchInfo``, not the records). ``dlq redrive`` reads the records back from the stream
and counts them with the function's own rule: once, however often it is replayed; a batch whose records left the
stream stays in the DLQ with the reason."""

from __future__ import annotations

import json

import boto3
import pytest

from territory_router.adapters.aggregates_store import AggregatesStore
from territory_router.adapters.dynamo import to_attr
from territory_router_tools.adapters.dlq import DeadLetterQueues
from territory_router_tools.adapters.stream_replay import replay_stream_batch

LEADS, ROUTING = "LeadsTable", "RoutingTable"
REP = "005000000000001AAA"


@pytest.fixture
def aws(aws_endpoint):
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws_endpoint)
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=aws_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws_endpoint)
    table = ddb.create_table(
        TableName=LEADS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lead_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lead_id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.create_table(
        TableName=ROUTING, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    dlq = sqs.create_queue(QueueName="AggregatesDLQ")["QueueUrl"]
    return ddb, streams, sqs, dlq, table["TableDescription"]["LatestStreamArn"]


def _assign(ddb, n: int) -> None:
    lead = f"00Q0000000000{n:02d}AAA"
    ddb.put_item(TableName=LEADS, Item={k: to_attr(v) for k, v in {
        "lead_id": lead, "status": "TAGGED", "version": 2, "territory_id": "WEST", "tag_method": "POLYGON",
        "tag_precision": "ROOFTOP", "received_at": "2026-11-20T15:00:00Z", "reroute_count": 0}.items()})
    ddb.update_item(TableName=LEADS, Key={"lead_id": to_attr(lead)},
                    UpdateExpression="SET #s = :a, owner_id = :o, owner_kind = :k, counted_rep_id = :o, "
                                     "assigned_at = :t, version = :v",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={k: to_attr(v) for k, v in {
                        ":a": "ASSIGNED", ":o": REP, ":k": "USER", ":t": "2026-11-20T15:00:30Z", ":v": 3}.items()})


def _batch(streams, arn: str) -> dict:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return {"shardId": shard, "streamArn": arn, "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"], "batchSize": len(records)}


def _dead_letter(sqs, dlq: str, batch: dict) -> None:
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 101},
        "DDBStreamBatchInfo": batch}))


def _assigned(ddb) -> int:
    item = ddb.get_item(TableName=ROUTING, Key={"pk": to_attr("AGG#2026-11-20"), "sk": to_attr("TERRITORY#WEST")})
    return int(item.get("Item", {}).get("assigned", {}).get("N", 0))


def test_redrive_replays_the_batch_from_the_stream_once(aws) -> None:
    ddb, streams, sqs, dlq, arn = aws
    for n in range(3):
        _assign(ddb, n)
    batch = _batch(streams, arn)
    store = AggregatesStore(ddb, ROUTING)
    queues = DeadLetterQueues(sqs, {"AggregatesDLQ": dlq},
                              replay=lambda info: replay_stream_batch(streams, store, info))

    _dead_letter(sqs, dlq, batch)
    listed = queues.peek("AggregatesDLQ")
    assert [d.error_code for d in listed] == ["STREAM_BATCH"] and "replays them" in listed[0].error_reason
    _dead_letter(sqs, dlq, batch)  # delivered twice to the DLQ
    first = queues.redrive("AggregatesDLQ")
    assert len(first.moved) == 2 and first.failed == []
    assert _assigned(ddb) == 3
    _dead_letter(sqs, dlq, batch)  # the same batch again: nothing counted twice
    again = queues.redrive("AggregatesDLQ")
    assert len(again.moved) == 1 and _assigned(ddb) == 3
    assert queues.depth("AggregatesDLQ") == 0


def test_a_batch_gone_from_the_stream_stays_with_its_reason(aws) -> None:
    ddb, streams, sqs, dlq, arn = aws
    _assign(ddb, 1)
    batch = _batch(streams, arn)
    gone = dict(batch, startSequenceNumber=str(int(batch["endSequenceNumber"]) + 100),
                endSequenceNumber=str(int(batch["endSequenceNumber"]) + 200))
    _dead_letter(sqs, dlq, gone)
    store = AggregatesStore(ddb, ROUTING)
    result = DeadLetterQueues(sqs, {"AggregatesDLQ": dlq},
                              replay=lambda info: replay_stream_batch(streams, store, info)).redrive("AggregatesDLQ")
    assert result.moved == [] and len(result.failed) == 1
    assert "no longer in the stream" in result.errors[0]
    assert _assigned(ddb) == 0


def test_without_a_replay_a_dlq_with_no_source_queue_is_refused(aws) -> None:
    _, _, sqs, dlq, _ = aws
    from territory_router_tools.adapters.dlq import DeadLetterError

    with pytest.raises(DeadLetterError, match="no source queue"):
        DeadLetterQueues(sqs, {"AggregatesDLQ": dlq}).redrive("AggregatesDLQ")
