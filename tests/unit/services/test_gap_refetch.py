"""Gap events: the named leads are read back (SOQL) and become the CREATE/UPDATE/DELETE they stand for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from territory_router.adapters.salesforce_client import SalesforceClient
from territory_router.domain.ids import to_18
from territory_router.salesforce.errors import SalesforceRetryableError
from territory_router.salesforce.events import ChangeKind, lead_from_record, parse_relay_event
from territory_router.services.gaps import resolve_gaps
from territory_router.services.intake import IntakeDeps, handle_change
from territory_router_tools.salesforce.samples import (
    cdc_create_event,
    cdc_header_only_event,
    cdc_update_event,
    sample_lead,
)
from tests.fakes.salesforce_rest import RestTransport, StaticTokens

ORG = "00Dxx0000001gErEAI"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REP = to_18("005xx000002RepA")
QUEUE = to_18("00Gxx000000WebQ")


def lead_id(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


def rest_record(lead, **extra) -> dict:
    """What the Query resource answers for ``lead`` (flat API names, attributes, nulls for unset fields)."""
    return {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead.lead_id}"},
        "Id": lead.lead_id, "FirstName": lead.first_name, "LastName": lead.last_name, "Company": lead.company,
        "Email": lead.email, "Phone": lead.phone, "Street": lead.street, "City": lead.city, "State": lead.state,
        "PostalCode": lead.postal_code, "Country": lead.country, "Latitude": lead.latitude,
        "Longitude": lead.longitude, "Industry": lead.industry, "LeadSource": lead.lead_source,
        "Status": lead.status, "OwnerId": lead.owner_id, "CreatedDate": "2026-11-28T11:59:00.000+0000",
        "CreatedById": "005xx000001SvUNAA0", "IsConverted": False, **extra,
    }


def test_a_fetched_lead_is_the_lead_its_cdc_create_gives():
    lead = sample_lead(lead_id(1), owner_id=QUEUE, created_at=datetime(2026, 11, 28, 11, 59, tzinfo=UTC))
    (from_cdc,) = parse_relay_event(cdc_create_event(lead, org_id=ORG), expected_org_id=ORG)
    from_rest = lead_from_record(rest_record(lead, LastActivityDate=None, SystemModstamp="2026-11-28T11:59:00.000+0000"),
                                 org_id=ORG)
    routing = from_cdc.lead.model_dump(exclude={"sf_fields"})
    assert from_rest.model_dump(exclude={"sf_fields"}) == routing
    # the other scalar fields both carry land in sf_fields the same way (CDC adds LastModified*, never SystemModstamp)
    shared = set(from_rest.sf_fields) & set(from_cdc.lead.sf_fields)
    assert {"CreatedById", "IsConverted"} <= shared
    assert all(from_rest.sf_fields[k] == from_cdc.lead.sf_fields[k] for k in shared)
    assert "SystemModstamp" not in from_rest.sf_fields and "LastActivityDate" not in from_rest.sf_fields


@pytest.fixture
def salesforce() -> tuple[RestTransport, SalesforceClient]:
    transport = RestTransport()
    return transport, SalesforceClient(None, StaticTokens(), session=transport)


def seed(transport: RestTransport, n: int, **fields) -> str:
    values = {"LastName": f"Lead {n}", "Company": "Acme", "City": "Austin", "State": "TX", "PostalCode": "78701",
              "Country": "US", "Status": "Open - Not Contacted", "OwnerId": QUEUE, "IsConverted": False,
              "CreatedById": "005xx000001SvUNAA0", "LastModifiedById": "005xx000001SvUNAA0"}
    values.update(fields)
    return transport.add_lead(lead_id(n), **values)


def changes_of(*events):
    return [c for e in events for c in parse_relay_event(e, expected_org_id=ORG)]


def test_gap_changes_become_the_change_they_stand_for(salesforce):
    transport, client = salesforce
    created, updated, worked, undeleted = (seed(transport, n) for n in (1, 2, 3, 4))
    transport.leads[updated]["Status"] = "Working - Contacted"
    transport.leads[worked]["LastActivityDate"] = "2026-11-28"
    gone = lead_id(5)  # named by the gap, absent from Salesforce
    ordinary = cdc_update_event(lead_id(9), {"Phone": "1"}, org_id=ORG)
    changes = changes_of(
        cdc_header_only_event("GAP_CREATE", [created, worked, gone], org_id=ORG, event_id="g-1"),
        ordinary,
        cdc_header_only_event("GAP_UPDATE", [updated], org_id=ORG, event_id="g-2"),
        cdc_header_only_event("GAP_UNDELETE", [undeleted], org_id=ORG, event_id="g-3"),
        cdc_header_only_event("GAP_OVERFLOW", [], org_id=ORG, event_id="g-4"),
    )
    resolved = resolve_gaps(changes, reader=client)
    assert len(transport.queries()) == 1  # five named leads, one SOQL query
    kinds = [(c.lead_id, c.kind, c.change_type) for c in resolved]
    assert kinds == [
        (created, ChangeKind.CREATE, "GAP_CREATE"),
        (worked, ChangeKind.UPDATE, "GAP_CREATE"),  # someone already works it: its state, not a new lead
        (gone, ChangeKind.DELETE, "GAP_CREATE"),
        (lead_id(9), ChangeKind.UPDATE, "UPDATE"),  # not a gap: untouched
        (updated, ChangeKind.UPDATE, "GAP_UPDATE"),
        (undeleted, ChangeKind.UNDELETE, "GAP_UNDELETE"),
        (None, ChangeKind.GAP, "GAP_OVERFLOW"),  # names no record: a reconciliation run, not a fetch
    ]
    create = resolved[0]
    assert create.lead.city == "Austin" and create.lead.owner_id == QUEUE and create.lead.org_id == ORG
    assert create.idempotency_key == f"g-1:{created}" and create.gap
    assert resolved[4].changed_fields["Status"] == "Working - Contacted" and resolved[4].gap
    assert resolved[1].changed_fields["LastActivityDate"] == "2026-11-28"
    assert resolved[3] is changes[3]


def test_no_gap_no_query(salesforce):
    transport, client = salesforce
    changes = changes_of(cdc_create_event(sample_lead(lead_id(1)), org_id=ORG))
    assert resolve_gaps(changes, reader=client) is changes and transport.exchanges == []


def test_unreachable_salesforce_raises_so_the_message_is_retried(salesforce):
    transport, client = salesforce
    transport.unreachable = True
    with pytest.raises(SalesforceRetryableError):
        resolve_gaps(changes_of(cdc_header_only_event("GAP_CREATE", [lead_id(1)], org_id=ORG)), reader=client)


def test_more_than_200_named_leads_are_read_in_chunks(salesforce):
    transport, client = salesforce
    ids = [seed(transport, n) for n in range(250)]
    resolved = resolve_gaps(changes_of(cdc_header_only_event("GAP_CREATE", ids, org_id=ORG)), reader=client)
    assert len(transport.queries()) == 2
    assert {c.kind for c in resolved} == {ChangeKind.CREATE} and len(resolved) == 250


# ------------------------------------------------------------------ intake of a refetched update


class Leads:
    def __init__(self, items):
        self.items = items

    def get(self, lead_id):
        return self.items.get(lead_id)


class Lifecycle:
    def __init__(self):
        self.calls = []

    def mark_attended(self, lead_id, *, now, reason):
        self.calls.append(("ATTENDED", lead_id, reason))
        return True

    def release(self, lead_id, *, new_status, now, reason):
        self.calls.append((new_status.value, lead_id, reason))
        return True


def refetched(lead: str, **state):
    (change,) = changes_of(cdc_header_only_event("GAP_UPDATE", [lead], org_id=ORG))
    values = {"Status": "Open - Not Contacted", "OwnerId": REP, "IsConverted": False, "LastActivityDate": None,
              "LastModifiedById": REP}
    values.update(state)
    return change.model_copy(update={"kind": ChangeKind.UPDATE, "changed_fields": values})


def stored(lead: str) -> dict:
    return {"lead_id": lead, "status": "ASSIGNED", "owner_id": REP, "assigned_at": "2026-11-28T10:00:00Z",
            "lead": {"lead_id": lead, "owner_id": QUEUE}}


@pytest.mark.parametrize(
    ("state", "action", "call"),
    [
        ({"LastActivityDate": "2026-11-28"}, "attended", "ATTENDED"),
        ({"Status": "Closed - Not Converted"}, "closed", "CLOSED"),
        ({"OwnerId": QUEUE}, "no_change", None),  # still the owner it arrived with: our writeback pending
        ({}, "no_change", None),
    ],
)
def test_a_refetched_update_is_judged_on_salesforce_state(state, action, call):
    lead = lead_id(1)
    lifecycle = Lifecycle()
    deps = IntakeDeps(leads=Leads({lead: stored(lead)}), lifecycle=lifecycle)
    result = handle_change(refetched(lead, **state), deps=deps, now=NOW)
    assert result.action == action
    assert [c[0] for c in lifecycle.calls] == ([call] if call else [])


def test_a_refetched_update_of_a_lead_we_never_routed_is_left_alone():
    lifecycle = Lifecycle()
    deps = IntakeDeps(leads=Leads({}), lifecycle=lifecycle)
    result = handle_change(refetched(lead_id(1), Status="Working - Contacted"), deps=deps, now=NOW)
    assert result.action == "ignored" and "already worked" in result.reason and lifecycle.calls == []
