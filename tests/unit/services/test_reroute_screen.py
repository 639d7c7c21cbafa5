"""SalesforceScreen: the due leads read back from Salesforce (one query per 200), judged before any re-route."""

from __future__ import annotations

from datetime import UTC, datetime

from territory_router.adapters.salesforce_client import SalesforceClient
from territory_router.assignment.ports import LeadRecord
from territory_router.assignment.reroute import (
    SCREEN_ATTENDED,
    SCREEN_CLOSED,
    SCREEN_DELETED,
    SCREEN_REROUTE,
    SCREEN_UNVERIFIED,
)
from territory_router.domain.ids import to_15, to_18
from territory_router.domain.leads import Lead, LeadStatus
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceRetryableError
from territory_router.services.lead_reroute import SalesforceScreen
from tests.fakes.salesforce_rest import RestTransport, StaticTokens

REP = "005xx000002RepAAAS"
QUEUE = "00Gxx000000WebQAAS"
ASSIGNED = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def lead_id(n: int) -> str:
    return to_18(f"00Qxx{n:010d}")


def item(n: int, **kw) -> LeadRecord:
    values = {"lead_id": lead_id(n), "status": LeadStatus.ASSIGNED, "owner_id": REP, "assigned_at": ASSIGNED,
              "lead": Lead(lead_id=lead_id(n), owner_id=QUEUE), "previous_owners": ()}
    values.update(kw)
    return LeadRecord(**values)


def seeded(n: int) -> RestTransport:
    transport = RestTransport()
    for i in range(n):
        transport.add_lead(lead_id(i), Status="Open - Not Contacted", OwnerId=REP, IsConverted=False,
                           LastActivityDate=None, LastModifiedById="005xx000000IntgAAC")
    return transport


def screen_for(transport: RestTransport, **kw) -> SalesforceScreen:
    client = SalesforceClient(None, StaticTokens(), session=transport)
    return SalesforceScreen(reader=lambda: client, **kw)


def test_one_query_per_200_due_leads_and_untouched_leads_are_rerouted():
    transport = seeded(450)
    verdicts = screen_for(transport)([item(i) for i in range(450)])
    assert len(transport.queries()) == 3
    assert all(q.startswith("SELECT Id, Status, OwnerId, IsConverted, LastActivityDate, LastModifiedById FROM Lead")
               for q in transport.queries())
    assert {v[0] for v in verdicts.values()} == {SCREEN_REROUTE}
    assert len(verdicts) == 450


def test_worked_converted_deleted_and_taken_over_leads_are_not_rerouted():
    transport = seeded(6)
    transport.leads[lead_id(0)]["Status"] = "Working - Contacted"
    transport.leads[lead_id(1)]["LastActivityDate"] = "2026-03-10"  # a call logged: CDC never says so
    transport.leads[lead_id(2)].update(IsConverted=True, Status="Closed - Converted")
    del transport.leads[lead_id(3)]
    transport.leads[lead_id(4)].update(OwnerId="005xx000009MgrAAAS", LastModifiedById="005xx000009MgrAAAS")
    transport.leads[lead_id(5)]["OwnerId"] = QUEUE  # our writeback has not landed yet: not a take-over
    verdicts = screen_for(transport)([item(i) for i in range(6)])
    assert [verdicts[lead_id(i)][0] for i in range(6)] == [
        SCREEN_ATTENDED, SCREEN_ATTENDED, SCREEN_CLOSED, SCREEN_DELETED, SCREEN_ATTENDED, SCREEN_REROUTE,
    ]
    assert "activity logged" in verdicts[lead_id(1)][1]


def test_answers_are_keyed_by_the_id_the_item_holds():
    transport = seeded(1)
    verdicts = screen_for(transport)([item(0, lead_id=to_15(lead_id(0)))])
    assert verdicts == {to_15(lead_id(0)): (SCREEN_REROUTE, "Salesforce shows nobody worked it yet")}


class FailingSecondBatch:
    """A reader whose second query fails (Salesforce went away mid-run)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def get_leads(self, ids, fields):
        self.calls += 1
        if self.calls == 2:
            raise SalesforceRetryableError("Salesforce unreachable: timed out", code="TIMEOUT")
        return self.inner.get_leads(ids, fields)


def test_a_batch_salesforce_cannot_answer_is_not_rerouted_the_others_are():
    transport = seeded(450)
    reader = FailingSecondBatch(SalesforceClient(None, StaticTokens(), session=transport))
    screen = SalesforceScreen(reader=lambda: reader)
    verdicts = screen([item(i) for i in range(450)])
    outcomes = [verdicts[lead_id(i)][0] for i in range(450)]
    assert outcomes[:200] == [SCREEN_REROUTE] * 200
    assert outcomes[200:400] == [SCREEN_UNVERIFIED] * 200
    assert outcomes[400:] == [SCREEN_REROUTE] * 50
    assert "not re-routed blind" in verdicts[lead_id(250)][1] and "TIMEOUT" in verdicts[lead_id(250)][1]
    assert screen.failures == [{"code": "TIMEOUT", "message": "Salesforce unreachable: timed out", "leads": "200"}]


def test_unreachable_salesforce_blocks_every_lead():
    transport = seeded(3)
    transport.unreachable = True
    verdicts = screen_for(transport)([item(i) for i in range(3)])
    assert {v[0] for v in verdicts.values()} == {SCREEN_UNVERIFIED}


def test_api_limit_blocks_and_the_query_is_not_retried_in_the_run():
    transport = seeded(3)
    transport.fail_next(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    verdicts = screen_for(transport)([item(i) for i in range(3)])
    assert {v[0] for v in verdicts.values()} == {SCREEN_UNVERIFIED}
    assert len(transport.exchanges) == 1


def test_refused_credentials_block_and_reset_the_client():
    resets = []

    def reader():
        raise SalesforceAuthError("secret sf lacks client_secret", code="BAD_SECRET")

    screen = SalesforceScreen(reader=reader, reset=lambda: resets.append(1))
    verdicts = screen([item(0), item(1)])
    assert {v[0] for v in verdicts.values()} == {SCREEN_UNVERIFIED}
    assert resets == [1]  # one batch, one reset: the next run reads the (corrected) secret again


def test_any_failure_to_build_a_client_blocks_rather_than_crashes():
    def reader():
        raise ConnectionError("Secrets Manager endpoint unreachable")

    verdicts = SalesforceScreen(reader=reader)([item(0)])
    assert verdicts[lead_id(0)][0] == SCREEN_UNVERIFIED and "ConnectionError" in verdicts[lead_id(0)][1]
