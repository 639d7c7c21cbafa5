"""SalesforceWritebackFunction against the embedded AWS (moto) and the test org: limits and refusals.

A small Lambda poller drives the real handler: it receives from WritebackQueue (with the template's redrive
policy), invokes the handler, deletes what succeeded and leaves the rest, as the SQS event source does. Time is
simulated: the org's clock and the emulator's SQS clock move together, so a test lives through a day in seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from territory_router.adapters.dynamo import from_item
from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.adapters.roster_store import clear_roster_cache
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.roster import parse_roster, sf_id18
from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest, LeadAssignedDetail
from territory_router_tools.local import moto_patches
from territory_router_tools.local.runtime import LambdaContext
from territory_router_tools.salesforce.fake_org import FakeOrg

REPO = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
LEADS, ROUTING, BUCKET, SECRET, BUS = "LeadsTable", "RoutingTable", "territory-bucket", "tr/salesforce", "app-bus"
REPS = [sf_id18(f"005{n:012d}") for n in range(1, 4)]
QUEUE = sf_id18("00G000000000001")


def _template_redrive() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    doc = yaml_parse((REPO / "template.yaml").read_text())
    return doc["Resources"]["WritebackQueue"]["Properties"]


class World:
    def __init__(self, org: FakeOrg) -> None:
        self.org = org
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.store = DynamoLeadStore.on_tables(self.ddb, LEADS, ROUTING, s3_client=boto3.client("s3", region_name=REGION),
                                               bucket=BUCKET)
        self.handler: Any = None
        self.queue_props = _template_redrive()
        self.receives: dict[str, int] = {}

    def queue_url(self, name: str) -> str:
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def send(self, detail: LeadAssignedDetail, detail_type: str = "LeadAssigned") -> None:
        body = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "territory-router",
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": detail.model_dump(mode="json")}
        self.sqs.send_message(QueueUrl=self.queue_url("WritebackQueue"), MessageBody=json.dumps(body))

    # --- the Lambda poller
    def poll(self) -> int:
        """One receive + invocation, as the SQS event source does it. Returns the messages received."""
        url = self.queue_url("WritebackQueue")
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                       WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return 0
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m["Attributes"], "eventSource": "aws:sqs"} for m in got]
        for m in got:
            self.receives[m["MessageId"]] = int(m["Attributes"]["ApproximateReceiveCount"])
        context = LambdaContext("SalesforceWritebackFunction", 512, "arn:aws:lambda:us-east-1:123:function:x",
                                str(uuid.uuid4()), time.monotonic() + 60)
        response = self.handler(event={"Records": records}, context=context)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = [m for m in got if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(got)

    def advance(self, seconds: float) -> None:
        moto_patches.advance_clock(seconds)
        self.org.advance(seconds)

    def depth(self, name: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(name), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def captured(self) -> list[dict[str, Any]]:
        url = self.queue_url("app-events")
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            out += [json.loads(m["Body"]) for m in got]
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])

    def lead(self, lead_id: str) -> dict[str, Any]:
        return self.store.get_lead(lead_id) or {}

    def loads(self) -> dict[str, int]:
        return {r: load.open_leads for r, load in self.store.loads(REPS).items()}


def _create_tables(ddb) -> None:
    ddb.create_table(
        TableName=LEADS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lead_id", "AttributeType": "S"},
                              {"AttributeName": "reroute_shard", "AttributeType": "S"},
                              {"AttributeName": "sla_due_at", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "lead_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "RerouteDueIndex", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "reroute_shard", "KeyType": "HASH"},
                                               {"AttributeName": "sla_due_at", "KeyType": "RANGE"}]}],
    )
    ddb.create_table(
        TableName=ROUTING, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


def _load_handler():
    path = REPO / "functions/salesforce_writeback/handle_salesforce_writeback.py"
    spec = importlib.util.spec_from_file_location("handle_salesforce_writeback_limits", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def world(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from aws_lambda_powertools.utilities.parameters import base

    from territory_router.adapters import aws

    clear_roster_cache()
    with FakeOrg(api_limit=1000) as org:
        w = World(org)
        _create_tables(w.ddb)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        props = w.queue_props
        dlq = w.sqs.create_queue(QueueName="WritebackDLQ")["QueueUrl"]
        dlq_arn = w.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        w.sqs.create_queue(QueueName="WritebackQueue", Attributes={
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"]})})
        capture = w.sqs.create_queue(QueueName="app-events")["QueueUrl"]
        capture_arn = w.sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["territory-router"]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": capture_arn}])
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name=SECRET, SecretString=json.dumps(org.secret()))
        for key, value in {"LEADS_TABLE": LEADS, "ROUTING_TABLE": ROUTING, "TERRITORY_BUCKET": BUCKET,
                           "WRITEBACK_DLQ_URL": dlq, "WRITEBACK_QUEUE_URL": w.queue_url("WritebackQueue"),
                           "APP_EVENT_BUS": BUS, "SALESFORCE_SECRET_NAME": SECRET, "WRITEBACK_ENABLED": "true",
                           "WRITEBACK_PAUSE_API_PERCENT": "80", "POWERTOOLS_METRICS_NAMESPACE": "TerritoryRouter"
                           }.items():
            monkeypatch.setenv(key, value)
        aws.reset_clients()
        base.DEFAULT_PROVIDERS.clear()
        for rep in REPS:
            org.add_user(f"Rep {rep[-4:]}", user_id=rep)
        org.add_queue("Fallback", queue_id=QUEUE)
        module = _load_handler()
        module.clock = org.now  # the function lives on the simulated clock, as SQS and the org do
        w.handler = module.lambda_handler
        try:
            yield w
        finally:
            moto_patches.reset_clock()
            aws.reset_clients()
            base.DEFAULT_PROVIDERS.clear()
            clear_roster_cache()
            os.environ.pop("WRITEBACK_QUEUE_URL", None)


def _roster(w: World) -> None:
    doc = {"default_fallback_owner": QUEUE,
           "reps": [{"rep_id": r, "name": f"Rep {i}", "capacity": 10} for i, r in enumerate(REPS, 1)],
           "groups": [{"group_id": "WEST", "territories": ["WEST"], "members": REPS, "strategy": "round_robin"}]}
    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    w.store.rosters.activate_roster(result.roster, now=datetime.now(UTC))


def _assigned(w: World, n: int) -> list[LeadAssignedDetail]:
    """``n`` leads assigned by the real assignment service (round robin over REPS), held by the org."""
    _roster(w)
    details = []
    for i in range(n):
        lead_id = sf_id18(f"00Q{i:012d}")
        w.org.seed_lead(lead_id, LastName=f"Lead {i}", Company="Acme")
        request = AssignRequest(lead=Lead(lead_id=lead_id, last_name=f"Lead {i}", company="Acme"),
                                tag=TagResult(territory_id="WEST", method=TagMethod.POLYGON))
        outcome = assign_lead(request, store=w.store, now=datetime.now(UTC), default_sla_minutes=60)
        details.append(outcome.detail)
    return details


def test_a_day_of_request_limit_exceeded_loses_no_write_and_dead_letters_none(world: World) -> None:
    w = world
    details = _assigned(w, 12)
    w.org.spend_api()  # other integrations use up the org's allocation: blocked for the next 24 hours
    for d in details:
        w.send(d)

    assert w.poll() == 10
    assert w.poll() == 2  # the first call was refused: the second batch waits without calling (paused)
    patches_after_first_polls = len(w.org.api_requests("PATCH"))
    assert patches_after_first_polls == 1
    assert w.poll() == 0, "deferred messages must stay invisible (Retry-After / 15 minutes)"
    assert w.depth("WritebackQueue") == 12

    simulated = 0
    while w.depth("WritebackQueue") and simulated < 30 * 3600:
        w.advance(300)
        simulated += 300
        while w.poll():
            pass
    assert w.depth("WritebackQueue") == 0 and w.depth("WritebackDLQ") == 0
    assert 24 * 3600 <= simulated <= 25 * 3600  # written as soon as the allocation freed up, not a day later
    for d in details:
        assert w.org.leads[d.lead_id]["OwnerId"] == d.owner_id
    max_receives = max(w.receives.values())
    assert max_receives <= 24 * 4 + 2 < w.queue_props["RedrivePolicy"]["maxReceiveCount"]
    calls = len(w.org.api_requests("PATCH"))
    assert calls <= 24 * 4 + 3  # at most one probe per 15 minutes while refused, then the writes
    print(f"\n  day of REQUEST_LIMIT_EXCEEDED: {len(details)} writes, max receives {max_receives}, "
          f"PATCH calls {calls}, written after {simulated / 3600:.1f} h, DLQ 0")


def test_writeback_pauses_above_the_share_and_resumes(world: World) -> None:
    w = world
    details = _assigned(w, 4)
    w.org.spend_api(850)  # 85 % used by other integrations
    w.send(details[0])
    assert w.poll() == 1 and w.org.leads[details[0].lead_id]["OwnerId"] == details[0].owner_id  # one call, 851/1000
    w.send(details[1])
    w.send(details[2])
    assert w.poll() == 2
    assert len(w.org.api_requests("PATCH")) == 1, "paused: no call while usage is above 80 %"
    assert w.depth("WritebackQueue") == 2 and w.depth("WritebackDLQ") == 0

    w.advance(16 * 60)  # after 15 minutes one call goes (it writes its batch) and tells the usage: still above
    while w.poll():
        pass
    assert len(w.org.api_requests("PATCH")) == 2 and w.depth("WritebackQueue") == 0
    w.send(details[3])
    assert w.poll() == 1 and len(w.org.api_requests("PATCH")) == 2 and w.depth("WritebackQueue") == 1  # paused

    w.advance(24 * 3600)  # the other integrations' spend has aged out
    while w.poll():
        pass
    assert w.depth("WritebackQueue") == 0 and w.depth("WritebackDLQ") == 0
    assert all(w.org.leads[d.lead_id]["OwnerId"] == d.owner_id for d in details)
    assert len(w.org.api_requests("PATCH")) == 3


def test_an_inactive_owner_s_lead_goes_to_the_next_rep_with_counters_exact(world: World, capsys) -> None:
    w = world
    details = _assigned(w, 3)  # round robin: REPS[0], REPS[1], REPS[2]
    assert [d.owner_id for d in details] == REPS and w.loads() == dict.fromkeys(REPS, 1)
    w.org.set_user_active(REPS[0], False)  # the admin deactivated a rep who left; the roster still lists them
    for d in details:
        w.send(d)
    assert w.poll() == 3
    assert w.depth("WritebackQueue") == 0 and w.depth("WritebackDLQ") == 0

    moved = w.lead(details[0].lead_id)
    assert moved["owner_id"] == REPS[1], "the group's next candidate in turn"
    assert moved["previous_owners"] == [REPS[0]] and moved["counted_rep_id"] == REPS[1]
    assert moved["decision"]["refused_owner_id"] == REPS[0]
    assert w.loads() == {REPS[0]: 0, REPS[1]: 2, REPS[2]: 1}  # moved exactly once
    unusable = w.store.unusable_owners()
    assert set(unusable) == {REPS[0]} and unusable[REPS[0]]["code"] == "INACTIVE_OWNER_OR_USER"

    announced = [e for e in w.captured() if e["detail-type"] == "LeadReassigned"]
    assert [e["detail"]["owner_id"] for e in announced] == [REPS[1]]
    # EventBridge's WritebackRule delivers LeadReassigned to the queue: the new owner is written
    w.send(LeadAssignedDetail.model_validate(announced[0]["detail"]), "LeadReassigned")
    w.poll()
    assert w.org.leads[details[0].lead_id]["OwnerId"] == REPS[1]

    # Redelivery of the refused message changes nothing (the owner moved already): counters stay exact
    w.send(details[0])
    w.poll()
    assert w.loads() == {REPS[0]: 0, REPS[1]: 2, REPS[2]: 1} and w.depth("WritebackDLQ") == 0

    # New leads skip the unusable rep
    lead = Lead(lead_id=sf_id18("00Q000000000777"), last_name="New", company="Acme")
    for _ in range(3):
        outcome = assign_lead(AssignRequest(lead=lead.model_copy(update={"lead_id": sf_id18(f"00Q00000000{_}888")}),
                                            tag=TagResult(territory_id="WEST", method=TagMethod.POLYGON)),
                              store=w.store, now=datetime.now(UTC), default_sla_minutes=60)
        assert outcome.detail.owner_id != REPS[0]

    # reps check reports it; reps usable clears it
    from territory_router_tools.cli.reps import cmd_check, cmd_usable

    class Args:
        json = False
        owner_id = REPS[0]

    import territory_router_tools.cli.reps as reps_cli

    reps_cli._store = lambda args: w.store  # the CLI's stack resolution is tested elsewhere
    assert cmd_check(Args()) == 1
    out = capsys.readouterr().out
    assert f"unusable owner Rep 1 ({REPS[0]}): INACTIVE_OWNER_OR_USER" in out and "reps usable" in out
    assert cmd_usable(Args()) == 0 and w.store.unusable_owners() == {}


def test_a_queue_that_does_not_take_leads_falls_back_to_the_default_owner(world: World) -> None:
    w = world
    no_leads = sf_id18("00G000000000077")
    w.org.add_queue("Cases", queue_id=no_leads, sobject_types=("Case",))
    _roster(w)
    lead_id = sf_id18("00Q000000000055")
    w.org.seed_lead(lead_id, LastName="Q", Company="Acme")
    now = datetime.now(UTC)
    w.ddb.put_item(TableName=LEADS, Item={"lead_id": {"S": lead_id}, "status": {"S": "ESCALATED"},
                                          "owner_id": {"S": no_leads}, "owner_kind": {"S": "QUEUE"},
                                          "version": {"N": "3"}, "group_id": {"S": "WEST"},
                                          "territory_id": {"S": "WEST"}, "assigned_at": {"S": now.isoformat()}})
    w.send(LeadAssignedDetail(lead_id=lead_id, owner_id=no_leads, owner_kind="QUEUE", assigned_at=now))
    w.poll()
    item = from_item(w.ddb.get_item(TableName=LEADS, Key={"lead_id": {"S": lead_id}})["Item"])
    assert item["owner_id"] == QUEUE and item["status"] == "ESCALATED"
    assert w.store.unusable_owners()[no_leads]["code"] == "FIELD_INTEGRITY_EXCEPTION"
    assert not any(w.loads().values()) and w.depth("WritebackDLQ") == 0  # no counter moved


def test_a_rotated_secret_is_used_without_a_cold_start(world: World) -> None:
    w = world
    details = _assigned(w, 2)
    w.send(details[0])
    w.poll()
    assert w.org.leads[details[0].lead_id]["OwnerId"] == details[0].owner_id
    # The admin regenerates the consumer secret and stores it; the warm container still caches the old one.
    w.org.rotate_secret("rotated-secret")
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET, SecretString=json.dumps(w.org.secret()))
    w.send(details[1])
    w.poll()
    assert w.org.leads[details[1].lead_id]["OwnerId"] == details[1].owner_id
    assert w.depth("WritebackQueue") == 0 and w.depth("WritebackDLQ") == 0
    tokens = [r for r in w.org.requests if r.path == "/services/oauth2/token"]
    assert "rotated-secret" in tokens[-1].body.decode()
