"""Channel member filter expressions: the test org's evaluator against Salesforce's documented examples, and the
echo filter we install (docs/salesforce.md, "Filtering our own echo on the Salesforce side")."""

from __future__ import annotations

import pytest

from territory_router_tools.salesforce.channel_filter import (
    FilterExpressionError,
    echo_filter_expression,
    matches,
    parse,
)

ACCOUNT_FIELDS = ("Industry", "NumberOfEmployees", "Name", "MyTextField__c", "IsActive__c")
US = "005xx000000IntgAAC"


def _match(expression: str, *, header=None, fields=None, entity_fields=ACCOUNT_FIELDS) -> bool:
    return matches(parse(expression, entity_fields=entity_fields), header=header or {}, fields=fields or {})


# The examples of "Filter Expression Format" (Change Data Capture Developer Guide), evaluated on records.
@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("Industry = 'Agriculture'", {"Industry": "Agriculture"}, True),
        ("Industry = 'Agriculture'", {"Industry": "Banking"}, False),
        ("Industry LIKE 'A%'", {"Industry": "Apparel"}, True),
        ("Industry LIKE 'A%'", {"Industry": "Banking"}, False),
        ("Industry = 'Agriculture' AND NumberOfEmployees > 1000", {"Industry": "Agriculture", "NumberOfEmployees": 1500}, True),
        ("Industry = 'Agriculture' AND NumberOfEmployees > 1000", {"Industry": "Agriculture", "NumberOfEmployees": 10}, False),
        ("NumberOfEmployees > 1000 AND (Industry = 'Agriculture' OR Industry = 'Banking')",
         {"Industry": "Banking", "NumberOfEmployees": 2000}, True),
        ("NumberOfEmployees > 1000 AND (Industry = 'Agriculture' OR Industry = 'Banking')",
         {"Industry": "Energy", "NumberOfEmployees": 2000}, False),
        # "Text values are case-insensitive": 'ABC' and 'abc' are the same.
        ("MyTextField__c='ABC'", {"MyTextField__c": "abc"}, True),
        # Spaces are optional around operators when each field expression is parenthesised.
        ("(Industry='Agriculture')OR(Industry='Banking')", {"Industry": "banking"}, True),
        # Checkbox: "Comparing a Checkbox field to null is equivalent to comparing it to a value of false."
        ("IsActive__c = false", {}, True),
        ("Industry IN ('Agriculture', 'Banking')", {"Industry": "Banking"}, True),
        ("Industry NOT IN ('Agriculture', 'Banking')", {"Industry": "Energy"}, True),
    ],
)
def test_documented_examples(expression: str, fields: dict, expected: bool) -> None:
    assert _match(expression, fields=fields) is expected


def test_header_field_example_filters_on_the_change_type() -> None:
    expression = "ChangeEventHeader.changeType = 'UPDATE'"
    assert _match(expression, header={"changeType": "UPDATE"})
    assert not _match(expression, header={"changeType": "CREATE"})


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("MyTextField__c=Hello", "single quotes"),  # documented as invalid
        ("ChangeEventHeader.recordIds = '00Qxx0000001AbCEAU'", "arrays"),  # array header fields are not supported
        ("ChangeEventHeader.changedFields = 'Status'", "arrays"),
        ("ChangeEventHeader.nulledFields = 'Phone'", "arrays"),
        ("ChangeEventHeader.diffFields = 'Description'", "arrays"),
        ("ChangeEventHeader.whoDidIt = 'x'", "no such ChangeEventHeader field"),
        ("Nope__c = 'x'", "no such field"),
        ("Industry = 'A' AND Industry = 'B' OR Industry = 'C'", "parentheses"),
        ("IsActive__c > true", "Checkbox"),
        ("Industry <> 'A'", "!="),
        ("NOT Industry = 'A'", "NOT"),
        ("Industry = 'A\\%'", "escape"),
        ("Industry = ", "ends too early"),
        ("", "empty"),
        ("(Industry = 'A'", "ends too early"),
    ],
)
def test_refused_expressions_say_why(expression: str, why: str) -> None:
    with pytest.raises(FilterExpressionError, match=why):
        _match(expression, fields={"Industry": "A", "IsActive__c": True})


def test_leading_spaces_in_the_value_fail_the_comparison() -> None:
    # "leading and trailing spaces ... are stripped in the received event messages, don't include them in the filter
    # string. If you do, the filter comparison fails."
    assert not _match("Industry = ' Agriculture'", fields={"Industry": "Agriculture"})


