"""The LeadRoutingStore contract (tests/contract/routing_store.py) against DynamoDB (the moto server)."""

from __future__ import annotations

import pytest

from territory_router.adapters.dynamo import to_item
from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.domain.leads import Lead
from tests.contract.routing_store import NOW, RoutingStoreContract


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
