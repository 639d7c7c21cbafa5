"""Roster uploads (accepted, rejected, counters kept) and the reps/leads commands against the moto stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.adapters.roster_store import clear_roster_cache
from territory_router.assignment.assign import assign_lead
from territory_router.services.roster_upload import process_roster_upload
from territory_router_tools.cli.main import main

from .conftest import BUCKET, LEADS, ROUTING
from .helpers import QUEUE, activate, open_loads, rep_id, request, roster_doc

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[3] / "tooling" / "territory_router_tools" / "data" / "sample_roster.json"


def upload(aws: dict, key: str, body: bytes) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)


def test_upload_accepts_then_rejects_keeping_active_and_counters(store: DynamoLeadStore, aws: dict) -> None:
    upload(aws, "roster/team.json", json.dumps(roster_doc()).encode())
    ok = process_roster_upload(BUCKET, "roster/team.json", store=store, s3_client=aws["s3"], now=NOW)
    assert ok.accepted and ok.reps == 3 and ok.groups == 1
    version = ok.version
    assert aws["s3"].get_object(Bucket=BUCKET, Key=f"rosters/{version}.json")["Body"].read()
    for n in range(3):
        assign_lead(request(n), store=store, now=NOW, default_sla_minutes=60)

    upload(aws, "roster/broken.json", b'{"reps": [{"rep_id": "nope"}]}')
    bad = process_roster_upload(BUCKET, "roster/broken.json", store=store, s3_client=aws["s3"], now=NOW)
    assert not bad.accepted and bad.errors
    report = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key="reports/roster/broken.json.json")["Body"].read())
    assert report["accepted"] is False and report["errors"] == bad.errors
    clear_roster_cache()
    assert store.active_roster().version == version

    # a new roster without rep 1 (who has an open lead): accepted with a warning, counters untouched
    doc = roster_doc()
    doc["reps"] = doc["reps"][1:]
    doc["groups"][0]["members"] = doc["groups"][0]["members"][1:]
    upload(aws, "roster/smaller.json", json.dumps(doc).encode())
    smaller = process_roster_upload(BUCKET, "roster/smaller.json", store=store, s3_client=aws["s3"], now=NOW)
    assert smaller.accepted
    assert any(w.get("rep") == rep_id(1) and "1 open lead" in w["reason"] for w in smaller.warnings)
    assert open_loads(store, [rep_id(i) for i in (1, 2, 3)]) == {rep_id(1): 1, rep_id(2): 1, rep_id(3): 1}


def test_sample_roster_and_csv_uploads(store: DynamoLeadStore, aws: dict) -> None:
    upload(aws, "roster/sample_roster.json", SAMPLE.read_bytes())
    assert process_roster_upload(BUCKET, "roster/sample_roster.json", store=store, s3_client=aws["s3"]).accepted
    csv_text = f"rep_id,name,territories,capacity,default_fallback_owner\n{rep_id(1)},Ana,WEST,10,{QUEUE}\n"
    upload(aws, "roster/team.csv", csv_text.encode())
    out = process_roster_upload(BUCKET, "roster/team.csv", store=store, s3_client=aws["s3"])
    assert out.accepted and store.active_roster().reps[rep_id(1)].capacity == 10


@pytest.fixture
def stack_file(tmp_path: Path, aws_endpoint: str, aws: dict) -> Path:
    path = tmp_path / "stack.json"
    resources = {"LeadsTable": LEADS, "RoutingTable": ROUTING, "TerritoryBucket": BUCKET}
    path.write_text(json.dumps({"region": "us-east-1", "endpoint": aws_endpoint, "resources": resources}))
    return path


def test_reps_commands(store: DynamoLeadStore, stack_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    activate(store, roster_doc(cap=4), NOW)
    for n in range(2):
        assign_lead(request(n), store=store, now=NOW, default_sla_minutes=60)
    sf = ["--stack-file", str(stack_file)]
    assert main(["reps", "list", "--json", *sf]) == 0
    listed = json.loads(capsys.readouterr().out)
    by_id = {r["rep_id"]: r for r in listed["reps"]}
    assert (by_id[rep_id(1)]["open_leads"], by_id[rep_id(1)]["capacity"]) == (1, 4)
    assert by_id[rep_id(3)]["open_leads"] == 0

    assert main(["reps", "set", rep_id(1)[:15], "--capacity", "9", "--inactive", *sf]) == 0
    assert "counters unchanged" in capsys.readouterr().out
    assert main(["reps", "ooo", rep_id(2), "--from", "2026-01-01", "--until", "2099-12-31", "--note", "sabbatical", *sf]) == 0
    capsys.readouterr()
    assert main(["reps", "list", *sf]) == 0
    text = capsys.readouterr().out
    assert "1/9" in text and "inactive" in text and "out of office until 2100-01-01" in text
    clear_roster_cache()
    roster = store.active_roster()
    assert roster.reps[rep_id(1)].capacity == 9 and not roster.reps[rep_id(1)].active
    assert open_loads(store, [rep_id(1), rep_id(2)]) == {rep_id(1): 1, rep_id(2): 1}
    # the next lead skips both: only rep 3 is available
    assert assign_lead(request(9), store=store, now=NOW, default_sla_minutes=60).detail.owner_id == rep_id(3)

    assert main(["reps", "check", *sf]) == 0
    assert "0 with a difference" in capsys.readouterr().out
    store.ddb.update_item(
        TableName=store.routing_table, Key={"pk": {"S": f"REP#{rep_id(3)}"}, "sk": {"S": "LOAD"}},
        UpdateExpression="ADD open_leads :one", ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert main(["reps", "check", *sf]) == 1
    assert f"{rep_id(3)}: counter 2 but 1 counted lead(s)" in capsys.readouterr().out

    assert main(["reps", "set", "005000000000777", "--capacity", "3", *sf]) == 1
    assert "not in the active roster" in capsys.readouterr().err
    assert main(["reps", "set", rep_id(1), "--hours", "Mars/Base,Mon-Fri,08:00,17:00", *sf]) == 2


def test_reps_upload_processes_the_roster_here(store: DynamoLeadStore, stack_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "team.json"
    path.write_text(json.dumps(roster_doc(cap=7)))
    assert main(["reps", "upload", str(path), "--process", "--stack-file", str(stack_file)]) == 0
    out = capsys.readouterr().out
    assert f"uploaded s3://{BUCKET}/roster/team.json" in out
    outcome = json.loads(out.split("\n", 1)[1])
    assert outcome["accepted"] is True and outcome["reps"] == 3
    clear_roster_cache()
    assert store.active_roster(refresh=True).version == outcome["version"]


def test_leads_explain(store: DynamoLeadStore, stack_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = roster_doc(cap=1)
    activate(store, doc, NOW)
    for n in range(2):
        assign_lead(request(n), store=store, now=NOW, default_sla_minutes=60)
    d = assign_lead(request(5), store=store, now=NOW, default_sla_minutes=60).detail
    sf = ["--stack-file", str(stack_file)]
    assert main(["leads", "explain", d.lead_id, *sf]) == 0
    text = capsys.readouterr().out
    assert f"Owner: {rep_id(3)} Rep 3 [user]" in text
    assert "Why this owner:" in text and "at capacity 1/1" in text and "round robin" in text
    assert "SLA due: 2026-11-30T16:00Z" in text
    assert main(["leads", "explain", d.lead_id[:15], "--json", *sf]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["decision"]["owner_id"] == rep_id(3) and "last_name" not in record["lead"]
    assert main(["leads", "explain", "00Q000000000999", *sf]) == 1
