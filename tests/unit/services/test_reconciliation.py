"""Reconciliation: the unrouted leads of a window, read with SOQL, fed to intake as its own events (no sockets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from territory_router.adapters.salesforce_client import SalesforceClient
from territory_router.domain.ids import to_18
from territory_router.domain.messages import ReconciliationRequest
from territory_router.salesforce.events import ChangeKind, lead_from_record, parse_relay_message
from territory_router.services.reconciliation import (
    RECONCILIATION_ORIGIN,
    feed_intake,
    find_unrouted,
    reconcile,
    reconciliation_event,
    requested_since,
)
from tests.fakes.salesforce_rest import RestTransport, StaticTokens

ORG = "00Dxx0000001gErEAI"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=4)
QUEUE = to_18("00Gxx000000WebQ")


def lead_id(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


def stamp(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def seed(transport: RestTransport, n: int, minutes_ago: int, **fields) -> str:
    values = {"LastName": f"Lead {n}", "Company": "Acme", "City": "Austin", "State": "TX", "PostalCode": "78701",
              "Country": "US", "Status": "Open - Not Contacted", "OwnerId": QUEUE, "IsConverted": False,
              "CreatedById": "005xx000001SvUNAA0", "CreatedDate": stamp(minutes_ago),
              "SystemModstamp": stamp(minutes_ago), "Routing_Status__c": None}
    values.update(fields)
    return transport.add_lead(lead_id(n), **values)


@pytest.fixture
def transport() -> RestTransport:
    return RestTransport()


@pytest.fixture
def client(transport) -> SalesforceClient:
    return SalesforceClient(None, StaticTokens(), session=transport)


def test_the_window_keeps_open_untouched_leads_without_routing_status(transport, client):
    fresh = seed(transport, 1, 30)
    seed(transport, 2, 60 * 5)  # outside the window
    seed(transport, 3, 20, Routing_Status__c="ASSIGNED")  # we routed it
    seed(transport, 4, 20, IsConverted=True, Status="Closed - Converted")
    seed(transport, 5, 20, Status="Working - Contacted")  # somebody works it: keeps its owner
    seed(transport, 6, 20, LastActivityDate="2026-11-28")
    modified = seed(transport, 7, 60 * 24 * 30, SystemModstamp=stamp(10))  # old lead, edited in the window
    found = find_unrouted(client, since=SINCE, max_leads=100)
    assert [r["Id"] for r in found.records] == [fresh, modified]  # oldest SystemModstamp first
    assert found.not_routable == {"already worked (status moved on)": 1, "already worked (activity logged)": 1}
    assert not found.truncated
    (query,) = transport.queries()
    assert "Routing_Status__c = null" in query and "SystemModstamp >= 2026-11-28T08:00:00Z" in query
    assert query.endswith("LIMIT 101")


def test_a_run_reads_at_most_max_leads_and_says_so(transport, client):
    transport.page_size = 3
    ids = [seed(transport, n, 100 - n) for n in range(10)]
    found = find_unrouted(client, since=SINCE, max_leads=4)
    assert [r["Id"] for r in found.records] == ids[:4] and found.truncated
    assert len(transport.exchanges) == 2  # 5 records read (4 + one to know there are more): two pages of 3


class Known:
    def __init__(self, ids=()):
        self.ids = set(ids)
        self.asked: list[list[str]] = []

    def known_ids(self, lead_ids):
        self.asked.append(list(lead_ids))
        return self.ids & set(lead_ids)


class Sender:
    def __init__(self, refuse=()):
        self.sent: list[tuple[str, str, str]] = []
        self.refuse = set(refuse)

    def send_batch(self, queue_url, messages):
        self.sent.extend((queue_url, i, body) for i, body in messages if i not in self.refuse)
        return [i for i, _ in messages if i in self.refuse]


def test_reconciled_leads_reach_intake_as_its_own_cdc_creates(transport, client):
    ids = [seed(transport, n, 30) for n in range(3)]
    found = find_unrouted(client, since=SINCE, max_leads=100)
    sender = Sender(refuse=[ids[2]])
    summary = feed_intake(found.records, org_id=ORG, known=Known([ids[0]]), sender=sender, queue_url="q", now=NOW)
    assert summary.as_dict() == {"candidates": 3, "already_known": 1, "fed": 1, "failed": 1}
    assert summary.fed == [ids[1]] and summary.failed == [ids[2]]
    ((queue, key, body),) = sender.sent
    assert queue == "q" and key == ids[1]
    (change,) = parse_relay_message(body, expected_org_id=ORG)  # the intake parser, unchanged
    assert change.kind is ChangeKind.CREATE and change.lead_id == ids[1]
    assert change.event_id == f"reconcile-{ids[1]}" and change.idempotency_key == f"reconcile-{ids[1]}:{ids[1]}"
    assert change.change_origin == RECONCILIATION_ORIGIN
    assert change.commit_user == "005xx000001SvUNAA0"  # the creator, as CDC reports it
    record = next(r for r in found.records if r["Id"] == ids[1])
    read = lead_from_record(record, org_id=ORG)  # the same Lead as any read of it
    assert change.lead.model_dump(exclude={"sf_fields"}) == read.model_dump(exclude={"sf_fields"})
    # plus what a CDC CREATE always carries (LastModifiedDate = CreatedDate)
    assert read.sf_fields.items() <= change.lead.sf_fields.items()
    assert set(change.lead.sf_fields) - set(read.sf_fields) == {"LastModifiedDate"}


def test_a_dry_run_sends_nothing(transport, client):
    seed(transport, 1, 30)
    found = find_unrouted(client, since=SINCE, max_leads=100)
    summary = feed_intake(found.records, org_id=ORG, known=Known(), sender=None, queue_url="q", now=NOW)
    assert summary.fed == [lead_id(1)] and summary.failed == []


def test_known_leads_are_asked_a_hundred_at_a_time():
    records = [{"Id": lead_id(n), "LastName": "x", "Company": "y"} for n in range(250)]
    known = Known()
    feed_intake(records, org_id=ORG, known=known, sender=Sender(), queue_url="q", now=NOW)
    assert [len(a) for a in known.asked] == [100, 100, 50]


def test_reconciliation_event_is_marked_and_parseable():
    record = {"attributes": {"type": "Lead"}, "Id": lead_id(1), "LastName": "Lovelace", "Company": "AE",
              "SystemModstamp": stamp(1), "LastActivityDate": None, "CreatedById": None}
    event = reconciliation_event(record, org_id=ORG, time=NOW)
    assert event["source"] == f"aws.partner/salesforce.com/{ORG}/reconciliation"
    assert event["detail-type"] == "/data/LeadChangeEvent"
    assert "SystemModstamp" not in event["detail"]["payload"]
    (change,) = parse_relay_message(json.dumps(event), expected_org_id=ORG)
    assert change.lead.last_name == "Lovelace"


def test_one_run_end_to_end(transport, client):
    seed(transport, 1, 30)
    sender = Sender()
    summary = reconcile(reader=client, known=Known(), sender=sender, intake_queue_url="q", org_id=ORG, since=SINCE,
                        now=NOW, max_leads=100)
    assert summary.fed == 1 and summary.read == 1 and summary.truncated is False
    assert summary.as_dict()["since"] == SINCE.isoformat()


def test_requests_may_widen_the_window_never_narrow_it():
    gap = ReconciliationRequest(reason="GAP_OVERFLOW", requested_at=NOW, since=NOW - timedelta(days=2))
    wildcard = ReconciliationRequest(reason="wildcard 00Q*", requested_at=NOW, since=NOW - timedelta(days=3))
    narrow = ReconciliationRequest(reason="x", requested_at=NOW, since=NOW - timedelta(minutes=1))
    since, unreadable = requested_since([gap.model_dump_json(), wildcard.model_dump_json(), narrow.model_dump_json(),
                                         "not json", json.dumps({"type": "Other"})], SINCE)
    assert since == NOW - timedelta(days=3) and unreadable == 2
    assert requested_since([narrow.model_dump_json()], SINCE) == (SINCE, 0)
