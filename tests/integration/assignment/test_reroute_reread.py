"""The re-route reads the due leads back from Salesforce first (moto tables, Salesforce through RestTransport).

A lead Salesforce shows worked is released as attended (counter -1 exactly once, LeadAttended detail), one shown
converted/deleted is closed; when Salesforce cannot be read, nothing moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.adapters.salesforce_client import SalesforceClient
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.reroute import reroute_due_leads
from territory_router.services.lead_reroute import SalesforceScreen
from tests.fakes.salesforce_rest import RestTransport, StaticTokens

from .helpers import activate, open_loads, rep_id, request, roster_doc

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=61)
REPS = [rep_id(i) for i in range(1, 4)]


def _assign(store: DynamoLeadStore, transport: RestTransport, n: int) -> str:
    detail = assign_lead(request(n), store=store, now=NOW, default_sla_minutes=60).detail
    # what Salesforce holds once our writeback landed
    transport.add_lead(detail.lead_id, Status="Open - Not Contacted", OwnerId=detail.owner_id, IsConverted=False,
                       LastModifiedById="005xx000000IntgAAC")
    return detail.lead_id


def _screen(transport: RestTransport) -> SalesforceScreen:
    client = SalesforceClient(None, StaticTokens(), session=transport)
    return SalesforceScreen(reader=lambda: client, integration_user_id="005xx000000IntgAAC")


def test_worked_closed_and_deleted_leads_are_settled_not_rerouted(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=5), NOW)
    transport = RestTransport()
    worked, called, converted, deleted, untouched = (_assign(store, transport, n) for n in range(1, 6))
    transport.leads[worked]["Status"] = "Working - Contacted"
    transport.leads[called]["LastActivityDate"] = NOW.date().isoformat()  # a call logged, Status untouched
    transport.leads[converted].update(IsConverted=True, Status="Closed - Converted")
    del transport.leads[deleted]
    before = dict(open_loads(store, REPS))
    assert sum(before.values()) == 5

    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2, screen=_screen(transport))

    assert [d.lead_id for d in report.rerouted] == [untouched]
    assert sorted(d.lead_id for d in report.attended) == sorted([worked, called])
    assert sorted(d.lead_id for d in report.closed) == sorted([converted, deleted])
    assert {d.lead_id: d.status for d in report.closed} == {converted: "CLOSED", deleted: "DELETED"}
    assert "activity logged" in next(d.reason for d in report.attended if d.lead_id == called)
    for lead_id, status in ((worked, "ATTENDED"), (called, "ATTENDED"), (converted, "CLOSED"), (deleted, "DELETED")):
        item = store.get_lead(lead_id)
        assert item["status"] == status and "counted_rep_id" not in item and "reroute_shard" not in item
    assert sum(open_loads(store, REPS).values()) == 1  # only the re-routed lead still counts, on its new rep
    assert len(transport.queries()) == 1  # five due leads: one SOQL query

    # a second run finds nothing due and releases nothing again
    again = reroute_due_leads(store=store, now=LATER + timedelta(minutes=1), max_reroutes=2, screen=_screen(transport))
    assert again.attended == [] and again.closed == [] and again.rerouted == []
    assert sum(open_loads(store, REPS).values()) == 1


def test_salesforce_unreachable_means_no_reroute_and_the_lead_waits(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=5), NOW)
    transport = RestTransport()
    lead_id = _assign(store, transport, 1)
    owner = store.get_lead(lead_id)["owner_id"]
    transport.unreachable = True

    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2, screen=_screen(transport))

    assert report.rerouted == [] and report.escalated == [] and report.attended == []
    assert [b["lead_id"] for b in report.blocked] == [lead_id]
    item = store.get_lead(lead_id)
    assert item["status"] == "ASSIGNED" and item["owner_id"] == owner and item["reroute_shard"] == "DUE"
    assert open_loads(store, REPS) == {owner: 1}

    transport.unreachable = False  # Salesforce is back: the next run re-routes it
    report = reroute_due_leads(store=store, now=LATER + timedelta(minutes=5), max_reroutes=2, screen=_screen(transport))
    assert [d.lead_id for d in report.rerouted] == [lead_id] and report.blocked == []


def test_without_a_screen_the_run_trusts_its_own_record(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=5), NOW)
    lead_id = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60).detail.lead_id
    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2)
    assert [d.lead_id for d in report.rerouted] == [lead_id]
