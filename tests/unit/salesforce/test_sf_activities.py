"""TaskChangeEvent / EventChangeEvent: parsed into ACTIVITY changes, and when an activity is attention on a lead."""

from __future__ import annotations

import copy

import pytest

from territory_router.salesforce.events import ChangeKind, InvalidEvent, parse_relay_event
from territory_router.salesforce.lifecycle import Action, classify_activity
from territory_router.salesforce.samples import cdc_activity_event

ORG = "00Dxx0000001gErEAI"
LEAD, LEAD15 = "00Qxx0000001AbCEAU", "00Qxx0000001AbC"
CONTACT = "003A0000005QB3AIAW"
TASK, TASK2 = "00Txx0000001AbCEAU", "00Txx0000001AbDEAU"
MEETING = "00Uxx0000001AbCEAU"
OWNER = "005xx000001SvUNAA0"
MANAGER = "005xx000001SvUMAA0"
STRANGER = "005xx000001SvUPAA0"
INTEGRATION = "005xx000009ZZZZAA0"


def parse(event):
    return parse_relay_event(event, expected_org_id=ORG)


@pytest.mark.parametrize("detail_type", ["/data/TaskChangeEvent", "TaskChangeEvent"])
def test_logged_call_names_the_lead(detail_type: str) -> None:
    event = cdc_activity_event("Task", TASK, {"WhoId": LEAD15, "TaskSubtype": "Call", "Subject": "Call"},
                               org_id=ORG, commit_user=OWNER, detail_type=detail_type)
    (change,) = parse(event)
    assert change.kind is ChangeKind.ACTIVITY and change.lead_id == LEAD  # 15 -> 18 characters
    assert change.activity.entity == "Task" and change.activity.activity_id == TASK
    assert (change.activity.owner_id, change.activity.created_by, change.activity.subtype) == (OWNER, OWNER, "Call")
    assert change.idempotency_key == f"{change.event_id}:{TASK}"
    assert "Subject" not in change.activity.model_dump()  # free text is not kept


def test_meeting_and_bulk_tasks_fan_out_per_activity() -> None:
    (meeting,) = parse(cdc_activity_event("Event", MEETING, {"WhoId": LEAD}, org_id=ORG))
    assert meeting.activity.entity == "Event" and meeting.lead_id == LEAD
    changes = parse(cdc_activity_event("Task", [TASK, TASK2], {"WhoId": LEAD}, org_id=ORG))
    assert [c.activity.activity_id for c in changes] == [TASK, TASK2] and {c.lead_id for c in changes} == {LEAD}


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"WhoId": CONTACT}, "not a lead"),
        ({}, "names no lead"),
        ({"WhoId": None}, "names no lead"),
    ],
)
def test_activities_not_on_a_lead_parse_and_are_ignored(fields: dict, why: str) -> None:
    (change,) = parse(cdc_activity_event("Task", TASK, fields, org_id=ORG))
    assert change.kind is ChangeKind.ACTIVITY and change.lead_id is None
    decision = classify_activity(change, integration_user_id=None, lead_owner_id=OWNER)
    assert decision.action is Action.NONE and why in decision.reason


def test_wildcard_task_ids_are_not_an_error() -> None:
    (change,) = parse(cdc_activity_event("Task", "00T*", {"Status": "Completed"}, org_id=ORG, change_type="UPDATE"))
    assert change.kind is ChangeKind.ACTIVITY and change.lead_id is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p["ChangeEventHeader"].update(entityName="Event"), "entityName"),
        (lambda p: p["ChangeEventHeader"].update(recordIds=[LEAD]), "not a Task id"),
        (lambda p: p["ChangeEventHeader"].update(recordIds=["001*"]), "wildcard"),
        (lambda p: p.update(WhoId="not-an-id"), "WhoId"),
        (lambda p: p.update(OwnerId=42), "OwnerId"),
        (lambda p: p["ChangeEventHeader"].update(changeType="MERGE"), "changeType"),
    ],
)
def test_malformed_activity_events_are_refused(mutate, reason: str) -> None:
    event = copy.deepcopy(cdc_activity_event("Task", TASK, {"WhoId": LEAD}, org_id=ORG))
    mutate(event["detail"]["payload"])
    with pytest.raises(InvalidEvent, match=reason):
        parse(event)


# --- is it attention? --------------------------------------------------------------------------------------


def task(commit_user: str = OWNER, change_type: str = "CREATE", origin: str = "com/salesforce/api/rest/62.0", **fields):
    fields.setdefault("WhoId", LEAD)
    (change,) = parse(cdc_activity_event("Task", TASK, fields, org_id=ORG, commit_user=commit_user,
                                         change_type=change_type, change_origin=origin))
    return change


def decide(change, owner=OWNER, people=()):
    return classify_activity(change, integration_user_id=INTEGRATION, lead_owner_id=owner, roster_people=people)


def test_owner_logs_a_call() -> None:
    d = decide(task(TaskSubtype="Call"))
    assert d.action is Action.ATTENDED and "by its owner" in d.reason and "(Call)" in d.reason


def test_task_assigned_to_the_owner_by_someone_else_counts_by_owner() -> None:
    assert decide(task(commit_user=STRANGER, OwnerId=OWNER)).action is Action.ATTENDED


def test_someone_the_roster_counts_and_someone_it_does_not() -> None:
    asked: list[int] = []

    def people():
        asked.append(1)
        return {MANAGER[:15]}

    assert decide(task(commit_user=MANAGER), people=people).action is Action.ATTENDED
    stranger = decide(task(commit_user=STRANGER), people=people)
    assert stranger.action is Action.NONE and "neither" in stranger.reason
    assert decide(task(), people=people).action is Action.ATTENDED
    assert len(asked) == 2  # the roster is asked only when the owner rule did not decide


def test_our_integration_is_an_echo_not_attention() -> None:
    by_user = decide(task(commit_user=INTEGRATION, OwnerId=OWNER))
    assert by_user.action is Action.NONE and by_user.echo
    by_client = decide(task(origin="com/salesforce/api/rest/62.0;client=TerritoryRouter"))
    assert by_client.action is Action.NONE and by_client.echo


def test_another_integration_logging_the_reps_call_counts() -> None:
    dialer = "005xx000001DIALAA0"
    assert decide(task(commit_user=dialer, OwnerId=OWNER, CreatedById=dialer)).action is Action.ATTENDED


@pytest.mark.parametrize("change_type", ["DELETE", "GAP_CREATE"])
def test_deletes_and_gaps_are_not_attention(change_type: str) -> None:
    change = task(change_type=change_type)
    assert decide(change).action is Action.NONE


def test_update_that_links_the_task_to_the_lead_counts() -> None:
    change = task(change_type="UPDATE")
    assert change.activity.owner_id is None  # an UPDATE carries only what changed
    assert decide(change).action is Action.ATTENDED  # the user who saved it is the owner


def test_activity_on_a_kept_lead_counts_like_any_other() -> None:
    # a lead that kept its owner is stored with that owner: the same rule applies
    assert decide(task(commit_user=OWNER), owner=OWNER).action is Action.ATTENDED
