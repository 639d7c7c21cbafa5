"""Bad input through the real pipeline: every corpus file is reported, and live routing does not move.

- tests/data/bad_events: each malformed or hostile Event Relay event is put on IntakeQueue as EventBridge's rule
  target would deliver it; LeadIntakeFunction must set it aside in IntakeDLQ at once with an ``error_reason``
  that says what is wrong. Two files cannot travel through SQS at all (over 256 KiB; invalid UTF-8): SQS
  refuses them, and the oversized one is also handed to the handler directly, which must still set it aside.
- tests/data/broken_territories: each broken file is uploaded to ``territories/``; TerritoryUploadFunction must
  record a REJECTED version with the reason and keep the live set.
- tests/data/broken_rosters: each broken roster is uploaded to ``roster/``; RosterUploadFunction must record a
  rejected version with the reason and keep the active roster.

Before and after, the live state (active territory set and roster, every rep counter and group pointer, every
lead record) is compared item by item: it must be identical.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from .pipeline import Pipeline

DATA = Path(__file__).resolve().parents[2] / "data"
EVENTS = DATA / "bad_events"
TERRITORIES = DATA / "broken_territories"
ROSTERS = DATA / "broken_rosters"
SQS_MAX = 256 * 1024


def _wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _live(pipeline: Pipeline) -> dict:
    state = pipeline.routing_state()
    return {"routing": state["routing"], "leads": state["leads"]}


def test_bad_events_are_set_aside_with_their_reason(pipeline: Pipeline, figures) -> None:
    expected = json.loads((EVENTS / "expected.json").read_text())
    pipeline.wait()
    pipeline.drain("IntakeDLQ")
    before = _live(pipeline)
    sqs = pipeline.stack.client("sqs")
    sent: dict[str, str] = {}  # message id -> file name
    refused_by_sqs: dict[str, str] = {}
    direct: list[str] = []
    for name in sorted(expected):
        raw = (EVENTS / name).read_bytes()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            refused_by_sqs[name] = "not UTF-8: an SQS message body is Unicode text"
            with pytest.raises((ParamValidationError, ClientError, UnicodeDecodeError, ValueError)):
                sqs.send_message(QueueUrl=pipeline.r["IntakeQueue"], MessageBody=raw)  # type: ignore[arg-type]
            continue
        if len(raw) > SQS_MAX:
            refused_by_sqs[name] = "larger than the SQS limit of 256 KiB"
            direct.append(name)
            continue
        sent[sqs.send_message(QueueUrl=pipeline.r["IntakeQueue"], MessageBody=body)["MessageId"]] = name
    # The oversized event cannot come through SQS; had it arrived (e.g. a future larger limit), the handler
    # must still refuse it and keep what fits of it in the DLQ.
    intake = pipeline.stack.functions["LeadIntakeFunction"]
    for name in direct:
        body = (EVENTS / name).read_text()
        result = intake.invoke({"Records": [{
            "messageId": f"direct-{name}", "receiptHandle": "x", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:x",
            "awsRegion": "us-east-1",
        }]})
        assert result == {"batchItemFailures": []}
        sent[f"direct-{name}"] = name
    pipeline.wait()

    dlq = pipeline.drain("IntakeDLQ")
    by_source = {m["attributes"].get("source_message_id"): m for m in dlq}
    assert set(by_source) == set(sent), "one DLQ message per bad event, nothing else"
    for message_id, name in sent.items():
        m = by_source[message_id]
        attrs = m["attributes"]
        assert attrs["error_stage"] == "intake"
        assert attrs["error_code"] == ("FOREIGN_ORG" if expected[name]["error"] == "ForeignOrgEvent" else "INVALID_EVENT")
        assert expected[name]["reason"] in attrs["error_reason"], (name, attrs["error_reason"])
        assert m["receive_count"] == 1, f"{name} was retried instead of set aside"
    assert _live(pipeline) == before, "a bad event changed live routing"
    figures("bad_events", {
        "corpus_files": len(expected),
        "sent_through_sqs": len(sent) - len(direct),
        "handed_to_handler_directly": len(direct),
        "refused_by_sqs": refused_by_sqs,
        "dlq_messages_with_reason": len(dlq),
        "codes": {c: sum(1 for m in dlq if m["attributes"]["error_code"] == c) for c in ("INVALID_EVENT", "FOREIGN_ORG")},
        "live_state_changed": False,
    })


def test_broken_territory_files_are_rejected_and_the_live_set_stays(pipeline: Pipeline, figures) -> None:
    from territory_router.adapters.territory_store import TerritoryStore

    expected: dict[str, str] = json.loads((TERRITORIES / "expected.json").read_text())
    broken = {name: reason for name, reason in expected.items() if not name.startswith("warn_")}
    pipeline.wait()
    before = _live(pipeline)
    s3 = pipeline.stack.client("s3")
    bucket = pipeline.r["TerritoryBucket"]
    for name in sorted(broken):
        s3.put_object(Bucket=bucket, Key=f"territories/broken/{name}", Body=(TERRITORIES / name).read_bytes())
    store = TerritoryStore(s3, pipeline.stack.client("dynamodb"), bucket, pipeline.r["RoutingTable"])

    def versions():
        found = {v.source_key.rsplit("/", 1)[-1]: v for v in store.list_versions()
                 if v.source_key.startswith("territories/broken/")}
        return found if set(found) == set(broken) else None

    found = _wait_for(versions, 60, "a version record for every broken territory file")
    for name, reason in broken.items():
        v = found[name]
        assert v.status == "REJECTED", (name, v.status)
        assert any(reason in e["reason"] for e in v.errors), (name, v.errors)
        report = json.loads(s3.get_object(Bucket=bucket, Key=v.report_key)["Body"].read())
        assert not report["valid"] and report["errors"]
    pipeline.wait()
    assert _live(pipeline) == before, "a rejected territory file changed live routing"
    figures("broken_territories", {
        "corpus_files": len(expected),
        "uploaded_broken": len(broken),
        "left_out_repairable_warn_files": len(expected) - len(broken),
        "rejected_with_reason": len(found),
        "live_state_changed": False,
    })


def test_broken_rosters_are_rejected_and_the_active_roster_stays(pipeline: Pipeline, figures) -> None:
    from territory_router.assignment.roster import parse_roster

    expected: dict[str, str] = json.loads((ROSTERS / "expected.json").read_text())
    assert len(expected) >= 10
    for name, reason in expected.items():  # the parser's verdict, as the CLI's `reps upload` would see it
        result = parse_roster(name, (ROSTERS / name).read_bytes())
        assert not result.valid and any(reason in e["reason"] for e in result.errors), (name, result.errors)
    pipeline.wait()
    before = _live(pipeline)
    s3 = pipeline.stack.client("s3")
    bucket = pipeline.r["TerritoryBucket"]
    for name in sorted(expected):
        s3.put_object(Bucket=bucket, Key=f"roster/broken/{name}", Body=(ROSTERS / name).read_bytes())

    def rejected():
        records = [i for i in pipeline.scan("RoutingTable")
                   if i["pk"] == "ROSTER" and i.get("status") == "REJECTED"
                   and str(i.get("source_key", "")).startswith("roster/broken/")]
        found = {r["source_key"].rsplit("/", 1)[-1]: r for r in records}
        return found if set(found) == set(expected) else None

    found = _wait_for(rejected, 60, "a rejected version for every broken roster")
    for name, reason in expected.items():
        errors = json.loads(found[name]["errors"])
        assert any(reason in e["reason"] for e in errors), (name, errors)
        report = json.loads(s3.get_object(Bucket=bucket, Key=f"reports/roster/{name}.json")["Body"].read())
        assert report["accepted"] is False and report["errors"]
    pipeline.wait()
    assert _live(pipeline) == before, "a rejected roster changed live routing"
    figures("broken_rosters", {
        "corpus_files": len(expected),
        "rejected_with_reason": len(found),
        "live_state_changed": False,
    })
