"""The LeadRoutingStore contract (tests/contract/routing_store.py) against the in-memory store."""

from __future__ import annotations

import pytest

from territory_router.assignment.ports import LeadRecord
from territory_router.domain.leads import Lead, LeadStatus
from territory_router_tools.doubles.routing import InMemoryRoutingStore
from tests.contract.routing_store import RoutingStoreContract


class TestInMemoryRoutingStore(RoutingStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryRoutingStore:
        return InMemoryRoutingStore()

    def activate(self, store: InMemoryRoutingStore, roster) -> None:
        store.activate_roster(roster)

    def put_tagged(self, store: InMemoryRoutingStore, lead: Lead, *, version: int, territory_id: str) -> None:
        store.put_lead(LeadRecord(lead_id=lead.lead_id, status=LeadStatus.TAGGED, version=version, lead=lead,
                                  territory_id=territory_id, tag_method="POLYGON"))
