"""Salesforce's current state of a lead (read with SOQL): the re-read decision table and "may we route it now"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from territory_router.salesforce.lifecycle import Action, classify_current, routable_now

LEAD = "00Qxx0000001AbCEAU"
OURS = "005xx000002RepAAAS"
ORIGINAL_QUEUE = "00Gxx000000WebQAAS"
PREVIOUS = "005xx000003OldAAAS"
MANAGER = "005xx000009MgrAAAS"
INTEGRATION = "005xx000000IntgAAC"
ASSIGNED = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def record(**fields):
    values = {"Id": LEAD, "Status": "Open - Not Contacted", "OwnerId": OURS, "IsConverted": False,
              "LastActivityDate": None, "LastModifiedById": INTEGRATION}
    values.update(fields)
    return values


def decide(rec, **kw):
    kw.setdefault("our_owner_id", OURS)
    kw.setdefault("assigned_at", ASSIGNED)
    kw.setdefault("earlier_owner_ids", [ORIGINAL_QUEUE, PREVIOUS])
    kw.setdefault("integration_user_id", INTEGRATION)
    return classify_current(rec, **kw)


@pytest.mark.parametrize(
    ("rec", "action", "why"),
    [
        (None, Action.DELETED, "deleted"),
        (record(IsConverted=True, Status="Closed - Converted"), Action.CLOSED, "converted"),
        (record(IsConverted="true"), Action.CLOSED, "converted"),
        (record(Status="Closed - Not Converted"), Action.CLOSED, "closed status"),
        (record(Status="Unqualified"), Action.CLOSED, "closed status"),
        (record(Status="Working - Contacted"), Action.ATTENDED, "status moved on"),
        (record(LastActivityDate="2026-03-10"), Action.ATTENDED, "activity logged"),  # same day
        (record(LastActivityDate="2026-03-12"), Action.ATTENDED, "activity logged"),
        (record(LastActivityDate="2026-03-09"), Action.ATTENDED, "activity logged"),  # a day of time-zone slack
        (record(LastActivityDate="2026-03-08"), Action.NONE, "older activity: a previous owner's"),
        (record(OwnerId=MANAGER, LastModifiedById=MANAGER), Action.ATTENDED, "taken over by a person"),
        (record(OwnerId=MANAGER), Action.ATTENDED, "taken over, even by the integration user"),
        (record(OwnerId=ORIGINAL_QUEUE), Action.NONE, "our writeback not landed yet"),
        (record(OwnerId=PREVIOUS), Action.NONE, "our re-route's writeback not landed yet"),
        (record(OwnerId=OURS[:15]), Action.NONE, "15-character form of our owner"),
        (record(), Action.NONE, "untouched"),
        (record(Status="Open", LastModifiedById=MANAGER), Action.NONE, "a person edited other fields"),
        (record(Status=None), Action.NONE, "no status is no progress"),
    ],
)
def test_re_read_decision_table(rec, action, why):
    decision = decide(rec)
    assert decision.action is action, why


def test_reasons_say_what_salesforce_shows():
    assert "activity logged on 2026-03-10" in decide(record(LastActivityDate="2026-03-10")).reason
    taken = decide(record(OwnerId=MANAGER, LastModifiedById=MANAGER))
    assert taken.owner_id == MANAGER and f"last modified by {MANAGER}" in taken.reason
    assert "the integration user" in decide(record(OwnerId=MANAGER)).reason
    assert "Working - Contacted" in decide(record(Status="Working - Contacted")).reason


def test_org_specific_statuses_come_from_the_same_rule_set():
    rec = record(Status="Nurture")
    assert decide(rec).action is Action.ATTENDED
    assert decide(rec, initial_statuses={"Nurture"}).action is Action.NONE
    assert decide(record(Status="Dead"), closed_status_markers=("dead",)).action is Action.CLOSED


def test_no_assignment_time_ignores_activity_dates():
    assert decide(record(LastActivityDate="2026-03-12"), assigned_at=None).action is Action.NONE


@pytest.mark.parametrize(
    ("rec", "ok", "why"),
    [
        (record(Routing_Status__c=None), True, "open, untouched"),
        (record(IsConverted=True), False, "converted"),
        (record(Status="Closed - Not Converted"), False, "closed status"),
        (record(Status="Working - Contacted"), False, "already worked (status moved on)"),
        (record(LastActivityDate="2020-01-01"), False, "already worked (activity logged)"),
        (record(Routing_Status__c="ASSIGNED"), False, "already routed (routing status set)"),
        (record(Routing_Status__c=""), True, "open, untouched"),
    ],
)
def test_routable_now(rec, ok, why):
    assert routable_now(rec) == (ok, why)


def test_routable_now_without_a_routing_status_field():
    assert routable_now(record(Routing_Status__c="ASSIGNED"), routing_status_field=None)[0] is True
