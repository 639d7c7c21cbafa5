"""The LeadRoutingStore contract (tests/contract/routing_store.py) against DynamoDB (the moto server)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from territory_router.adapters.dynamo import to_item
from territory_router.adapters.lead_detail import detail_key
from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.domain.leads import Lead, LeadStatus
from tests.contract.routing_store import LATER, NOW, R1, R2, WEST, RoutingStoreContract, lead, roster, to_rep


class TestDynamoLeadStore(RoutingStoreContract):
    @pytest.fixture
    def store(self, store: DynamoLeadStore) -> DynamoLeadStore:  # tests/integration/assignment/conftest.py
        return store

    def activate(self, store: DynamoLeadStore, roster) -> None:
        store.rosters.activate_roster(roster, now=NOW)

    def put_tagged(self, store: DynamoLeadStore, lead: Lead, *, version: int, territory_id: str) -> None:
        """The item intake and tagging leave (adapters/lead_repository.py)."""
        item = {"lead_id": lead.lead_id, "status": "TAGGED", "version": version, "territory_id": territory_id,
                "tag_method": "POLYGON", "lead": lead.model_dump(mode="json", exclude_none=True)}
        store.ddb.put_item(TableName=store.leads_table, Item=to_item(item))


# --------------------------------------------------------------------------- the layout behind the port (DynamoDB only)

TRAIL = {  # about the size of a real "why this rep" trail (850 B of JSON in the bench)
    "summary": "Rep 1 by weighted round robin in group WEST (territory WEST, polygon)",
    "owner_rule": "routed: the lead was created by the integration user, so its owner is ours to set",
    "groups": [{"group_id": "WEST", "strategy": "weighted_round_robin", "chosen": "005000000000001AAA",
                "candidates": [{"rep_id": f"00500000000000{i}AAA", "open": i, "capacity": 25, "weight": 1.5,
                                "skipped": None if i % 2 else "at capacity 25/25"} for i in range(1, 6)]}],
    "sla": "60 minutes (group WEST)", "territory": "WEST (West) by POLYGON, precision ROOFTOP",
}
FULL_LEAD = dict(first_name="Ada", email="ada@example.com",
                 phone="+1 303 555 0100", street="1234 Long Street Name Avenue, Suite 500", city="Denver", state="CO",
                 postal_code="80202", country="US", latitude=39.7392, longitude=-104.9903, industry="Manufacturing",
                 lead_source="Web", status="Open - Not Contacted", org_id="00D000000000001AAA",
                 owner_id="005000000000999AAA", sf_fields={"Rating": "Hot", "NumberOfEmployees": 250})


def _size(item: dict) -> int:
    """DynamoDB's item size (names + values), as bench/pipeline.py measures it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from pipeline import item_size

    return item_size(item)


def _raw(store: DynamoLeadStore, key: str) -> dict:
    return store.ddb.get_item(TableName=store.leads_table, Key={"lead_id": {"S": key}}, ConsistentRead=True)["Item"]


class _Spy:
    """Counts the writes of each LeadsTable key made through the store's client."""

    def __init__(self, ddb) -> None:
        self.ddb, self.writes = ddb, Counter()

    def __getattr__(self, name):
        return getattr(self.ddb, name)

    def transact_write_items(self, **kw):
        for op in kw["TransactItems"]:
            ((kind, body),) = op.items()
            key = body.get("Key") or body.get("Item")
            if "lead_id" in key:
                self.writes[(kind, key["lead_id"]["S"])] += 1
        return self.ddb.transact_write_items(**kw)


class TestLeanLayout:
    """The hot item stays small; the lead's PII and the decision trail live in the detail item, written only by
    decisions, and read back whole."""

    @pytest.fixture
    def ready(self, store: DynamoLeadStore) -> DynamoLeadStore:
        store.rosters.activate_roster(roster(cap=5), now=NOW)
        return store

    def test_the_hot_item_stays_well_under_a_kilobyte_and_holds_no_pii(self, ready: DynamoLeadStore) -> None:
        the_lead = lead(1, **FULL_LEAD)
        ready.assign(None, the_lead, WEST, to_rep(R1, seq=1, trail=TRAIL), now=NOW)
        seen = ready.lead(the_lead.lead_id)
        ready.reroute(seen, to_rep(R2, seq=2, trail=TRAIL), reroute_count=1, now=LATER)
        hot, cold = _raw(ready, the_lead.lead_id), _raw(ready, detail_key(the_lead.lead_id))
        assert _size(hot) <= 600, _size(hot)  # 1 WRU per write with room to spare (bench: about 400 B)
        assert not {"lead", "decision"} & set(hot)
        assert not {"ada@example.com", "Ada", "+1 303 555 0100"} & {v.get("S") for v in hot.values()}
        assert set(cold) == {"lead_id", "of", "z"} and "status" not in cold  # told apart from leads
        assert _size(cold) <= 1024, _size(cold)  # compressed: one WRU for the Put
        full = ready.get_lead(the_lead.lead_id)
        assert full["lead"]["email"] == "ada@example.com" and full["decision"] == TRAIL

    def test_pii_and_trail_are_written_by_decisions_only(self, ready: DynamoLeadStore) -> None:
        spy = _Spy(ready.ddb)
        ready.ddb = spy
        the_lead = lead(2, **FULL_LEAD)
        TestDynamoLeadStore().put_tagged(ready, the_lead, version=2, territory_id="WEST")
        seen = ready.lead(the_lead.lead_id)
        ready.assign(seen, lead(2), WEST, to_rep(R1, seq=1, trail=TRAIL), now=NOW)
        detail = ("Put", detail_key(the_lead.lead_id))
        assert spy.writes[detail] == 1
        assert "lead" not in _raw(ready, the_lead.lead_id)  # moved out of the hot item by the assignment
        seen = ready.lead(the_lead.lead_id)
        ready.release(seen, LeadStatus.ATTENDED, reason="call", now=LATER)
        assert spy.writes[detail] == 1  # the release wrote the hot item only
        rec = ready.lead(the_lead.lead_id)
        assert rec.lead == the_lead and dict(rec.trail) == TRAIL and rec.earlier_owners == [FULL_LEAD["owner_id"]]
