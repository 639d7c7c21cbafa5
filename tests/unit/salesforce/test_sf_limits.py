"""Limits and refusals, pure rules: Sforce-Limit-Info, deferrals (Retry-After), the pause, refused owners."""

from __future__ import annotations

import pytest

from territory_router.salesforce.writeback_rules import (
    LIMIT_DEFERRAL_S,
    SQS_MAX_VISIBILITY_S,
    ApiBudget,
    ApiUsage,
    WritebackFailure,
    deferral_seconds,
    refused_owner,
)


@pytest.mark.parametrize(("header", "expected"), [
    ("api-usage=25/15000", ApiUsage(25, 15000)),
    ("api-usage=110018/100000; api-bursts=1/750", ApiUsage(110018, 100000)),
    ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", ApiUsage(25, 5000)),
    ("per-app-api-usage=17/250(appName=x)", None),
    ("", None),
    (None, None),
])
def test_limit_info_header(header, expected) -> None:
    assert ApiUsage.parse(header) == expected


def test_retry_after_is_honoured_never_shortened() -> None:
    assert deferral_seconds("SERVER_UNAVAILABLE", 120, 1) == 120  # Salesforce asked for two minutes
    assert deferral_seconds("SERVER_UNAVAILABLE", 2, 1) == 30  # never sooner than our own first backoff
    assert deferral_seconds("SERVER_UNAVAILABLE", 0.4, 1) == 30
    assert deferral_seconds("REQUEST_LIMIT_EXCEEDED", 7200, 3) == 7200
    assert deferral_seconds("REQUEST_LIMIT_EXCEEDED", 10**9, 1) == SQS_MAX_VISIBILITY_S  # SQS's maximum


def test_limit_and_pause_wait_at_least_fifteen_minutes() -> None:
    for code in ("REQUEST_LIMIT_EXCEEDED", "WRITEBACK_PAUSED"):
        assert [deferral_seconds(code, None, n) for n in (1, 2, 50)] == [LIMIT_DEFERRAL_S] * 3
    # so a day of it costs at most 96 receives
    assert 86_400 // deferral_seconds("REQUEST_LIMIT_EXCEEDED", None, 1) == 96


def test_other_transients_back_off_exponentially() -> None:
    assert [deferral_seconds("UNABLE_TO_LOCK_ROW", None, n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_budget_pauses_above_the_share_and_probes_again() -> None:
    budget = ApiBudget(pause_at=0.8)
    assert not budget.paused(0)
    budget.observe(ApiUsage(7999, 10000), at=0)
    assert not budget.paused(1)
    budget.observe(ApiUsage(8000, 10000), at=10)
    assert budget.paused(11) and budget.paused(10 + LIMIT_DEFERRAL_S - 1)
    assert not budget.paused(10 + LIMIT_DEFERRAL_S)  # one call may go and tell the usage again
    budget.observe(None, at=20)  # a failed call without the header changes nothing
    assert budget.last == ApiUsage(8000, 10000)
    assert not ApiBudget(pause_at=0).paused(0)


@pytest.mark.parametrize(("failure", "is_owner"), [
    (WritebackFailure("00Q", "INACTIVE_OWNER_OR_USER", "operation performed with inactive user"), True),
    (WritebackFailure("00Q", "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("OwnerId",)), True),
    (WritebackFailure("00Q", "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"), False),  # the lead
    (WritebackFailure("00Q", "FIELD_INTEGRITY_EXCEPTION", "Owner ID: id value of incorrect type: 00G", ("OwnerId",)),
     True),
    (WritebackFailure("00Q", "FIELD_INTEGRITY_EXCEPTION", "Territory: bad value", ("Territory__c",)), False),
    (WritebackFailure("00Q", "ENTITY_IS_DELETED", "entity is deleted"), False),
    (WritebackFailure("00Q", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Owner must be in the region"), False),
])
def test_refused_owner_classification(failure: WritebackFailure, is_owner: bool) -> None:
    assert refused_owner(failure) is is_owner
