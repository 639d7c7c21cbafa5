"""Reading leads from Salesforce: SOQL text (soql.py) and the client's Query resource calls, no sockets."""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import UTC, datetime

import pytest

from territory_router.adapters.salesforce_client import HttpResponse, QueryPage, SalesforceClient
from territory_router.domain.ids import to_15, to_18
from territory_router.salesforce import soql
from territory_router.salesforce.errors import SalesforceError, SalesforceRetryableError
from tests.fakes.salesforce_rest import RestTransport, StaticTokens


def lead_id(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


@pytest.fixture
def transport() -> RestTransport:
    return RestTransport()


@pytest.fixture
def client(transport: RestTransport) -> SalesforceClient:
    return SalesforceClient(None, StaticTokens(), session=transport)


# ------------------------------------------------------------------------------------------ query building


def test_leads_by_id_chunks_of_200_distinct_ids():
    ids = [lead_id(n) for n in range(450)]
    queries = soql.leads_by_id(ids + [to_15(ids[0]), ids[1]], ["Status", "OwnerId"])
    assert len(queries) == 3
    counts = [q.count("'00Q") for q in queries]
    assert counts == [200, 200, 50]  # the 15-character form and the repeated id are not asked again
    assert queries[0].startswith("SELECT Id, Status, OwnerId FROM Lead WHERE Id IN ('")
    assert f"'{ids[449]}'" in queries[2]


def test_leads_by_id_expands_15_character_ids():
    (query,) = soql.leads_by_id([to_15(lead_id(7))], ["Status"])
    assert f"'{lead_id(7)}'" in query


def test_no_query_for_no_ids():
    assert soql.leads_by_id([], ["Status"]) == []


@pytest.mark.parametrize("bad", ["00Qxx' OR Name != '", "", "00Q", 42, None])
def test_ids_that_are_not_salesforce_ids_are_refused(bad):
    with pytest.raises(soql.InvalidQuery):
        soql.leads_by_id([bad], ["Status"])


@pytest.mark.parametrize("bad", ["Status FROM Account --", "Owner.Name", "1Status", "", "Status,OwnerId"])
def test_field_names_cannot_change_the_query(bad):
    with pytest.raises(soql.InvalidQuery):
        soql.leads_by_id([lead_id(1)], [bad])


def test_field_list_puts_id_first_once():
    assert soql.field_list(["Status", "id", "Routing_Status__c", "ns__Score__c"]) == "Id, Status, Routing_Status__c, ns__Score__c"


def test_chunk_size_above_200_is_refused():
    with pytest.raises(soql.InvalidQuery):
        soql.leads_by_id([lead_id(1)], ["Status"], chunk_size=201)


def test_quote_escapes_like_soql():
    assert soql.quote("O'Brien \\ \"x\"\n") == "'O\\'Brien \\\\ \\\"x\\\"\\n'"
    with pytest.raises(soql.InvalidQuery):
        soql.quote("bell\x07")


def test_unrouted_leads_query():
    text = soql.unrouted_leads(
        ["Status", "OwnerId"], since=datetime(2026, 3, 1, 12, 0, 30, 999, tzinfo=UTC),
        until=datetime(2026, 3, 1, 14, tzinfo=UTC), limit=500,
    )
    assert text == (
        "SELECT Id, Status, OwnerId FROM Lead WHERE IsConverted = false AND Routing_Status__c = null"
        " AND SystemModstamp >= 2026-03-01T12:00:30Z AND SystemModstamp < 2026-03-01T14:00:00Z"
        " ORDER BY SystemModstamp ASC, Id ASC LIMIT 500"
    )
    without_status = soql.unrouted_leads(["Status"], since=datetime(2026, 3, 1, tzinfo=UTC), routing_status_field=None)
    assert "Routing_Status__c" not in without_status and "LIMIT" not in without_status


# ------------------------------------------------------------------------------------------ the client


def _seed(transport: RestTransport, n: int) -> list[str]:
    return [transport.add_lead(lead_id(i), Status="Open - Not Contacted", OwnerId=to_18("00Gxx000000QueA")) for i in range(n)]


def test_query_follows_next_records_url(client, transport):
    transport.page_size = 3
    ids = _seed(transport, 8)
    result = client.query(soql.leads_by_id(ids, ["Status"])[0])
    assert result.total_size == 8 and result.done
    assert [r["Id"] for r in result.records] == ids
    assert result.records[0]["attributes"]["type"] == "Lead"
    paths = [e.path for e in transport.exchanges]
    assert paths[0].endswith("/services/data/v62.0/query")
    assert [re.fullmatch(r"/services/data/v62\.0/query/01g[A-Za-z0-9]+-(\d+)", p).group(1) for p in paths[1:]] == ["3", "6"]
    first = urllib.parse.urlsplit(transport.exchanges[0].url)
    assert urllib.parse.parse_qs(first.query)["q"] == [soql.leads_by_id(ids, ["Status"])[0]]


def test_query_records_stops_reading_pages_at_max_records(client, transport):
    transport.page_size = 3
    ids = _seed(transport, 8)
    records = list(client.query_records(soql.leads_by_id(ids, ["Status"])[0], max_records=4))
    assert len(records) == 4
    assert len(transport.exchanges) == 2  # pages 1 and 2, never page 3
    result = client.query(soql.leads_by_id(ids, ["Status"])[0], max_records=4)
    assert len(result.records) == 4 and not result.done


def test_get_leads_one_query_per_200_ids_and_absent_means_gone(client, transport):
    ids = _seed(transport, 450)
    del transport.leads[ids[10]]  # deleted in Salesforce
    asked = [to_15(i) for i in ids] + [lead_id(9999)]
    found = client.get_leads(asked, ["Status", "OwnerId", "LastActivityDate"])
    assert len(transport.exchanges) == 3
    assert set(found) == set(ids) - {ids[10]}
    assert found[ids[0]]["Status"] == "Open - Not Contacted" and found[ids[0]]["LastActivityDate"] is None


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "MALFORMED_QUERY", SalesforceError),
        (400, "INVALID_FIELD", SalesforceError),
        (403, "REQUEST_LIMIT_EXCEEDED", SalesforceRetryableError),
        (503, "SERVER_UNAVAILABLE", SalesforceRetryableError),
        (400, "QUERY_TIMEOUT", SalesforceRetryableError),
        (400, "INVALID_QUERY_LOCATOR", SalesforceRetryableError),
    ],
)
def test_documented_errors(client, transport, status, code, error):
    _seed(transport, 1)
    transport.fail_next(status, code)
    with pytest.raises(error) as caught:
        client.get_leads([lead_id(0)], ["Status"])
    assert caught.value.code == code
    assert caught.value.retryable is (error is SalesforceRetryableError)


