"""`territory-router local up` as a user runs it: a separate process, plain boto3 against its ready line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import boto3
import pytest

from territory_router_tools.demo.leads import make_leads
from territory_router_tools.local.stack import LOCAL_PARAMETERS
from territory_router_tools.salesforce.samples import cdc_create_event

ROOT = Path(__file__).resolve().parents[2]
ORG_ID = LOCAL_PARAMETERS["SalesforceOrgId"]


@pytest.fixture(scope="module")
def local_up(tmp_path_factory):
    stack_file = tmp_path_factory.mktemp("stack") / "stack.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    proc = subprocess.Popen(
        [sys.executable, "-m", "territory_router_tools.cli.main", "local", "up", "--stack-file", str(stack_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # the ready line: one JSON object
        assert line, "local up exited before printing its ready line"
        ready = json.loads(line)
        yield proc, ready, stack_file
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_ready_line_names_every_resource(local_up) -> None:
    _proc, ready, stack_file = local_up
    assert ready["endpoint"].startswith("http://127.0.0.1:")
    assert ready["region"] == "us-east-1"
    for logical_id in ("TerritoryBucket", "LeadsTable", "RoutingTable", "IntakeQueue", "AppEventBus", "LeadIntakeFunction"):
        assert ready["resources"][logical_id]
    assert json.loads(stack_file.read_text()) == ready  # other CLI commands find the stack through this file


def test_another_process_drives_the_pipeline_with_plain_boto3(local_up) -> None:
    _proc, ready, _ = local_up
    kw = {"endpoint_url": ready["endpoint"], "region_name": ready["region"]}
    s3, ddb, events = boto3.client("s3", **kw), boto3.client("dynamodb", **kw), boto3.client("events", **kw)
    r = ready["resources"]
    data = resources.files("territory_router_tools.data")
    s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/regions.geojson",
                  Body=data.joinpath("sample_territories.geojson").read_bytes())
    s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/team.json", Body=data.joinpath("sample_roster.json").read_bytes())
    _wait(lambda: all(
        "Item" in ddb.get_item(TableName=r["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}})
        for pk in ("TERRITORYSET", "ROSTER")
    ), "territory set and roster to activate")

    leads, _ = make_leads(12, seed=3)
    bus = r.get("SalesforceEventBus") or LOCAL_PARAMETERS["SalesforceEventBusName"]
    for lead in leads:
        event = cdc_create_event(lead, org_id=ORG_ID)
        resp = events.put_events(Entries=[{
            "Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "EventBusName": bus,
        }])
        assert resp["FailedEntryCount"] == 0

    def assigned() -> list[dict]:
        items = [ddb.get_item(TableName=r["LeadsTable"], Key={"lead_id": {"S": lead.lead_id}}).get("Item") for lead in leads]
        return [i for i in items if i and i["status"]["S"] == "ASSIGNED"]

    _wait(lambda: len(assigned()) == len(leads), "every lead to be assigned", timeout=90)
    for item in assigned():
        assert item["owner_id"]["S"].startswith(("005", "00G"))
        assert "territory_id" in item or item["tag_method"]["S"] == "UNTAGGED"


def test_the_cli_needs_no_aws_account_for_the_local_stack(local_up, tmp_path) -> None:
    """A machine with no AWS credentials at all: the commands aimed at the local stack bring placeholders."""
    _proc, ready, stack_file = local_up
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_SECURITY", "AWS_PROFILE", "AWS_ENDPOINT_URL"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path))
    territories = tmp_path / "regions.geojson"
    territories.write_bytes(resources.files("territory_router_tools.data").joinpath("sample_territories.geojson").read_bytes())
    lead_id = _any_lead_id(ready)

    def cli(*argv: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "territory_router_tools.cli.main", *argv, "--stack-file", str(stack_file)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{argv}: {proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc.stdout

    assert "uploaded s3://" in cli("territories", "upload", str(territories))
    assert "REP" in cli("reps", "list")
    assert f"Lead {lead_id}" in cli("leads", "explain", lead_id)
    assert "(total" in cli("dlq", "list")


def _any_lead_id(ready: dict) -> str:
    ddb = boto3.client("dynamodb", endpoint_url=ready["endpoint"], region_name=ready["region"])
    items = ddb.scan(TableName=ready["resources"]["LeadsTable"], Limit=1, ProjectionExpression="lead_id")["Items"]
    assert items, "the pipeline test before this one leaves leads in the table"
    return items[0]["lead_id"]["S"]


def test_sigterm_stops_it_cleanly(local_up) -> None:
    proc, _ready, stack_file = local_up
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not stack_file.exists()  # a stopped stack leaves no stale ready line behind


def _wait(check, what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
