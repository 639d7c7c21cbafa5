"""ReportAggregatesFunction against moto: app events in, AGG# items out, report numbers equal to the events sent,
and a fact delivered twice (same event, or the same assignment announced again) counted once."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from territory_router_tools.adapters.report_store import ReportStore
from territory_router_tools.reporting.model import build_report

REPO = Path(__file__).resolve().parents[3]
ROUTING, IDEMPOTENCY = "RoutingTable", "IdempotencyTable"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
REP_A, REP_B = "005000000000001AAA", "005000000000002AAA"
QUEUE = "00G000000000001AAA"


def _tables(ddb) -> None:
    ddb.create_table(
        TableName=ROUTING, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    ddb.create_table(
        TableName=IDEMPOTENCY, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


@pytest.fixture
def handler(aws_endpoint, monkeypatch):
    from territory_router.adapters import aws

    monkeypatch.setenv("ROUTING_TABLE", ROUTING)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY)
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


def _event(detail_type: str, detail: dict, event_id: str | None = None) -> dict:
    return {"version": "0", "id": event_id or str(uuid.uuid4()), "detail-type": detail_type, "source": "territory-router",
            "account": "123456789012", "time": T0.isoformat(), "region": "us-east-1", "resources": [], "detail": detail}


def _sqs(events: list[dict]) -> dict:
    return {"Records": [
        {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": json.dumps(e), "attributes": {},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:AggregatesQueue", "awsRegion": "us-east-1"}
        for e in events
    ]}


def _assigned(lead: str, territory: str | None, owner: str, at: datetime, method="POLYGON", **extra) -> dict:
    return {"lead_id": lead, "owner_id": owner, "owner_kind": "USER" if owner.startswith("005") else "QUEUE",
            "territory_id": territory, "tag_method": method, "assigned_at": at.isoformat(),
            "sla_due_at": (at + timedelta(hours=1)).isoformat(), "reroute_count": 0, **extra}


def _attended(lead: str, territory: str, owner: str, assigned: datetime, at: datetime) -> dict:
    return {"lead_id": lead, "status": "ATTENDED", "owner_id": owner, "territory_id": territory,
            "assigned_at": assigned.isoformat(), "sla_due_at": (assigned + timedelta(hours=1)).isoformat(), "at": at.isoformat()}


def _lead(n: int) -> str:
    return f"00Q0000000000{n:02d}AAA"


def test_events_become_report_numbers_and_duplicates_count_once(handler):
    module, ddb = handler
    day2 = T0 + timedelta(days=1)
    events = [
        _event("LeadAssigned", _assigned(_lead(1), "WEST", REP_A, T0)),
        _event("LeadAssigned", _assigned(_lead(2), "WEST", REP_B, T0 + timedelta(minutes=1), method="NEAREST")),
        _event("LeadAssigned", _assigned(_lead(3), "EAST", REP_A, T0 + timedelta(minutes=2), fallback=True)),
        _event("LeadAssigned", _assigned(_lead(4), None, QUEUE, T0 + timedelta(minutes=3), method="UNTAGGED", fallback=True)),
        _event("LeadAttended", _attended(_lead(1), "WEST", REP_A, T0, T0 + timedelta(minutes=20))),  # on time
        _event("LeadAttended", _attended(_lead(3), "EAST", REP_A, T0, T0 + timedelta(minutes=90))),  # late
        _event("LeadRerouted", {**_assigned(_lead(2), "WEST", REP_A, T0 + timedelta(hours=2)), "previous_owner_id": REP_B,
                                "reroute_count": 1}),
        _event("LeadEscalated", {**_assigned(_lead(5), "EAST", QUEUE, day2), "previous_owner_id": REP_B}),
        _event("LeadClosed", {"lead_id": _lead(1), "status": "CLOSED", "owner_id": REP_A, "territory_id": "WEST",
                              "at": (day2 + timedelta(hours=1)).isoformat()}),
    ]
    assert module.lambda_handler(_sqs(events), Ctx()) == {"batchItemFailures": []}
    # Redelivery: the same events again (EventBridge -> SQS at least once), and the first assignment announced
    # again with a new EventBridge id (an assignment message redelivered re-announces the stored decision).
    again = events[:3] + [_event("LeadAssigned", events[0]["detail"])]
    assert module.lambda_handler(_sqs(again), Ctx()) == {"batchItemFailures": []}

    store = ReportStore(ddb, ROUTING)
    start, end = date(2026, 11, 19), date(2026, 11, 22)
    items = store.aggregate_items([start + timedelta(days=i) for i in range(4)])
    assert store.queries == 4  # one Query per day, no Scan
    model = build_report(items, start=start, end=end, generated_at=T0)
    by_id = {r.territory_id: r.counters for r in model.territories}
    # precision_*: how precisely the assigned leads were located (from the tag method when the event has none)
    assert by_id["WEST"] == {"assigned": 2, "tag_POLYGON": 1, "tag_NEAREST": 1, "precision_ROOFTOP": 2, "attended": 1,
                             "ttft_sum_s": 1200, "ttft_count": 1, "rerouted": 1, "sla_breaches": 1, "closed": 1}
    assert by_id["EAST"] == {"assigned": 1, "tag_POLYGON": 1, "precision_ROOFTOP": 1, "fallback": 1, "attended": 1,
                             "attended_late": 1, "sla_breaches": 2, "ttft_sum_s": 5400, "ttft_count": 1, "escalated": 1}
    assert by_id["(none)"] == {"assigned": 1, "tag_UNTAGGED": 1, "precision_NONE": 1, "fallback": 1}
    reps = {r.rep.rep_id: r.counters for r in model.reps}
    assert reps[REP_A] == {"assigned": 2, "attended": 2, "attended_late": 1, "sla_breaches": 1, "ttft_sum_s": 6600,
                           "ttft_count": 2, "rerouted_in": 1, "closed": 1}
    assert reps[REP_B] == {"assigned": 1, "missed": 2, "sla_breaches": 2}
    assert QUEUE not in reps  # queues own leads but are not reps
    assert model.totals["assigned"] == 4 and model.totals["sla_breaches"] == 3
    # per day: the escalation and the close happened on the second day
    assert model.daily["2026-11-21"]["EAST"] == {"escalated": 1, "sla_breaches": 1}
    assert model.daily["2026-11-21"]["WEST"] == {"closed": 1}


def test_an_event_it_does_not_understand_is_retried_alone(handler):
    module, _ddb = handler
    good = _event("LeadAssigned", _assigned(_lead(7), "WEST", REP_A, T0))
    bad = _event("LeadAssigned", {"lead_id": _lead(8)})  # no owner, no assigned_at
    other = _event("SomethingElse", {})
    event = _sqs([good, bad, other])
    result = module.lambda_handler(event, Ctx())
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][2]["messageId"]}
    items = ReportStore(_ddb, ROUTING).aggregate_items([T0.date()])
    assert [i["assigned"] for i in items if i["sk"] == "TERRITORY#WEST"] == [1]


def test_per_territory_metrics_only_for_facts_counted_now(handler, capsys, monkeypatch):
    module, _ddb = handler
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    module.metrics.clear_metrics()  # powertools keeps one metric set per process; disabled runs never flushed it
    events = [
        _event("LeadAttended", _attended(_lead(3), "EAST", REP_A, T0, T0 + timedelta(minutes=90))),  # late
        _event("LeadEscalated", {**_assigned(_lead(5), "EAST", QUEUE, T0), "previous_owner_id": REP_B}),
        _event("LeadRerouted", {**_assigned(_lead(2), "WEST", REP_A, T0), "previous_owner_id": REP_B}),
    ]
    module.lambda_handler(_sqs(events), Ctx())
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    by_territory = {d["Territory"]: d for d in docs if "Territory" in d}
    assert by_territory["EAST"]["SlaBreaches"] == [2.0]  # late first touch + escalation
    assert by_territory["EAST"]["TimeToFirstTouch"] == [5400.0]
    assert by_territory["EAST"]["LeadsEscalated"] == [1.0] and by_territory["WEST"]["LeadsRerouted"] == [1.0]
    service = next(d for d in docs if "Territory" not in d)
    assert sum(_as_list(service["AggregateEventsCounted"])) == 3
    assert sum(_as_list(service["SlaBreaches"])) == 1  # late first touch; re-routes/escalations: LeadRerouteFunction
    module.lambda_handler(_sqs(events), Ctx())  # the same three again
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert not [d for d in docs if "Territory" in d]
    assert sum(_as_list(next(d for d in docs if "Territory" not in d)["AggregateDuplicatesSkipped"])) == 3


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_big_mixed_batch_spans_transactions_and_counts_each_fact_once(handler):
    module, ddb = handler
    old = _event("LeadAssigned", _assigned(_lead(99), "T0", REP_A, T0))
    module.lambda_handler(_sqs([old]), Ctx())  # counted before
    events = [
        _event("LeadAssigned", _assigned(f"00Q00000000{n:04d}AAA", f"T{n % 30}", f"0050000000000{n % 40:02d}AAA",
                                         T0 + timedelta(seconds=n)))
        for n in range(90)  # ~170 distinct items: several transactions of at most 100
    ]
    batch = [*events[:45], events[3], old, *events[45:]]  # a repeat inside the batch, and one counted before
    assert module.lambda_handler(_sqs(batch), Ctx()) == {"batchItemFailures": []}
    items = ReportStore(ddb, ROUTING).aggregate_items([T0.date()])
    territories = {i["sk"]: i["assigned"] for i in items if i["sk"].startswith("TERRITORY#")}
    assert sum(territories.values()) == 91 and territories["TERRITORY#T0"] == 4  # 0, 30, 60 and the old one
    reps = [i["assigned"] for i in items if i["sk"].startswith("REP#")]
    assert sum(reps) == 91
