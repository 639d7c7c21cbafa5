"""Writeback planning and outcome classification, against an in-memory client (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from territory_router.domain.ids import to_18
from territory_router.domain.messages import LeadAssignedDetail
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError
from territory_router.salesforce.writeback_rules import (
    ApiUsage,
    RecordError,
    RecordResult,
    WritebackFieldMap,
    build_record,
    latest_per_lead,
    routing_reason,
    write_back,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REP = "005xx000002RepAAAS"


def _lead(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


def _detail(n: int = 1, **overrides: Any) -> LeadAssignedDetail:
    values: dict[str, Any] = {
        "lead_id": _lead(n), "owner_id": REP, "owner_name": "Rita Rep", "territory_id": "T-WEST",
        "territory_name": "West", "tag_method": "POLYGON", "group_id": "G-WEST", "strategy": "ROUND_ROBIN",
        "assigned_at": T0,
    }
    values.update(overrides)
    return LeadAssignedDetail.model_validate(values)


class StubClient:
    """Answers like sObject Collections; ``script`` maps call number -> exception or per-id error codes."""

    def __init__(self, errors: dict[str, str] | None = None, raises: dict[int, Exception] | None = None):
        self.calls: list[list[dict[str, Any]]] = []
        self.errors = errors or {}
        self.raises = raises or {}
        self.last_api_usage: ApiUsage | None = None

    def update_owners(self, records: list[dict[str, Any]]) -> list[RecordResult]:
        self.calls.append(records)
        self.last_api_usage = ApiUsage(len(self.calls), 15000)
        if len(self.calls) in self.raises:
            raise self.raises[len(self.calls)]
        out = []
        for r in records:
            code = self.errors.get(r["id"])
            out.append(RecordResult(r["id"], code is None, (RecordError(code, "boom"),) if code else ()))
        return out


def test_record_sets_owner_and_our_fields() -> None:
    record = build_record(_detail(), WritebackFieldMap())
    assert record["attributes"] == {"type": "Lead"}
    assert record["id"] == _lead(1) and record["OwnerId"] == REP
    assert record["Territory__c"] == "West"
    assert record["Territory_Tag_Method__c"] == "POLYGON"
    assert record["Routing_Status__c"] == "ASSIGNED"
    assert record["Routing_Reason__c"].startswith("Territory West (POLYGON); assigned to user Rita Rep in group G-WEST")


def test_reason_is_truncated_to_255() -> None:
    detail = _detail(decision={"summary": "x" * 1000})
    reason = routing_reason(detail, "ASSIGNED")
    assert len(reason) == 255 and reason.endswith("…")
    assert len(build_record(detail, WritebackFieldMap())["Routing_Reason__c"]) == 255


def test_disabled_fields_are_not_sent() -> None:
    record = build_record(_detail(), WritebackFieldMap(territory=None, routing_reason=None, routing_status=None,
                                                       tag_precision=None))  # fmt: skip
    assert set(record) == {"attributes", "id", "OwnerId", "Territory_Tag_Method__c"}


def test_precision_is_written_and_coarse_ones_are_explained() -> None:
    rooftop = build_record(_detail(tag_precision="ROOFTOP"), WritebackFieldMap())
    assert rooftop["Territory_Tag_Precision__c"] == "ROOFTOP"
    assert rooftop["Routing_Reason__c"].startswith("Territory West (POLYGON);")
    postal = build_record(_detail(tag_method="POSTAL_CENTROID", tag_precision="POSTAL_CODE"), WritebackFieldMap())
    assert postal["Territory_Tag_Precision__c"] == "POSTAL_CODE"
    assert postal["Routing_Reason__c"].startswith("Territory West (POSTAL_CENTROID, located by postal code);")
    assert "Territory_Tag_Precision__c" in WritebackFieldMap().router_fields()  # our own echo, not a person


def test_status_from_detail_type_or_detail() -> None:
    assert build_record(_detail(), WritebackFieldMap(), "LeadEscalated")["Routing_Status__c"] == "ESCALATED"
    assert build_record(_detail(reroute_count=1), WritebackFieldMap())["Routing_Status__c"] == "REROUTED"


def test_duplicates_collapse_to_the_latest_decision() -> None:
    older = _detail(owner_id="005xx000003OthAAAS", assigned_at=T0)
    newer = _detail(owner_id=REP, assigned_at=T0 + timedelta(minutes=5))
    other = _detail(2)
    same_lead_15 = _detail(assigned_at=T0 - timedelta(days=1), lead_id=_lead(1)[:15])
    kept = latest_per_lead([newer, other, older, same_lead_15])
    assert [(d.lead_id, d.owner_id) for d, _ in kept] == [(_lead(1), REP), (_lead(2), REP)]

    client = StubClient()
    result = write_back([older, other, newer], client=client)
    assert len(client.calls) == 1 and len(client.calls[0]) == 2
    assert {r["id"]: r["OwnerId"] for r in client.calls[0]}[_lead(1)] == REP
    assert sorted(result.succeeded) == sorted([_lead(1), _lead(2)])


def test_chunks_of_200() -> None:
    client = StubClient()
    result = write_back([_detail(n) for n in range(450)], client=client)
    assert [len(c) for c in client.calls] == [200, 200, 50]
    assert len(result.succeeded) == 450 and result.calls == 3
    assert result.api_usage == ApiUsage(3, 15000) and result.limit_info == result.api_usage


def test_per_record_errors_are_sorted_transient_or_permanent() -> None:
    client = StubClient(errors={
        _lead(1): "UNABLE_TO_LOCK_ROW",
        _lead(2): "INVALID_CROSS_REFERENCE_KEY",
        _lead(3): "ENTITY_IS_DELETED",
        _lead(4): "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        _lead(5): "SERVER_UNAVAILABLE",
    })
    result = write_back([_detail(n) for n in range(7)], client=client)
    assert sorted(result.succeeded) == sorted([_lead(0), _lead(6)])
    assert {f.lead_id: f.code for f in result.transient} == {_lead(1): "UNABLE_TO_LOCK_ROW",
                                                              _lead(5): "SERVER_UNAVAILABLE"}
    assert {f.lead_id: f.error_code for f in result.permanent} == {
        _lead(2): "INVALID_CROSS_REFERENCE_KEY", _lead(3): "ENTITY_IS_DELETED",
        _lead(4): "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert result.outcome(_lead(1)) == "transient" and result.outcome(_lead(2)[:15]) == "permanent"
    assert result.outcome(_lead(0)) == "succeeded" and result.outcome(_lead(99)) == "unknown"


def test_limit_exceeded_backs_off_and_marks_the_rest_transient() -> None:
    limit = SalesforceRetryableError("limit", code="REQUEST_LIMIT_EXCEEDED", status=403, retry_after=60)
    client = StubClient(raises={2: limit})
    result = write_back([_detail(n) for n in range(500)], client=client)
    assert len(client.calls) == 2  # stopped: no third call while Salesforce asks us to back off
    assert len(result.succeeded) == 200
    assert len(result.transient) == 300 and {f.code for f in result.transient} == {"REQUEST_LIMIT_EXCEEDED"}
    assert result.retry_after == 60


def test_whole_call_refusal_is_permanent_for_that_call_only() -> None:
    client = StubClient(raises={1: SalesforceError("bad field", code="INVALID_FIELD", status=400)})
    result = write_back([_detail(n) for n in range(250)], client=client)
    assert len(result.permanent) == 200 and {f.code for f in result.permanent} == {"INVALID_FIELD"}
    assert len(result.succeeded) == 50


def test_auth_error_propagates() -> None:
    client = StubClient(raises={1: SalesforceAuthError("no", code="invalid_client")})
    with pytest.raises(SalesforceAuthError):
        write_back([_detail()], client=client)


def test_missing_results_are_retried() -> None:
    class Short(StubClient):
        def update_owners(self, records):
            return super().update_owners(records)[:1]

    result = write_back([_detail(1), _detail(2)], client=Short())
    assert result.succeeded == [_lead(1)] and [f.code for f in result.transient] == ["NO_RESULT"]


def test_api_usage_header_parsing() -> None:
    assert ApiUsage.parse("api-usage=25/15000") == ApiUsage(25, 15000)
    assert ApiUsage.parse("api-usage=25/15000; per-app-api-usage=17/250(appName=sample)") == ApiUsage(25, 15000)
    assert ApiUsage.parse("garbage") is None and ApiUsage.parse(None) is None
    assert ApiUsage(7500, 15000).ratio == 0.5


def test_record_result_from_collections_json() -> None:
    ok = RecordResult.from_json({"id": _lead(1), "success": True, "errors": []})
    bad = RecordResult.from_json(
        {"success": False, "errors": [{"statusCode": "MALFORMED_ID", "message": "bad id", "fields": ["Id"]}]},
        sent_id=_lead(2),
    )
    assert ok.success and ok.code is None
    assert (bad.id, bad.success, bad.code, bad.errors[0].fields) == (_lead(2), False, "MALFORMED_ID", ("Id",))