def test_echo_filter_keeps_everything_but_our_own_updates() -> None:
    node = parse(echo_filter_expression(US))
    ours = {"commitUser": US, "changeType": "UPDATE"}
    assert not matches(node, header=ours, fields={})
    # A person's update, and every other kind of change by us (a lead we inserted is routed; gaps are resolved).
    assert matches(node, header={**ours, "commitUser": "005xx000001SvUNAA0"}, fields={})
    for change_type in ("CREATE", "DELETE", "UNDELETE", "GAP_UPDATE", "GAP_CREATE", "GAP_OVERFLOW"):
        assert matches(node, header={**ours, "changeType": change_type}, fields={})
    # A header without commitUser (a gap overflow) is judged by changeType alone.
    assert matches(node, header={"changeType": "GAP_OVERFLOW"}, fields={})


def test_echo_filter_writes_the_18_character_id_and_refuses_other_ids() -> None:
    assert "'005xx000000IntgAAC'" in echo_filter_expression("005xx000000Intg")
    for bad in ("", "00Qxx0000001AbCEAU", "005x' OR changeType != '", None):
        with pytest.raises(FilterExpressionError, match="integration user id"):
            echo_filter_expression(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the test org's channel, as a deployed org's

from territory_router.adapters.salesforce_client import SalesforceClient  # noqa: E402
from tests.fakes.salesforce_rest import RestTransport, StaticTokens  # noqa: E402


def _relayed(org) -> list[tuple[str, str, str]]:
    out = []
    org._sink = lambda events: out.extend(  # what the relay hands to EventBridge
        (e["detail"]["payload"]["ChangeEventHeader"]["entityName"], e["detail"]["payload"]["ChangeEventHeader"]["changeType"],
         e["detail"]["payload"]["ChangeEventHeader"]["commitUser"]) for e in events)
    return out


def test_the_org_relays_no_echo_of_our_writeback_once_the_member_has_the_filter() -> None:
    transport = RestTransport()
    org = transport.salesforce
    org.set_channel_filter("LeadChangeEvent", echo_filter_expression(org.integration_user_id))
    relayed = _relayed(org)
    rep = org.add_user("Rita Rep")
    lead = org.web_to_lead({"LastName": "Lovelace", "Company": "Analytical"})
    client = SalesforceClient(None, StaticTokens(), session=transport)
    result = client.update_owners([{"id": lead, "OwnerId": rep}])
    assert [r.success for r in result] == [True]
    org.update_lead(lead, by=rep, Status="Working - Contacted")
    org.log_call(lead, by=rep)
    # The org made four changes; the channel held three: the echo (UPDATE by the integration user) was filtered.
    kinds = [(e["detail"]["payload"]["ChangeEventHeader"]["changeType"],
              e["detail"]["payload"]["ChangeEventHeader"]["commitUser"]) for e in org.emitted]
    assert ("UPDATE", org.integration_user_id) in kinds
    assert ("Lead", "UPDATE", org.integration_user_id) not in relayed
    assert [r[:2] for r in relayed] == [("Lead", "CREATE"), ("Lead", "UPDATE"), ("Task", "CREATE")]
    assert org.relay_stats.filtered == 1


def test_without_the_filter_the_echo_is_relayed_and_a_refused_filter_changes_nothing() -> None:
    org = RestTransport().salesforce
    relayed = _relayed(org)
    with pytest.raises(FilterExpressionError, match="arrays"):
        org.set_channel_filter("LeadChangeEvent", "ChangeEventHeader.changedFields = 'OwnerId'")
    with pytest.raises(FilterExpressionError, match="no such field"):
        org.set_channel_filter("LeadChangeEvent", "NumberOfEmployees > 10")  # an Account field, not a Lead's
    with pytest.raises(ValueError, match="not a member"):
        org.set_channel_filter("AccountChangeEvent", "Industry = 'Banking'")
    lead = org.web_to_lead({"LastName": "Hopper", "Company": "Navy"})
    org.update_lead(lead, by=org.integration_user_id, origin="com/salesforce/api/rest/62.0;client=TerritoryRouter",
                    Territory__c="West")
    assert [r[1] for r in relayed] == ["CREATE", "UPDATE"] and org.relay_stats.filtered == 0


def test_an_entity_field_filter_sees_the_record_value_even_when_it_did_not_change() -> None:
    # Auto-enrichment: "the change event message always contains the filtered field".
    org = RestTransport().salesforce
    relayed = _relayed(org)
    org.set_channel_filter("LeadChangeEvent", "Industry = 'banking'")
    banking = org.web_to_lead({"LastName": "A", "Company": "A", "Industry": "Banking"})
    org.web_to_lead({"LastName": "B", "Company": "B", "Industry": "Energy"})
    org.update_lead(banking, by=org.admin_id, Status="Working - Contacted")  # Industry not in this change
    assert [r[1] for r in relayed] == ["CREATE", "UPDATE"] and org.relay_stats.filtered == 1
