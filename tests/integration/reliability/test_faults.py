"""Faults: throttled and failing AWS calls, writes whose answer is lost, a failing Salesforce, a poison message.

AWS faults are injected at the boto3 boundary of the handlers (``tests/fakes/faults.py``, a botocore
``before-send`` hook on the clients of ``territory_router.adapters.aws``): botocore's own retries absorb short
bursts, longer ones fail the SQS record, which comes back (the local stack redelivers after 1 s) until it
succeeds. Whatever the faults, every lead must end assigned once, written back once, counted once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from territory_router.adapters.lead_store import detail_from_item
from territory_router.services.writeback_batch import assignment_key

from .pipeline import SMALL_CAPACITY, Pipeline, create_events, load_fakes_module, make_leads

_faults = load_fakes_module("faults")
FaultInjector, DDB_THROUGHPUT, INTERNAL, THROTTLING = (
    _faults.FaultInjector, _faults.DDB_THROUGHPUT, _faults.INTERNAL, _faults.THROTTLING,
)


@pytest.fixture
def faults(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultInjector]:
    import botocore.retries.standard

    from territory_router.adapters import aws

    # botocore's retry count and decisions stay as configured; only its back-off sleeps are shortened
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.02)
    injector = FaultInjector().attach(aws.client("dynamodb"), aws.client("sqs"), aws.client("events"))
    yield injector
    injector.detach()


def _assert_settled(pipeline: Pipeline, leads) -> dict:
    records = pipeline.leads(leads[0].lead_id[:6])
    assert set(records) == {lead.lead_id for lead in leads}, "a lead was lost"
    assert all(r["status"] == "ASSIGNED" and r.get("owner_id") for r in records.values())
    for lead_id, record in records.items():
        assert pipeline.salesforce.leads[lead_id]["OwnerId"] == record["owner_id"]
        # the writeback's one write marks the lead's current decision as written (no refusal left on it)
        assert str(record.get("wb", "")).startswith(assignment_key(detail_from_item(record)) + "|")
        assert not record.get("writeback_error")
    loads = pipeline.assert_counters_exact()
    assert all(v <= SMALL_CAPACITY for v in loads.values()), loads
    written = pipeline.writebacks()
    assert {i: written[i] for i in records} == dict.fromkeys(records, 1), "each lead accepted by Salesforce once"
    return records


def test_aws_throttling_transient_errors_and_lost_responses(pipeline: Pipeline, faults: FaultInjector, figures) -> None:
    leads = make_leads(30, "FLT")
    plan = [
        # (service, operation, times, code, lost_response)
        ("dynamodb", "TransactWriteItems", 14, DDB_THROUGHPUT, False),  # assignment: > botocore's 5 attempts
        ("dynamodb", "PutItem", 8, THROTTLING, False),  # intake: new lead records
        ("dynamodb", "UpdateItem", 8, INTERNAL, False),  # tagging stamp, writeback ledger
        ("dynamodb", "BatchGetItem", 6, THROTTLING, False),  # assignment snapshot
        ("sqs", "SendMessageBatch", 4, INTERNAL, True),  # sent, but the answer is lost: duplicates downstream
        ("events", "PutEvents", 4, INTERNAL, True),  # LeadAssigned published twice
        ("dynamodb", "GetItem", 4, THROTTLING, False),
    ]
    for service, op, times, code, lost in plan:
        faults.fail(service, op, times=times, code=code, lost_response=lost)
    started = time.monotonic()
    pipeline.publish(create_events(leads))
    pipeline.wait(timeout_s=90)
    elapsed = time.monotonic() - started

    assert faults.pending() == 0, "every planned fault was hit"
    _assert_settled(pipeline, leads)
    assert sum(pipeline.dlq_depths().values()) == 0
    figures("aws_faults", {
        "leads": len(leads),
        "events_sent": len(leads),
        "faults_injected": {f"{s}.{o}": n for (s, o), n in sorted(faults.injected.items())},
        "faults_total": sum(faults.injected.values()),
        "lost_responses": sum(t for _s, _o, t, _c, lost in plan if lost),
        "lost": 0,
        "written_back_once": len(leads),
        "counter_drift": 0,
        "seconds": round(elapsed, 1),
    })


def test_failing_salesforce_is_retried_then_written(pipeline: Pipeline, figures) -> None:
    sf = pipeline.salesforce
    leads = make_leads(15, "SFF")
    patches_before = len(sf.api_requests("PATCH"))
    sf.make_unavailable(2)  # 503 SERVER_UNAVAILABLE
    sf.exceed_limit(1)  # 403 REQUEST_LIMIT_EXCEEDED
    sf.expire_session(1)  # 401 INVALID_SESSION_ID: token renewed, call repeated
    locked = leads[3].lead_id
    sf.fail_record(locked, "UNABLE_TO_LOCK_ROW", "record locked", times=2)  # per-record transient error
    started = time.monotonic()
    pipeline.publish(create_events(leads))
    pipeline.wait(timeout_s=90)
    elapsed = time.monotonic() - started

    records = _assert_settled(pipeline, leads)  # accepted once each, however many calls failed
    patches = len(sf.api_requests("PATCH")) - patches_before
    assert patches > 4  # the failing calls were made and then repeated
    assert sum(pipeline.dlq_depths().values()) == 0
    figures("salesforce_faults", {
        "leads": len(leads),
        "faults_injected": {"503": 2, "403 REQUEST_LIMIT_EXCEEDED": 1, "401 INVALID_SESSION_ID": 1,
                            "UNABLE_TO_LOCK_ROW (one record)": 2},
        "patch_calls": patches,
        "written": len(records),
        "lost": 0,
        "seconds": round(elapsed, 1),
    })


def test_poison_message_goes_to_dlq_with_reason_rest_of_batch_succeeds(pipeline: Pipeline, figures) -> None:
    """Poison messages sit between good ones in the same SQS batches of each stage."""
    pipeline.drain("IntakeDLQ"), pipeline.drain("AssignmentDLQ"), pipeline.drain("TaggingDLQ")
    leads = make_leads(9, "PSN")
    good = [json.dumps(e) for e in create_events(leads)]
    poison_intake = ['{"detail-type": "/data/LeadChangeEvent", "source": "aws.partner/salesforce.com/x/y"',
                     json.dumps({"not": "an event"})]
    bodies = good[:4] + poison_intake[:1] + good[4:8] + poison_intake[1:] + good[8:]
    poison_assign = json.dumps({"lead": {"lead_id": "not-an-id"}, "tag": "nope"})
    poison_tag = json.dumps({"lead": None})
    started = time.monotonic()
    pipeline.send_raw("IntakeQueue", bodies)  # the rule target delivers the raw event JSON
    pipeline.send_raw("AssignmentQueue", [poison_assign])
    pipeline.send_raw("TaggingQueue", [poison_tag])
    pipeline.wait(timeout_s=60)
    elapsed = time.monotonic() - started

    _assert_settled(pipeline, leads)
    intake = pipeline.drain("IntakeDLQ")
    assert sorted(m["body"] for m in intake) == sorted(poison_intake)
    for m in intake:
        a = m["attributes"]
        assert a["error_stage"] == "intake" and a["error_code"] == "INVALID_EVENT" and len(a["error_reason"]) > 10
        assert m["receive_count"] == 1  # set aside at once, not after maxReceiveCount retries
    reasons = sorted(m["attributes"]["error_reason"] for m in intake)
    assert any("not JSON" in r for r in reasons)
    assignment, tagging = pipeline.drain("AssignmentDLQ"), pipeline.drain("TaggingDLQ")
    assert [m["body"] for m in assignment] == [poison_assign]
    assert assignment[0]["attributes"]["error_code"] == "INVALID_MESSAGE"
    assert "not an AssignRequest" in assignment[0]["attributes"]["error_reason"]
    assert [m["body"] for m in tagging] == [poison_tag]
    assert "not a TagRequest" in tagging[0]["attributes"]["error_reason"]
    figures("poison", {
        "good_events": len(good),
        "poison_messages": len(poison_intake) + 2,
        "dlq": {"IntakeDLQ": len(intake), "TaggingDLQ": len(tagging), "AssignmentDLQ": len(assignment)},
        "reasons": reasons + [assignment[0]["attributes"]["error_reason"], tagging[0]["attributes"]["error_reason"]],
        "good_leads_assigned_and_written": len(leads),
        "lost": 0,
        "seconds": round(elapsed, 1),
    })
