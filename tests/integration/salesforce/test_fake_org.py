"""The test org answers like Salesforce: state, SOQL subset, limits, owner refusals, and CDC for every change."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from territory_router.adapters.salesforce_client import ClientCredentialsTokenProvider, SalesforceClient
from territory_router.salesforce.errors import SalesforceError, SalesforceRetryableError
from territory_router.salesforce.events import parse_relay_event
from territory_router_tools.salesforce.fake_org import FakeOrg, encode_bitmap, event_schema

V = "/services/data/v62.0"


@pytest.fixture
def org() -> Iterator[FakeOrg]:
    with FakeOrg() as o:
        yield o


@pytest.fixture
def client(org: FakeOrg) -> SalesforceClient:
    return SalesforceClient(None, ClientCredentialsTokenProvider(org.url, "id", "secret"))


def _query(client: SalesforceClient, soql: str) -> dict[str, Any]:
    return client.request("GET", f"{V}/query?q={urllib.parse.quote(soql)}").json()


def _headers(org: FakeOrg, entity: str | None = None) -> list[dict[str, Any]]:
    out = []
    for event in org.emitted:
        header = event["detail"]["payload"]["ChangeEventHeader"]
        if entity is None or header["entityName"] == entity:
            out.append(header)
    return out


def test_a_rep_creating_a_lead_owns_it_and_the_create_is_emitted(org: FakeOrg) -> None:
    rep = org.add_user("Rita Rep")
    lead_id = org.create_lead(by=rep, LastName="Lovelace", Company="Analytical", City="San Francisco", State="CA")

    assert org.leads[lead_id]["OwnerId"] == rep
    (event,) = org.emitted
    assert event["detail-type"] == "/data/LeadChangeEvent"
    (change,) = parse_relay_event(event, expected_org_id=org.org_id)
    assert change.lead_id == lead_id and change.commit_user == rep
    assert change.lead.owner_id == rep and change.lead.city == "San Francisco"


def test_imports_and_web_to_lead_go_to_the_default_lead_owner(org: FakeOrg) -> None:
    ids = org.import_leads([{"LastName": "A", "Company": "X"}, {"LastName": "B", "Company": "Y"}])
    web = org.web_to_lead(LastName="C", Company="Z")
    assert {org.leads[i]["OwnerId"] for i in [*ids, web]} == {org.default_lead_owner}
    assert [h["changeType"] for h in _headers(org)] == ["CREATE"] * 3


def test_writeback_echo_names_the_integration_user_and_our_client(org: FakeOrg, client: SalesforceClient) -> None:
    rep = org.add_user("Rita Rep")
    lead_id = org.web_to_lead(LastName="C", Company="Z")
    results = client.update_owners([{"id": lead_id, "OwnerId": rep, "Territory__c": "West"}])
    assert results[0].success

    echo = _headers(org)[-1]
    assert echo["changeType"] == "UPDATE" and echo["commitUser"] == org.integration_user_id
    assert echo["changeOrigin"] == "com/salesforce/api/rest/62.0;client=TerritoryRouter"
    assert set(echo["changedFields"]) == {"OwnerId", "Territory__c", "LastModifiedDate"}
    assert org.leads[lead_id]["LastModifiedById"] == org.integration_user_id


def test_a_logged_call_is_a_task_event_and_no_lead_event(org: FakeOrg) -> None:
    rep = org.add_user("Rita Rep")
    lead_id = org.create_lead(by=rep, LastName="L", Company="C")
    task_id = org.log_call(lead_id, by=rep)
    meeting_id = org.log_meeting(lead_id, by=rep)

    assert org.leads[lead_id]["LastActivityDate"] is not None
    assert [h["changeType"] for h in _headers(org, "Lead")] == ["CREATE"]  # LastActivityDate is derived: no event
    task_event = org.emitted[1]
    assert task_event["detail-type"] == "/data/TaskChangeEvent"
    payload = task_event["detail"]["payload"]
    assert payload["ChangeEventHeader"]["recordIds"] == [task_id] and payload["WhoId"] == lead_id
    assert payload["TaskSubtype"] == "Call" and payload["OwnerId"] == rep
    assert org.emitted[2]["detail-type"] == "/data/EventChangeEvent"
    assert org.emitted[2]["detail"]["payload"]["ChangeEventHeader"]["recordIds"] == [meeting_id]


def test_gap_events_and_bitmaps(org: FakeOrg) -> None:
    lead_id = org.create_lead(LastName="L", Company="C", gap=True)
    org.emit_gap("GAP_OVERFLOW")
    assert [(h["changeType"], h["recordIds"]) for h in _headers(org)] == [("GAP_CREATE", [lead_id]),
                                                                          ("GAP_OVERFLOW", [])]
    org.bitmap_fields = True
    org.update_lead(lead_id, by=org.admin_id, Status="Working - Contacted", City="Oakland")
    header = _headers(org)[-1]
    schema = event_schema("Lead")
    top = int(header["changedFields"][0], 16)
    assert top & (1 << schema.index("Status")) and top & (1 << schema.index("LastModifiedDate"))
    address = next(i for i, e in enumerate(schema) if isinstance(e, tuple) and e[0] == "Address")
    assert header["changedFields"][1] == f"{address}-0x2"  # City is the second Address component
    assert encode_bitmap(["Status"], "Lead") == [f"0x{1 << schema.index('Status'):X}"]


def test_a_stopped_relay_keeps_events_72_hours(org: FakeOrg) -> None:
    delivered: list[dict[str, Any]] = []
    org._sink = delivered.extend  # what connect() sets to publish on the partner bus
    org.stop_relay()
    old = org.create_lead(LastName="Old", Company="C")
    org.advance(timedelta(hours=73))
    new = org.create_lead(LastName="New", Company="C")
    assert delivered == []

    stats = org.start_relay()
    assert (stats.delivered, stats.lost) == (1, 1)
    assert [e["detail"]["payload"]["ChangeEventHeader"]["recordIds"] for e in delivered] == [[new]]
    assert old in org.leads  # the lead exists; only its event is gone: reconciliation must find it


def test_soql_in_and_reconciliation_query(org: FakeOrg, client: SalesforceClient) -> None:
    rep = org.add_user("Rita Rep")
    a = org.create_lead(by=rep, LastName="A", Company="C")
    b = org.web_to_lead(LastName="B", Company="C")
    c = org.web_to_lead(LastName="C", Company="C")
    org.update_lead(c, by=rep, Status="Closed - Not Converted")
    org.update_lead(b, by=rep, Routing_Status__c="ASSIGNED")

    got = _query(client, f"SELECT Id, Status, OwnerId FROM Lead WHERE Id IN ('{a[:15]}', '{b}')")
    assert got["totalSize"] == 2 and got["done"] is True
    assert {r["Id"] for r in got["records"]} == {a, b}
    assert got["records"][0]["attributes"] == {"type": "Lead", "url": f"{V}/sobjects/Lead/{got['records'][0]['Id']}"}
    assert set(got["records"][0]) == {"attributes", "Id", "Status", "OwnerId"}

    since = (org.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reconcile = (f"SELECT Id, CreatedDate FROM Lead WHERE CreatedDate >= {since} AND IsConverted = false "
                 "AND Routing_Status__c = null AND Status NOT IN ('Closed - Converted', 'Closed - Not Converted') "
                 "ORDER BY CreatedDate ASC, Id LIMIT 100")
    assert [r["Id"] for r in _query(client, reconcile)["records"]] == [a]
    later = (org.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert _query(client, f"SELECT Id FROM Lead WHERE LastModifiedDate >= {later}")["totalSize"] == 0
    assert _query(client, "SELECT Id FROM Lead WHERE Status != 'Closed - Not Converted'")["totalSize"] == 2


def test_soql_pages_with_next_records_url(org: FakeOrg, client: SalesforceClient) -> None:
    ids = org.import_leads([{"LastName": f"L{i}", "Company": "C"} for i in range(450)])
    response = client.request("GET", f"{V}/query?q={urllib.parse.quote('SELECT Id FROM Lead ORDER BY Id')}",
                              headers={"Sforce-Query-Options": "batchSize=200"})
    page = response.json()
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = client.request("GET", page["nextRecordsUrl"]).json()
        seen += [r["Id"] for r in page["records"]]
    assert seen == sorted(ids) and page["totalSize"] == 450


@pytest.mark.parametrize(("soql", "code"), [
    ("SELECT Id FROM Lead WHERE Status = 'A' OR Status = 'B'", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE (Status = 'A')", "MALFORMED_QUERY"),
    ("SELECT COUNT() FROM Lead", "MALFORMED_QUERY"),
    ("SELECT Owner.Name FROM Lead", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead GROUP BY Status", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE Name LIKE 'A%'", "INVALID_FIELD"),
    ("SELECT Id FROM Lead WHERE Status LIKE 'A%'", "MALFORMED_QUERY"),
    ("SELECT Nope__c FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Account", "INVALID_TYPE"),
    ("SELEC Id FROM Lead", "MALFORMED_QUERY"),
])
def test_soql_outside_the_subset_is_refused_like_salesforce(client: SalesforceClient, soql: str, code: str) -> None:
    with pytest.raises(SalesforceError) as info:
        _query(client, soql)
    assert (info.value.status, info.value.code) == (400, code)


def test_owner_refusals(org: FakeOrg, client: SalesforceClient) -> None:
    gone = org.add_user("Gone Rep", active=False)
    no_leads = org.add_queue("Cases only", sobject_types=("Case",)).queue_id
    lead_ids = [org.web_to_lead(LastName=f"L{i}", Company="C") for i in range(4)]
    converted = org.web_to_lead(LastName="Conv", Company="C")
    org.convert_lead(converted, by=org.admin_id)
    records = [{"id": lead_ids[0], "OwnerId": gone}, {"id": lead_ids[1], "OwnerId": no_leads},
               {"id": lead_ids[2], "OwnerId": "005xx0000099999AAA"}, {"id": lead_ids[3], "OwnerId": org.admin_id},
               {"id": converted, "OwnerId": org.admin_id}]
    results = client.update_owners(records)
    assert [(r.code, r.errors[0].fields if r.errors else ()) for r in results] == [
        ("INACTIVE_OWNER_OR_USER", ()), ("FIELD_INTEGRITY_EXCEPTION", ("OwnerId",)),
        ("INVALID_CROSS_REFERENCE_KEY", ("OwnerId",)), (None, ()), ("CANNOT_UPDATE_CONVERTED_LEAD", ())]
    assert org.leads[lead_ids[3]]["OwnerId"] == org.admin_id and org.leads[lead_ids[0]]["OwnerId"] != gone


def test_all_or_none_rolls_back_and_emits_nothing(org: FakeOrg, client: SalesforceClient) -> None:
    good, bad = org.web_to_lead(LastName="G", Company="C"), org.web_to_lead(LastName="B", Company="C")
    org.lock_record(bad)
    before = len(org.emitted)
    response = client.request("PATCH", f"{V}/composite/sobjects", {"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": good, "OwnerId": org.admin_id},
        {"attributes": {"type": "Lead"}, "id": bad, "OwnerId": org.admin_id}]})
    codes = [r["errors"][0]["statusCode"] for r in response.json()]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "UNABLE_TO_LOCK_ROW"]
    assert org.leads[good]["OwnerId"] == org.default_lead_owner and len(org.emitted) == before


def test_daily_allocation_is_rolling_and_shared(org: FakeOrg, client: SalesforceClient) -> None:
    lead_id = org.web_to_lead(LastName="L", Company="C")
    client.update_owners([{"id": lead_id, "Territory__c": "A"}])
    assert client.last_api_usage is not None and client.last_api_usage.used == 1

    org.advance(timedelta(hours=1))
    org.spend_api()  # other integrations use up the rest of the allocation now
    with pytest.raises(SalesforceRetryableError) as info:
        client.update_owners([{"id": lead_id, "Territory__c": "B"}])
    assert (info.value.status, info.value.code) == (403, "REQUEST_LIMIT_EXCEEDED")
    assert client.last_api_usage.used == org.api_limit  # the refusal carries Sforce-Limit-Info too

    org.advance(timedelta(hours=23, seconds=1))  # our first call aged out (room for one), the big spend not yet
    assert client.update_owners([{"id": lead_id, "Territory__c": "B"}])[0].success
    with pytest.raises(SalesforceRetryableError):
        client.update_owners([{"id": lead_id, "Territory__c": "C"}])
    org.advance(timedelta(hours=1))
    assert client.update_owners([{"id": lead_id, "Territory__c": "C"}])[0].success
    assert client.last_api_usage.used == 2  # the two calls of the last 24 hours


def test_get_record_and_unknown_fields(org: FakeOrg, client: SalesforceClient) -> None:
    lead_id = org.web_to_lead(LastName="L", Company="C")
    record = client.get_lead(lead_id, ["Status", "OwnerId"])
    assert record == {"attributes": {"type": "Lead", "url": f"{V}/sobjects/Lead/{lead_id}"}, "Id": lead_id,
                      "Status": "Open - Not Contacted", "OwnerId": org.default_lead_owner}
    with pytest.raises(SalesforceError) as info:
        client.update_owners([{"id": lead_id, "Nope__c": "x"}])
    assert info.value.code == "INVALID_FIELD"
    org.delete_lead(lead_id)
    assert client.get_lead(lead_id) is None
    assert client.update_owners([{"id": lead_id, "Territory__c": "A"}])[0].code == "ENTITY_IS_DELETED"
