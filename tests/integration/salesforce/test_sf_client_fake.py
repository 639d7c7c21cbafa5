"""SalesforceClient and write_back against the test org (``FakeOrg``: a stateful org answering like Salesforce REST)."""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from territory_router.adapters.salesforce_client import (
    ClientCredentialsTokenProvider,
    SalesforceClient,
    client_from_secret,
)
from territory_router.domain.ids import to_18
from territory_router.domain.messages import LeadAssignedDetail
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError
from territory_router.salesforce.writeback_rules import ApiUsage, write_back
from territory_router_tools.salesforce.fake_org import FakeOrg

REP = "005xx000002RepAAAS"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _lead(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


def _detail(n: int, **overrides: Any) -> LeadAssignedDetail:
    values = {"lead_id": _lead(n), "owner_id": REP, "territory_id": "T-WEST", "territory_name": "West",
              "tag_method": "POLYGON", "assigned_at": T0}
    values.update(overrides)
    return LeadAssignedDetail.model_validate(values)


def _populate(org: FakeOrg) -> FakeOrg:
    """The rep and the leads the tests write to exist in the org (a stateful org refuses unknown records)."""
    org.add_user("Rita Rep", user_id=REP)
    for n in range(405):
        org.seed_lead(_lead(n), LastName=f"Lead {n}", Company="Acme")
    return org


@pytest.fixture
def fake() -> Iterator[FakeOrg]:
    with FakeOrg(client_id="cid", client_secret="csecret") as server:
        yield _populate(server)


@pytest.fixture
def client(fake: FakeOrg) -> SalesforceClient:
    return SalesforceClient(None, ClientCredentialsTokenProvider(fake.url, "cid", "csecret"))


def _patches(fake: FakeOrg):
    return fake.api_requests("PATCH")


def test_token_then_collections_update(fake: FakeOrg, client: SalesforceClient) -> None:
    result = write_back([_detail(1), _detail(2)], client=client)

    assert sorted(result.succeeded) == sorted([_lead(1), _lead(2)])
    token_requests = [r for r in fake.requests if r.path == "/services/oauth2/token"]
    assert len(token_requests) == 1
    form = urllib.parse.parse_qs(token_requests[0].body.decode())
    assert form == {"grant_type": ["client_credentials"], "client_id": ["cid"], "client_secret": ["csecret"]}
    (patch,) = _patches(fake)
    assert patch.path == "/services/data/v62.0/composite/sobjects"
    assert patch.header("Sforce-Auto-Assign") == "FALSE"
    assert patch.header("Sforce-Call-Options") == "client=TerritoryRouter"
    assert patch.header("Authorization").startswith("Bearer ")
    assert patch.header("Content-Type") == "application/json"
    body = patch.json()
    assert body["allOrNone"] is False
    assert [r["attributes"] for r in body["records"]] == [{"type": "Lead"}] * 2
    assert fake.leads[_lead(1)]["OwnerId"] == REP and fake.leads[_lead(2)]["Territory__c"] == "West"
    assert fake.leads[_lead(1)]["Routing_Status__c"] == "ASSIGNED"


def test_integration_user_comes_from_the_identity_url(fake: FakeOrg, client: SalesforceClient) -> None:
    assert client.integration_user_id == fake.integration_user_id


def test_per_record_errors(fake: FakeOrg, client: SalesforceClient) -> None:
    fake.fail_record(_lead(1), "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Company is required")
    fake.fail_record(_lead(2), "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", times=1)
    fake.deleted.add(_lead(3))
    details = [_detail(n) for n in range(1, 6)] + [_detail(6, owner_id="not-an-owner")]

    result = write_back(details, client=client)

    assert sorted(result.succeeded) == sorted([_lead(4), _lead(5)])
    assert {f.lead_id: f.code for f in result.transient} == {_lead(2): "UNABLE_TO_LOCK_ROW"}
    assert {f.lead_id: f.code for f in result.permanent} == {
        _lead(1): "FIELD_CUSTOM_VALIDATION_EXCEPTION", _lead(3): "ENTITY_IS_DELETED",
        _lead(6): "MALFORMED_ID"}
    assert next(f for f in result.permanent if f.lead_id == _lead(1)).message == "Company is required"
    # The lock was transient: the retry succeeds.
    assert write_back([_detail(2)], client=client).succeeded == [_lead(2)]


def test_expired_session_is_refreshed_once_and_retried(fake: FakeOrg, client: SalesforceClient) -> None:
    assert write_back([_detail(1)], client=client).succeeded == [_lead(1)]
    fake.expire_session()

    result = write_back([_detail(2)], client=client)

    assert result.succeeded == [_lead(2)]
    assert len([r for r in fake.requests if r.path == "/services/oauth2/token"]) == 2
    patches = _patches(fake)
    assert len(patches) == 3
    assert patches[1].header("Authorization") != patches[2].header("Authorization")


def test_session_refused_twice_is_an_auth_error(fake: FakeOrg, client: SalesforceClient) -> None:
    fake.expire_session(times=2)
    with pytest.raises(SalesforceAuthError) as info:
        client.update_owners([{"id": _lead(1), "OwnerId": REP}])
    assert info.value.code == "INVALID_SESSION_ID"


def test_bad_client_credentials(fake: FakeOrg) -> None:
    client = SalesforceClient(None, ClientCredentialsTokenProvider(fake.url, "cid", "wrong"))
    with pytest.raises(SalesforceAuthError) as info:
        client.update_owners([{"id": _lead(1), "OwnerId": REP}])
    assert info.value.code == "invalid_client" and "wrong" not in str(info.value)


def test_request_limit_exceeded_is_retryable(fake: FakeOrg, client: SalesforceClient) -> None:
    fake.exceed_limit()
    with pytest.raises(SalesforceRetryableError) as info:
        client.update_owners([{"id": _lead(1), "OwnerId": REP}])
    assert (info.value.code, info.value.status, info.value.retry_after) == ("REQUEST_LIMIT_EXCEEDED", 403, 60.0)

    fake.exceed_limit()
    result = write_back([_detail(1), _detail(2)], client=client)
    assert result.succeeded == [] and len(result.transient) == 2 and result.retry_after == 60.0


def test_503_is_retryable_with_retry_after(fake: FakeOrg, client: SalesforceClient) -> None:
    fake.make_unavailable()
    with pytest.raises(SalesforceRetryableError) as info:
        client.update_owners([{"id": _lead(1), "OwnerId": REP}])
    assert (info.value.code, info.value.status, info.value.retry_after) == ("SERVER_UNAVAILABLE", 503, 2.0)


def test_limit_info_is_parsed(fake: FakeOrg, client: SalesforceClient) -> None:
    write_back([_detail(1)], client=client)
    result = write_back([_detail(2)], client=client)
    assert client.last_api_usage == ApiUsage(2, 15000)
    assert result.api_usage == ApiUsage(2, 15000)


def test_chunking_at_200(fake: FakeOrg, client: SalesforceClient) -> None:
    result = write_back([_detail(n) for n in range(401)], client=client)
    assert len(result.succeeded) == 401
    assert [len(p.json()["records"]) for p in _patches(fake)] == [200, 200, 1]
    assert all(p.header("Sforce-Auto-Assign") == "FALSE" for p in _patches(fake))

    results = client.update_owners([{"id": _lead(n), "OwnerId": REP} for n in range(250)])
    assert len(results) == 250 and all(r.success for r in results)
    assert [len(p.json()["records"]) for p in _patches(fake)][-2:] == [200, 50]


def test_more_than_200_in_one_call_is_refused_by_the_fake(fake: FakeOrg, client: SalesforceClient) -> None:
    with pytest.raises(SalesforceError) as info:
        client.request("PATCH", "/services/data/v62.0/composite/sobjects",
                       {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": _lead(1)}] * 201})
    assert info.value.code == "EXCEEDED_ID_LIMIT" and not info.value.retryable


def test_get_lead(fake: FakeOrg, client: SalesforceClient) -> None:
    fake.seed_lead(_lead(7)[:15], Status="Open - Not Contacted", OwnerId=REP)
    lead = client.get_lead(_lead(7), ["Status", "OwnerId"])
    assert lead is not None and lead["Status"] == "Open - Not Contacted" and lead["Id"] == _lead(7)
    assert client.get_lead(_lead(900)) is None
    assert fake.api_requests("GET")[0].path.endswith("?fields=Status%2COwnerId")


def test_network_failure_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SalesforceClient(None, ClientCredentialsTokenProvider(f"http://127.0.0.1:{port}", "a", "b"),
                              timeout=2)
    with pytest.raises(SalesforceRetryableError) as info:
        client.update_owners([{"id": _lead(1), "OwnerId": REP}])
    assert info.value.code == "NETWORK"


def test_default_fake_accepts_any_credentials() -> None:
    with FakeOrg() as server:
        _populate(server)
        client = SalesforceClient(None, ClientCredentialsTokenProvider(server.url, "demo-client", "demo-secret"))
        assert client.update_owners([{"id": _lead(1), "OwnerId": REP}])[0].success


def test_client_from_secret(aws_endpoint: str, fake: FakeOrg) -> None:
    import boto3

    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="tr/salesforce-ok", SecretString=json.dumps(fake.secret() | {"client_secret": "csecret",
                                                                                       "client_id": "cid"}))
    client = client_from_secret("tr/salesforce-ok", max_age=0)
    assert client.api_version == "v62.0"
    assert write_back([_detail(1)], client=client).succeeded == [_lead(1)]

    sm.create_secret(Name="tr/salesforce-bad", SecretString=json.dumps({"client_id": "cid"}))
    with pytest.raises(SalesforceAuthError) as info:
        client_from_secret("tr/salesforce-bad", max_age=0)
    assert "client_secret, my_domain_url" in str(info.value)
