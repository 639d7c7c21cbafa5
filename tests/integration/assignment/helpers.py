"""Shared helpers of the assignment integration tests (imported by path-independent name)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.assignment.roster import parse_roster, sf_id18
from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest


def rep_id(n: int) -> str:
    return sf_id18(f"005{n:012d}")


QUEUE = sf_id18("00G000000000001")
MANAGER = sf_id18("005000000000999")


def roster_doc(n_reps: int = 3, cap: int = 5, strategy: str = "round_robin", **group: object) -> dict:
    reps = [{"rep_id": rep_id(i), "name": f"Rep {i}", "capacity": cap} for i in range(1, n_reps + 1)]
    g = {
        "group_id": "WEST",
        "territories": ["WEST"],
        "members": [r["rep_id"] for r in reps],
        "strategy": strategy,
        "escalation_owner": MANAGER,
        **group,
    }
    return {"default_fallback_owner": QUEUE, "reps": reps, "groups": [g]}


def activate(store: DynamoLeadStore, doc: dict, now: datetime) -> None:
    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    store.rosters.activate_roster(result.roster, now=now)


def request(n: int, territory: str = "WEST") -> AssignRequest:
    lead = Lead(lead_id=sf_id18(f"00Q{n:012d}"), last_name=f"Lead {n}", company="Acme")
    return AssignRequest(lead=lead, tag=TagResult(territory_id=territory, method=TagMethod.POLYGON))


def scan_leads(store: DynamoLeadStore) -> list[dict]:
    from territory_router.adapters.dynamo import from_item

    out: list[dict] = []
    kwargs: dict = {"TableName": store.leads_table}
    while True:
        resp = store.ddb.scan(**kwargs)
        out += [from_item(i) for i in resp["Items"]]
        if "LastEvaluatedKey" not in resp:
            from territory_router.adapters.lead_detail import leads_of

            return leads_of(out)  # each lead with its detail item merged in
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def counted(store: DynamoLeadStore) -> Counter[str]:
    return Counter(i["counted_rep_id"] for i in scan_leads(store) if i.get("counted_rep_id"))


def open_loads(store: DynamoLeadStore, reps: list[str]) -> dict[str, int]:
    loads = store.loads(reps)
    return {r: loads[r].open_leads for r in reps if r in loads and loads[r].open_leads}
