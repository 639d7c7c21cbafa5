"""Tables of the assignment tests, created per test on the moto server as docs/architecture.md describes them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import pytest

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.adapters.roster_store import clear_roster_cache

LEADS = "LeadsTable"
ROUTING = "RoutingTable"
BUCKET = "territory-bucket"


def create_tables(ddb) -> None:
    ddb.create_table(
        TableName=LEADS,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "lead_id", "AttributeType": "S"},
            {"AttributeName": "reroute_shard", "AttributeType": "S"},
            {"AttributeName": "sla_due_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "lead_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "RerouteDueIndex",
                "KeySchema": [
                    {"AttributeName": "reroute_shard", "KeyType": "HASH"},
                    {"AttributeName": "sla_due_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.create_table(
        TableName=ROUTING,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


@pytest.fixture
def aws(aws_endpoint: str) -> Iterator[dict]:
    clear_roster_cache()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    create_tables(ddb)
    s3.create_bucket(Bucket=BUCKET)
    yield {"ddb": ddb, "s3": s3}
    clear_roster_cache()


@pytest.fixture
def store(aws: dict) -> DynamoLeadStore:
    return DynamoLeadStore.on_tables(aws["ddb"], LEADS, ROUTING, s3_client=aws["s3"], bucket=BUCKET)


@pytest.fixture
def serialized_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto applies a TransactWriteItems item by item, without isolation between server threads (and restores a
    table snapshot on failure). Real DynamoDB transactions are serializable; emulate that by handling one
    DynamoDB request at a time inside the in-process moto server."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self):  # type: ignore[no-untyped-def]
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
