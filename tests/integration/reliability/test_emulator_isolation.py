"""The local emulator gives no dirty reads: a read never sees a transaction half applied.

moto applies TransactWriteItems item by item and undoes them when a later item's condition fails. Without
isolation, a read in between saw a lead "assigned" by a transaction that was then cancelled; a duplicate
AssignRequest announced that owner and Salesforce got two owners for one lead (found by test_races.py). Real
DynamoDB never shows uncommitted transaction writes; ``territory_router_tools.local.moto_patches`` must not either.
"""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError


def test_reads_never_see_a_cancelled_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.server import ThreadedMotoServer

    from territory_router_tools.local import moto_patches

    moto_patches.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://{host}:{port}")
        ddb.create_table(TableName="isolation", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.put_item(TableName="isolation", Item={"pk": {"S": "counter"}, "n": {"N": "3"}})

        written = threading.Event()
        original = DynamoDBBackend.update_item

        def slow_update(self, table_name, key, *args, **kwargs):
            result = original(self, table_name, key, *args, **kwargs)
            if table_name == "isolation" and key.get("pk", {}).get("S") == "lead":
                written.set()
                time.sleep(0.5)  # the lead is written; the next item of the transaction will fail
            return result

        monkeypatch.setattr(DynamoDBBackend, "update_item", slow_update)
        seen: list[dict | None] = []

        def reader() -> None:
            assert written.wait(10)
            seen.append(ddb.get_item(TableName="isolation", Key={"pk": {"S": "lead"}}).get("Item"))

        thread = threading.Thread(target=reader)
        thread.start()
        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "isolation", "Key": {"pk": {"S": "lead"}},
                            "UpdateExpression": "SET owner_id = :o", "ConditionExpression": "attribute_not_exists(pk)",
                            "ExpressionAttributeValues": {":o": {"S": "005A"}}}},
                {"ConditionCheck": {"TableName": "isolation", "Key": {"pk": {"S": "counter"}},
                                    "ConditionExpression": "n < :cap", "ExpressionAttributeValues": {":cap": {"N": "3"}}}},
            ])
        thread.join(10)
        assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert seen == [None], "a read saw a write of a transaction that was then cancelled"
        assert "Item" not in ddb.get_item(TableName="isolation", Key={"pk": {"S": "lead"}})
    finally:
        server.stop()


def test_a_cancelled_transaction_streams_nothing() -> None:
    """DynamoDB streams the items of a committed transaction only. moto streamed every item it applied before the
    cancellation (and its undo): the report aggregates, which read the LeadsTable's stream, then counted a phantom
    assignment and the retry's real one."""
    from moto.server import ThreadedMotoServer

    from territory_router_tools.local import moto_patches

    moto_patches.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=endpoint)
        table = ddb.create_table(
            TableName="streamed", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        arn = table["TableDescription"]["LatestStreamArn"]
        ddb.put_item(TableName="streamed", Item={"pk": {"S": "lead"}, "status": {"S": "TAGGED"}})
        ddb.put_item(TableName="streamed", Item={"pk": {"S": "counter"}, "n": {"N": "3"}})

        def assign(limit: int) -> None:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "streamed", "Key": {"pk": {"S": "lead"}},
                            "UpdateExpression": "SET #s = :a", "ConditionExpression": "#s = :t",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":a": {"S": "ASSIGNED"}, ":t": {"S": "TAGGED"}}}},
                {"Update": {"TableName": "streamed", "Key": {"pk": {"S": "counter"}},
                            "UpdateExpression": "ADD n :one", "ConditionExpression": "n < :cap",
                            "ExpressionAttributeValues": {":one": {"N": "1"}, ":cap": {"N": str(limit)}}}},
            ])

        with pytest.raises(ClientError):
            assign(limit=3)  # the counter is full: cancelled after moto applied the lead's update
        assign(limit=10)

        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        changes = [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"],
                    r["dynamodb"].get("OldImage", {}).get("status", {}).get("S"),
                    r["dynamodb"].get("NewImage", {}).get("status", {}).get("S")) for r in records]
        lead_changes = [c for c in changes if c[1] == "lead"]
        assert lead_changes == [("INSERT", "lead", None, "TAGGED"), ("MODIFY", "lead", "TAGGED", "ASSIGNED")]
        assert [c[0] for c in changes if c[1] == "counter"] == ["INSERT", "MODIFY"]
        sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert sequence == sorted(set(sequence))
    finally:
        server.stop()
