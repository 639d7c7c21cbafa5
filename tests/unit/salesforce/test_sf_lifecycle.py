"""Lifecycle rules: what a Salesforce Lead change means for a lead we routed."""

from __future__ import annotations

from typing import Any

import pytest

from territory_router.salesforce.events import parse_relay_event
from territory_router.salesforce.lifecycle import Action, classify_update
from territory_router.salesforce.writeback_rules import WritebackFieldMap
from territory_router_tools.salesforce.samples import (
    cdc_create_event,
    cdc_delete_event,
    cdc_header_only_event,
    cdc_update_event,
    sample_lead,
)

ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
INTEGRATION_USER = "005xx000000IntgAAC"
PERSON = "005xx000001SvUNAA0"
OUR_OWNER = "005xx000002RepAAAS"
OTHER_REP = "005xx000003OthAAAS"


def _update(changes: dict[str, Any], *, user: str = PERSON, origin: str = "com/salesforce/api/soap/62.0"):
    event = cdc_update_event(LEAD, changes, org_id=ORG, commit_user=user, change_origin=origin)
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    return change


def _classify(change, **kwargs):
    kwargs.setdefault("integration_user_id", INTEGRATION_USER)
    kwargs.setdefault("our_owner_id", OUR_OWNER)
    return classify_update(change, **kwargs)


def test_status_moved_on_by_a_person_is_attended() -> None:
    action = _classify(_update({"Status": "Working - Contacted"}))
    assert action.action is Action.ATTENDED
    assert action.status == "Working - Contacted" and action.lead_id == LEAD


def test_status_set_back_to_initial_is_not_attention() -> None:
    assert _classify(_update({"Status": "Open - Not Contacted"})).action is Action.NONE


def test_custom_initial_statuses() -> None:
    change = _update({"Status": "Queued"})
    assert _classify(change).action is Action.ATTENDED
    assert _classify(change, initial_statuses={"Queued"}).action is Action.NONE


@pytest.mark.parametrize(
    "changes",
    [
        {"IsConverted": True, "Status": "Closed - Converted"},
        {"IsConverted": True},
        {"Status": "Closed - Not Converted"},
        {"Status": "Unqualified"},
    ],
)
def test_converted_or_closed_is_closed(changes: dict[str, Any]) -> None:
    assert _classify(_update(changes)).action is Action.CLOSED


def test_closed_even_when_done_by_the_integration_user() -> None:
    assert _classify(_update({"Status": "Closed - Converted"}, user=INTEGRATION_USER)).action is Action.CLOSED


def test_our_writeback_echo_by_integration_user_is_ignored() -> None:
    change = _update({"OwnerId": OUR_OWNER, "Territory__c": "West", "Routing_Status__c": "ASSIGNED",
                      "Routing_Reason__c": "x", "Territory_Tag_Method__c": "POLYGON"}, user=INTEGRATION_USER)
    action = _classify(change, our_owner_id=None)
    assert action.action is Action.NONE and action.echo


def test_echo_recognised_by_call_options_client_tag() -> None:
    change = _update({"OwnerId": OTHER_REP}, user=PERSON,
                     origin="com/salesforce/api/rest/62.0;client=TerritoryRouter")
    action = _classify(change, integration_user_id=None, our_owner_id=None)
    assert action.action is Action.NONE and action.echo


def test_echo_recognised_by_owner_we_set_even_under_another_user() -> None:
    action = _classify(_update({"OwnerId": OUR_OWNER[:15]}), integration_user_id=None)
    assert action.action is Action.NONE and action.echo


def test_owner_changed_by_a_person_is_attended_with_the_new_owner() -> None:
    action = _classify(_update({"OwnerId": OTHER_REP}))
    assert action.action is Action.ATTENDED and action.owner_id == OTHER_REP


def test_owner_changed_by_integration_user_to_someone_else_is_not_attention() -> None:
    # e.g. a newer routing decision of ours arriving after the one we compare with
    action = _classify(_update({"OwnerId": OTHER_REP}, user=INTEGRATION_USER))
    assert action.action is Action.NONE


def test_integration_user_changing_other_fields_is_not_attention() -> None:
    action = _classify(_update({"Status": "Working - Contacted"}, user=INTEGRATION_USER))
    assert action.action is Action.NONE and action.echo


def test_unrelated_field_change_is_none() -> None:
    action = _classify(_update({"Phone": "+1 555 0101", "Description": "called back"}))
    assert action.action is Action.NONE and not action.echo


def test_only_system_fields_is_none() -> None:
    change = _update({})
    assert set(change.changed_fields) == {"LastModifiedDate"}
    assert _classify(change).action is Action.NONE


def test_activity_logged_is_attended() -> None:
    assert _classify(_update({"LastActivityDate": "2026-03-02"})).action is Action.ATTENDED


def test_custom_field_map_changes_what_counts_as_ours() -> None:
    fmap = WritebackFieldMap(territory="Sales_Territory__c", routing_reason=None)
    change = _update({"Sales_Territory__c": "West", "OwnerId": OUR_OWNER}, user=INTEGRATION_USER)
    assert _classify(change, field_map=fmap).echo
    change = _update({"Territory__c": "West", "OwnerId": OUR_OWNER}, user=INTEGRATION_USER)
    # Territory__c is not ours under this map: still not a person's attention, but not a pure echo either
    action = _classify(change, field_map=fmap)
    assert action.action is Action.NONE


def test_delete_gap_and_create() -> None:
    (deleted,) = parse_relay_event(cdc_delete_event(LEAD, org_id=ORG), expected_org_id=ORG)
    assert _classify(deleted).action is Action.DELETED
    (gap,) = parse_relay_event(cdc_header_only_event("GAP_UPDATE", [LEAD], org_id=ORG), expected_org_id=ORG)
    action = _classify(gap)
    assert action.action is Action.GAP and "GAP_UPDATE" in action.reason
    (created,) = parse_relay_event(cdc_create_event(sample_lead(LEAD), org_id=ORG), expected_org_id=ORG)
    assert _classify(created).action is Action.NONE



def test_saved_by_integration_names_exactly_what_the_echo_filter_keeps_in_salesforce() -> None:
    from territory_router.salesforce.lifecycle import saved_by_integration
    from territory_router_tools.salesforce.channel_filter import echo_filter_expression, matches, parse

    node = parse(echo_filter_expression(INTEGRATION_USER))
    cases = [  # (event, kept in Salesforce by the filter)
        (cdc_update_event(LEAD, {"OwnerId": PERSON}, org_id=ORG, commit_user=INTEGRATION_USER), True),
        (cdc_update_event(LEAD, {"Status": "Working"}, org_id=ORG, commit_user=PERSON), False),
        (cdc_create_event(sample_lead(LEAD), org_id=ORG, commit_user=INTEGRATION_USER), False),
        (cdc_delete_event(LEAD, org_id=ORG, commit_user=INTEGRATION_USER), False),
        (cdc_header_only_event("GAP_UPDATE", [LEAD], org_id=ORG, commit_user=INTEGRATION_USER), False),
    ]
    for event, kept in cases:
        header = event["detail"]["payload"]["ChangeEventHeader"]
        assert matches(node, header=header, fields={}) is (not kept), header
        (change,) = parse_relay_event(event, expected_org_id=ORG)
        assert saved_by_integration(change, INTEGRATION_USER) is kept, header
        assert saved_by_integration(change, INTEGRATION_USER[:15]) is kept  # the 15-character form of the id
        assert not saved_by_integration(change, None)