def test_invalid_field_is_what_salesforce_says(client, transport):
    _seed(transport, 1)
    with pytest.raises(SalesforceError) as caught:
        client.get_leads([lead_id(0)], ["Favourite_Colour__c"])  # a custom field this org does not have
    assert caught.value.code == "INVALID_FIELD" and not caught.value.retryable
    assert "Favourite_Colour__c" in str(caught.value)


def test_unreachable_is_retryable(client, transport):
    transport.unreachable = True
    with pytest.raises(SalesforceRetryableError) as caught:
        client.get_leads([lead_id(0)], ["Status"])
    assert caught.value.code == "NETWORK"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example.com/services/data/v62.0/query/01g-2000", "/services/apexrest/steal", None, 7],
)
def test_a_next_records_url_that_is_not_a_query_locator_is_not_followed(next_url):
    sent: list[str] = []

    def transport(method, url, *, headers, body, timeout):  # noqa: ARG001
        sent.append(url)
        return HttpResponse(200, {}, json.dumps({"totalSize": 4, "done": False, "records": [],
                                                 "nextRecordsUrl": next_url}).encode())

    client = SalesforceClient(None, StaticTokens(), session=transport)
    with pytest.raises(SalesforceRetryableError) as caught:
        client.query("SELECT Id FROM Lead")
    assert caught.value.code == "BAD_RESPONSE"
    assert len(sent) == 1


@pytest.mark.parametrize(
    "body",
    [{"done": True}, {"records": [], "done": "yes"}, {"records": [1], "done": True}, [], None],
)
def test_answers_without_the_documented_shape_are_refused(body):
    with pytest.raises(SalesforceRetryableError):
        QueryPage.from_json(body)


def test_empty_query_text_is_refused(client):
    with pytest.raises(ValueError):
        client.query("  ")
