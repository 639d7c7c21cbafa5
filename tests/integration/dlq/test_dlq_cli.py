"""``territory-router dlq list|redrive`` against moto: reasons shown, no personal data, send-then-delete redrive."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from territory_router.services.dead_letters import DeadLetterSender
from territory_router_tools.cli.main import main
from territory_router_tools.salesforce.samples import cdc_create_event, sample_lead

ORG = "00Dxx0000001gErEAI"
EMAIL, PHONE, STREET = "jane.roe@example.org", "+1 415 555 0123", "1 Market Street"


@pytest.fixture
def stack(aws_endpoint: str, tmp_path: Path) -> dict:
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = {}
    for name in ("IntakeDLQ", "WritebackDLQ"):
        urls[name] = sqs.create_queue(QueueName=f"tr-{name}")["QueueUrl"]
    intake_dlq_arn = sqs.get_queue_attributes(QueueUrl=urls["IntakeDLQ"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # IntakeQueue names its DLQ in a RedrivePolicy (as template.yaml does); WritebackQueue is found by name only
    urls["IntakeQueue"] = sqs.create_queue(QueueName="tr-intake-src", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": intake_dlq_arn, "maxReceiveCount": 5})})["QueueUrl"]
    urls["WritebackQueue"] = sqs.create_queue(QueueName="tr-writeback-src")["QueueUrl"]
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"endpoint": aws_endpoint, "region": "us-east-1",
                                "resources": {**urls, "LeadsTable": "leads"}}))
    return {"sqs": sqs, "urls": urls, "file": str(path)}


def _seed(stack: dict) -> dict[str, str]:
    sqs, urls = stack["sqs"], stack["urls"]
    lead = sample_lead("00Qxx0000001AbCEAU", email=EMAIL, phone=PHONE, street=STREET, first_name="Jane", last_name="Roe")
    good_shape = json.dumps(cdc_create_event(lead, org_id="00D5e000000FrGnEAK"))
    broken = json.dumps(cdc_create_event(lead, org_id=ORG))[:-40]  # cut short: not JSON, PII in the text
    intake = DeadLetterSender(sqs, urls["IntakeDLQ"], "intake")
    intake.send(good_shape, reason="event from org 00D5e000000FrGnEAK; this stack accepts only org " + ORG,
                code="FOREIGN_ORG", message_id="m-1")
    intake.send(broken, reason="event is not JSON (Unterminated string)", code="INVALID_EVENT", message_id="m-2")
    intake.send(broken, reason="event is not JSON (Unterminated string)", code="INVALID_EVENT", message_id="m-3")
    # a message SQS moved after maxReceiveCount: no attributes at all
    sqs.send_message(QueueUrl=urls["WritebackDLQ"], MessageBody=json.dumps({"detail": {"lead_id": "00Q1", "Email": EMAIL}}))
    return {"foreign": good_shape, "broken": broken}


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _no_pii(text: str) -> None:
    for secret in (EMAIL, PHONE, STREET, "Jane", "Roe", "jane.roe"):
        assert secret not in text, f"{secret!r} leaked"


def test_list_shows_reasons_without_personal_data(stack: dict, capsys) -> None:
    _seed(stack)
    code, out = _run(capsys, "dlq", "list", "--stack-file", stack["file"], "--json")
    assert code == 0
    _no_pii(out)
    data = json.loads(out)["queues"]
    assert data["IntakeDLQ"]["count"] == 3 and data["WritebackDLQ"]["count"] == 1
    rows = {r["source_message_id"]: r for r in data["IntakeDLQ"]["messages"]}
    assert rows["m-1"]["error_code"] == "FOREIGN_ORG" and rows["m-1"]["stage"] == "intake"
    assert "accepts only org" in rows["m-1"]["error_reason"]
    assert rows["m-2"]["error_code"] == "INVALID_EVENT" and rows["m-2"]["preview"]
    assert all(r["age_s"] is not None and r["age_s"] < 600 and r["receive_count"] >= 1 for r in rows.values())
    assert rows["m-1"]["preview"].startswith('{"version":"0"')
    moved = data["WritebackDLQ"]["messages"][0]
    assert moved["preview"] == '{"detail":{"lead_id":"00Q1","Email":"[redacted]"}}'
    assert moved["stage"] == "writeback" and moved["error_code"] == "MAX_RECEIVES" and "maxReceiveCount" in moved["error_reason"]
    # listing leaves every message in place
    code, out = _run(capsys, "dlq", "list", "--stack-file", stack["file"], "--queue", "intake")
    assert code == 0
    _no_pii(out)
    assert "IntakeDLQ 3" in out and "FOREIGN_ORG" in out and "INVALID_EVENT" in out and "WritebackDLQ" not in out


def test_redrive_by_code_and_max_sends_then_deletes(stack: dict, capsys) -> None:
    bodies = _seed(stack)
    sqs, urls = stack["sqs"], stack["urls"]
    code, out = _run(capsys, "dlq", "redrive", "--stack-file", stack["file"], "--queue", "IntakeDLQ",
                     "--code", "FOREIGN_ORG")
    assert code == 0 and "IntakeDLQ → IntakeQueue: 1 sent back, 2 kept" in out
    got = sqs.receive_message(QueueUrl=urls["IntakeQueue"], MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    assert [m["Body"] for m in got["Messages"]] == [bodies["foreign"]]
    assert got["Messages"][0]["MessageAttributes"]["redriven_from"]["StringValue"] == "IntakeDLQ"
    code, out = _run(capsys, "dlq", "redrive", "--stack-file", stack["file"], "--queue", "intake", "--max", "1", "--json")
    assert code == 0 and len(json.loads(out)["redriven"][0]["moved"]) == 1
    code, out = _run(capsys, "dlq", "list", "--stack-file", stack["file"], "--queue", "intake", "--json")
    assert json.loads(out)["queues"]["IntakeDLQ"]["count"] == 1
    # everything left, every queue; the writeback DLQ finds its source by name
    code, out = _run(capsys, "dlq", "redrive", "--stack-file", stack["file"])
    assert code == 0 and "WritebackDLQ → WritebackQueue: 1 sent back" in out
    code, out = _run(capsys, "dlq", "list", "--stack-file", stack["file"], "--json")
    assert {k: v["count"] for k, v in json.loads(out)["queues"].items()} == {"IntakeDLQ": 0, "WritebackDLQ": 0}
    back = []
    while msgs := sqs.receive_message(QueueUrl=urls["IntakeQueue"], MaxNumberOfMessages=10,
                                      VisibilityTimeout=60).get("Messages", []):
        back += [m["Body"] for m in msgs]
    assert sorted(back) == sorted([bodies["broken"], bodies["broken"]])  # the foreign one was received above


def test_unknown_queue_and_missing_stack_fail_clearly(stack: dict, capsys, tmp_path: Path) -> None:
    code, out = _run(capsys, "dlq", "list", "--stack-file", stack["file"], "--queue", "nope")
    assert code == 1 and "no dead-letter queue 'nope'" in out and "IntakeDLQ" in out
    code, out = _run(capsys, "dlq", "list", "--stack-file", str(tmp_path / "absent.json"))
    assert code == 1 and "no stack" in out
    code, out = _run(capsys, "dlq", "redrive", "--stack-file", stack["file"], "--max", "0")
    assert code == 2
