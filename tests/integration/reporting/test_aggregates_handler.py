"""ReportAggregatesFunction against moto: LeadsTable stream records in, AGG# items out, report numbers equal to the
lead changes sent, and a batch delivered three times, retried after a partial failure or split by a shard split
counted exactly once (the per-shard high-water marks of adapters/aggregates_store.py)."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from territory_router_tools.adapters.report_store import ReportStore
from territory_router_tools.reporting.model import build_report

REPO = Path(__file__).resolve().parents[3]
ROUTING = "RoutingTable"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
REP_A, REP_B = "005000000000001AAA", "005000000000002AAA"
QUEUE = "00G000000000001AAA"


def _tables(ddb) -> None:
    ddb.create_table(
        TableName=ROUTING, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


@pytest.fixture
def handler(aws_endpoint, monkeypatch):
    from territory_router.adapters import aws

    monkeypatch.setenv("ROUTING_TABLE", ROUTING)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    aws.reset_clients()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    _tables(ddb)
    path = REPO / "functions/report_aggregates/handle_report_aggregates.py"
    spec = importlib.util.spec_from_file_location(f"handle_report_aggregates_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, ddb
    aws.reset_clients()


class Ctx:
    function_name = "ReportAggregatesFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReportAggregatesFunction"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30000


SHARD = "shardId-00000001700000000000-aaaaaaaa"
CHILD = "shardId-00000001700014400000-bbbbbbbb"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/LeadsTable/stream/2026-11-20T00:00:00.000"


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _lead(n: int) -> str:
    return f"00Q0000000000{n:02d}AAA"


def tagged(n: int, territory: str | None = "WEST", method: str = "POLYGON") -> dict:
    item = {"lead_id": _lead(n), "status": "TAGGED", "version": 2, "received_at": _iso(T0 - timedelta(seconds=20)),
            "tag_method": method, "tag_precision": "ROOFTOP", "reroute_count": 0}
    if territory:
        item["territory_id"] = territory
    return item


def assigned(before: dict, owner: str, at: datetime, **kw) -> dict:
    rep = owner.startswith("005")
    item = before | {"status": "ASSIGNED", "version": before["version"] + 1, "owner_id": owner,
                     "owner_kind": "USER" if rep else "QUEUE", "assigned_at": _iso(at),
                     "sla_due_at": int((at + timedelta(hours=1)).timestamp()), "fallback": False} | kw
    if rep:
        item["counted_rep_id"] = owner
    return item


def released(before: dict, status: str, at: datetime) -> dict:
    item = before | {"status": status, "version": before["version"] + 1, "released_at": _iso(at)}
    item.pop("counted_rep_id", None)
    return item


class Stream:
    """Stream records of LeadsTable changes (NEW_AND_OLD_IMAGES), numbered like DynamoDB Streams (21+ digits)."""

    def __init__(self) -> None:
        self.seq = 4421584500000000017450439000

    def record(self, old: dict | None, new: dict | None) -> dict:
        from territory_router.adapters.dynamo import to_item

        self.seq += 137
        body = {"Keys": {"lead_id": {"S": (new or old)["lead_id"]}}, "SequenceNumber": str(self.seq),
                "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1.0}
        if old is not None:
            body["OldImage"] = to_item(old)
        if new is not None:
            body["NewImage"] = to_item(new)
        name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        return {"eventID": uuid.uuid4().hex, "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1", "dynamodb": body, "eventSourceARN": STREAM_ARN}


def _event(records: list[dict], shard: str = SHARD) -> dict:
    return {"Records": records, "shardId": shard, "eventSourceARN": STREAM_ARN,
            "window": {"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=1))}, "state": {},
            "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False}


def _lifecycle(stream: Stream) -> list[dict]:
    """Five leads through assignment, first touch (on time and late), re-route, escalation and close."""
    day2 = T0 + timedelta(days=1)
    t1, t2, t3, t4, t5 = tagged(1), tagged(2), tagged(3, "EAST"), tagged(4, None, "UNTAGGED"), tagged(5, "EAST")
    a1 = assigned(t1, REP_A, T0)
    a2 = assigned(t2, REP_B, T0 + timedelta(minutes=1))
    a3 = assigned(t3, REP_A, T0 + timedelta(minutes=2), fallback=True)
    a4 = assigned(t4, QUEUE, T0 + timedelta(minutes=3), fallback=True, tag_precision="NONE")
    a5 = assigned(t5, REP_B, day2 - timedelta(hours=2))
    attended1 = released(a1, "ATTENDED", T0 + timedelta(minutes=20))
    attended3 = released(a3, "ATTENDED", T0 + timedelta(minutes=2 + 90))
    rerouted2 = a2 | {"version": a2["version"] + 1, "owner_id": REP_A, "counted_rep_id": REP_A, "reroute_count": 1,
                      "rerouted_at": _iso(T0 + timedelta(hours=2)), "assigned_at": _iso(T0 + timedelta(hours=2)),
                      "previous_owners": [REP_B]}
    escalated5 = a5 | {"version": a5["version"] + 1, "status": "ESCALATED", "owner_id": QUEUE, "owner_kind": "QUEUE",
                       "assigned_at": _iso(day2), "previous_owners": [REP_B]}
    escalated5.pop("counted_rep_id")
    closed2 = released(rerouted2, "CLOSED", day2 + timedelta(hours=1))
    claim = a1 | {"writeback_claim": "k", "writeback_claimed_at": 1}  # the writeback's own write: no fact
    return [stream.record(None, tagged(1) | {"status": "RECEIVED"}), stream.record(t1, a1), stream.record(t2, a2),
            stream.record(a1, claim), stream.record(t3, a3), stream.record(t4, a4), stream.record(claim, attended1),
            stream.record(a3, attended3), stream.record(a2, rerouted2), stream.record(t5, a5),
            stream.record(a5, escalated5), stream.record(rerouted2, closed2)]


def _report(ddb):
    store = ReportStore(ddb, ROUTING)
    start, end = date(2026, 11, 19), date(2026, 11, 22)
    items = store.aggregate_items([start + timedelta(days=i) for i in range(4)])
    return build_report(items, start=start, end=end, generated_at=T0)


def _check_lifecycle_report(ddb) -> None:
    model = _report(ddb)
    by_id = {r.territory_id: r.counters for r in model.territories}
    assert by_id["WEST"] == {"assigned": 2, "tag_POLYGON": 2, "precision_ROOFTOP": 2, "attended": 1, "tta_sum_s": 20 + 80,
                             "tta_count": 2, "ttft_sum_s": 1200, "ttft_count": 1, "rerouted": 1, "sla_breaches": 1,
                             "closed": 1}
    assert by_id["EAST"] == {"assigned": 2, "tag_POLYGON": 2, "precision_ROOFTOP": 2, "fallback": 1, "attended": 1,
                             "attended_late": 1, "sla_breaches": 2, "ttft_sum_s": 5400, "ttft_count": 1,
                             "escalated": 1, "tta_sum_s": (120 + 20) + (22 * 3600 + 20), "tta_count": 2}
    assert by_id["(none)"]["assigned"] == 1 and by_id["(none)"]["fallback"] == 1
    reps = {r.rep.rep_id: r.counters for r in model.reps}
    assert reps[REP_A] == {"assigned": 2, "attended": 2, "attended_late": 1, "sla_breaches": 1, "ttft_sum_s": 6600,
                           "ttft_count": 2, "rerouted_in": 1, "closed": 1}
    assert reps[REP_B] == {"assigned": 2, "missed": 2, "sla_breaches": 2}
    assert QUEUE not in reps


def test_lead_changes_become_report_numbers_and_a_batch_delivered_three_times_counts_once(handler):
    module, ddb = handler
    records = _lifecycle(Stream())
    for _ in range(3):
        assert module.lambda_handler(_event(records), Ctx()) == {"state": {}, "batchItemFailures": []}
    _check_lifecycle_report(ddb)


def test_a_retry_reaching_further_counts_only_what_is_new(handler):
    module, ddb = handler
    records = _lifecycle(Stream())
    module.lambda_handler(_event(records[:6]), Ctx())
    module.lambda_handler(_event(records[3:]), Ctx())  # overlaps: a retried batch that reaches further
    module.lambda_handler(_event(records[3:]), Ctx())
    _check_lifecycle_report(ddb)


def test_a_retry_after_a_partial_failure_counts_the_rest_exactly_once(handler, monkeypatch):
    module, ddb = handler
    records = _lifecycle(Stream())
    store = module._store()
    real = store.ddb.update_item
    from botocore.exceptions import ClientError

    def throttled(**kw):
        if kw["Key"]["sk"]["S"] == "TERRITORY#EAST":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                              "UpdateItem")
        return real(**kw)

    monkeypatch.setattr(store.ddb, "update_item", throttled)
    result = module.lambda_handler(_event(records), Ctx())
    (failure,) = result["batchItemFailures"]
    assert failure["itemIdentifier"] == records[4]["dynamodb"]["SequenceNumber"]  # lead 3's assignment: first EAST
    partial = {r.territory_id: r.counters for r in _report(ddb).territories}
    assert "EAST" not in partial and partial["WEST"]["assigned"] == 2  # the other items are counted already
    monkeypatch.setattr(store.ddb, "update_item", real)
    # Lambda retries from the failed record (ReportBatchItemFailures); with bisect it may also send halves again.
    position = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == failure["itemIdentifier"])
    assert module.lambda_handler(_event(records[position:]), Ctx())["batchItemFailures"] == []
    assert module.lambda_handler(_event(records[: len(records) // 2]), Ctx())["batchItemFailures"] == []
    _check_lifecycle_report(ddb)


def test_a_record_it_cannot_read_is_the_failure_and_the_rest_is_counted(handler):
    module, ddb = handler
    stream = Stream()
    good = stream.record(tagged(7), assigned(tagged(7), REP_A, T0))
    bad = stream.record(tagged(8), tagged(8) | {"status": "ASSIGNED", "owner_id": REP_B})  # no assigned_at
    later = stream.record(tagged(9), assigned(tagged(9), REP_B, T0))
    result = module.lambda_handler(_event([good, bad, later]), Ctx())
    assert result["batchItemFailures"] == [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]
    module.lambda_handler(_event([bad, later]), Ctx())  # the retry from the failure: still not readable
    reps = {r.rep.rep_id: r.counters for r in _report(ddb).reps}
    assert reps[REP_A]["assigned"] == 1 and reps[REP_B]["assigned"] == 1


def test_a_child_shard_starts_its_own_mark(handler):
    module, ddb = handler
    stream = Stream()
    parent = [stream.record(tagged(n), assigned(tagged(n), REP_A, T0)) for n in (1, 2)]
    # After a shard split the child's sequence numbers may be lower than the parent's last one: its own mark.
    stream.seq -= 10_000
    child = [stream.record(tagged(n), assigned(tagged(n), REP_A, T0)) for n in (3, 4)]
    module.lambda_handler(_event(parent), Ctx())
    module.lambda_handler(_event(child, CHILD), Ctx())
    module.lambda_handler(_event(parent), Ctx())
    module.lambda_handler(_event(child, CHILD), Ctx())
    assert {r.rep.rep_id: r.counters for r in _report(ddb).reps}[REP_A]["assigned"] == 4
    item = ddb.get_item(TableName=ROUTING, Key={"pk": {"S": "AGG#2026-11-20"}, "sk": {"S": f"REP#{REP_A}"}})["Item"]
    assert item[f"seq#{SHARD}"]["S"] == parent[-1]["dynamodb"]["SequenceNumber"].zfill(40)
    assert item[f"seq#{CHILD}"]["S"] == child[-1]["dynamodb"]["SequenceNumber"].zfill(40)


def test_without_a_shard_id_the_batch_is_refused_not_guessed(handler):
    module, _ddb = handler
    event = _event(_lifecycle(Stream()))
    del event["shardId"]
    with pytest.raises(ValueError, match="TumblingWindowInSeconds"):
        module.lambda_handler(event, Ctx())
    assert module.lambda_handler({"Records": [], "isFinalInvokeForWindow": True, "state": {}}, Ctx()) == {
        "state": {}, "batchItemFailures": []}
