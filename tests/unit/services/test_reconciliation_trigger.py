"""The reconciliation trigger: GAP_OVERFLOW (no record named) asks for a run through ReconcileQueue, never lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from territory_router.domain.messages import ReconciliationRequest
from territory_router.salesforce.events import ChangeKind, EventSource, LeadChange
from territory_router.services.intake import IntakeDeps, IntakeResult, handle_change
from territory_router.services.reconciliation import ReconciliationRequestFailed, ReconciliationTrigger

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeSqs:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict] = []
        self.fail = fail

    def send_message(self, **kwargs):
        if self.fail:
            raise ConnectionError("SQS endpoint unreachable")
        self.sent.append(kwargs)
        return {"MessageId": "m-1"}


def overflow() -> LeadChange:
    return LeadChange(kind=ChangeKind.GAP, lead_id=None, org_id="00D5e000000LoClEAK", event_id="ev-9",
                      idempotency_key="ev-9:*", source=EventSource.CDC, change_type="GAP_OVERFLOW", gap=True)


def test_request_is_one_message_on_the_reconcile_queue():
    sqs = FakeSqs()
    sent = ReconciliationTrigger(sqs, "https://sqs/ReconcileQueue").request(
        reason="GAP_OVERFLOW: Salesforce named no record", now=NOW, source_event_id="ev-9"
    )
    (message,) = sqs.sent
    assert message["QueueUrl"] == "https://sqs/ReconcileQueue"
    body = ReconciliationRequest.model_validate_json(message["MessageBody"])
    assert body == sent and body.type == "ReconciliationRequest"
    assert body.source_event_id == "ev-9" and body.requested_at == NOW and body.since is None


def test_a_request_sqs_refuses_raises_so_the_caller_retries():
    with pytest.raises(ReconciliationRequestFailed):
        ReconciliationTrigger(FakeSqs(fail=True), "https://sqs/ReconcileQueue").request(reason="x", now=NOW)
    with pytest.raises(ReconciliationRequestFailed):
        ReconciliationTrigger(FakeSqs(), "").request(reason="x", now=NOW)


def test_gap_overflow_asks_for_a_reconciliation_run():
    sqs = FakeSqs()
    deps = IntakeDeps(leads=None, reconcile=ReconciliationTrigger(sqs, "q"), classify_update=lambda *a, **k: None)
    result = handle_change(overflow(), deps=deps, now=NOW)
    assert result == IntakeResult(action="reconciliation_requested", change_type="GAP_OVERFLOW")
    assert len(sqs.sent) == 1


def test_gap_overflow_request_failure_fails_the_change():
    deps = IntakeDeps(leads=None, reconcile=ReconciliationTrigger(FakeSqs(fail=True), "q"),
                      classify_update=lambda *a, **k: None)
    with pytest.raises(ReconciliationRequestFailed):
        handle_change(overflow(), deps=deps, now=NOW)


def test_without_a_trigger_gap_overflow_is_reported_as_before():
    deps = IntakeDeps(leads=None, classify_update=lambda *a, **k: None)
    assert handle_change(overflow(), deps=deps, now=NOW).action == "gap_reported"
