"""What a report reads from a stack: daily aggregates (one Query per day, never a Scan), the active territory set
(its compiled index in S3 holds the geometries) and the active roster with each rep's open-lead counter."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from territory_router.adapters.dynamo import from_item
from territory_router.domain.territory import Territory
from territory_router.reporting.aggregates import AGG_PREFIX
from territory_router_tools.reporting.model import RepInfo


class ReportStore:
    def __init__(self, dynamodb_client: Any, routing_table: str, *, s3_client: Any = None, bucket: str | None = None,
                 leads_table: str = "") -> None:
        self.ddb = dynamodb_client
        self.routing_table = routing_table
        self.s3 = s3_client
        self.bucket = bucket
        self.leads_table = leads_table
        self.queries = 0  # DynamoDB Query calls made (tests check: one per day and page)

    def aggregate_items(self, days: Iterable[date]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for day in days:
            kwargs: dict[str, Any] = {
                "TableName": self.routing_table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": AGG_PREFIX + day.isoformat()}},
            }
            while True:
                page = self.ddb.query(**kwargs)
                self.queries += 1
                items.extend(from_item(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def active_territories(self) -> tuple[str | None, list[Territory]]:
        """(version, territories in precedence order) of the active set; (None, []) when none is active."""
        if self.s3 is None or not self.bucket:
            return None, []
        from territory_router.adapters.territory_store import TerritoryStore
        from territory_router.tagging.index import TerritoryIndex

        store = TerritoryStore(self.s3, self.ddb, self.bucket, self.routing_table)
        active = store.get_active()
        if active is None:
            return None, []
        index = TerritoryIndex.from_bytes(store.load_bytes(active.index_key))
        return active.version, list(index.territories)

    def reps(self) -> list[RepInfo]:
        """Reps of the active roster with their open-lead counters (``REP#<id>/LOAD``); [] without a roster."""
        from territory_router.adapters.lead_store import DynamoLeadStore

        store = DynamoLeadStore.on_tables(self.ddb, self.leads_table, self.routing_table, s3_client=self.s3,
                                          bucket=self.bucket)
        roster = store.active_roster_or_none(refresh=True)
        if roster is None:
            return []
        loads = store.loads(list(roster.reps))
        return [
            RepInfo(rep_id=rid, name=rep.name, capacity=rep.capacity, active=rep.active,
                    open_leads=loads[rid].open_leads if rid in loads else 0)
            for rid, rep in roster.reps.items()
        ]
