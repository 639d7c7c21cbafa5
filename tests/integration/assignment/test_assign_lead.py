"""assign_lead against DynamoDB (moto): one transaction, no double counting, few round trips."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.adapters.roster_store import clear_roster_cache
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.roster import parse_roster
from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
R1, R2, R3 = "005000000000001AAA", "005000000000002AAA", "005000000000003AAA"
QUEUE = "00G000000000001EAA"


def roster_doc(cap: int = 5, strategy: str = "round_robin") -> dict:
    return {
        "default_fallback_owner": QUEUE,
        "reps": [
            {"rep_id": R1, "name": "One", "capacity": cap},
            {"rep_id": R2, "name": "Two", "capacity": cap},
            {"rep_id": R3, "name": "Three", "capacity": cap},
        ],
        "groups": [{"group_id": "WEST", "territories": ["WEST"], "members": [R1, R2, R3], "strategy": strategy}],
    }


def activate(store: DynamoLeadStore, doc: dict) -> None:
    import json

    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    store.rosters.activate_roster(result.roster, now=NOW)


def request(n: int, territory: str = "WEST") -> AssignRequest:
    lead = Lead(lead_id=f"00Q{n:012d}AAA", last_name=f"Lead {n}", company="Acme")
    return AssignRequest(lead=lead, tag=TagResult(territory_id=territory, method=TagMethod.POLYGON))


def put_tagged(store: DynamoLeadStore, req: AssignRequest) -> None:
    store.ddb.put_item(
        TableName=store.leads_table,
        Item={
            "lead_id": {"S": req.lead.lead_id},
            "status": {"S": "TAGGED"},
            "version": {"N": "2"},
            "territory_id": {"S": req.tag.territory_id or ""},
            "lead": {"M": {"lead_id": {"S": req.lead.lead_id}}},
        },
    )


def load_of(store: DynamoLeadStore, rep: str) -> int:
    return store.loads([rep]).get(rep).open_leads if rep in store.loads([rep]) else 0


def test_assign_writes_lead_counter_pointer(store: DynamoLeadStore) -> None:
    activate(store, roster_doc())
    req = request(1)
    put_tagged(store, req)
    out = assign_lead(req, store=store, now=NOW, default_sla_minutes=60)
    assert not out.duplicate and out.detail is not None and not out.fallback
    assert out.detail.owner_id == R1
    assert out.detail.sla_due_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    item = store.get_lead(req.lead.lead_id)
    assert item["status"] == "ASSIGNED" and item["version"] == 3
    assert item["counted_rep_id"] == R1 and item["reroute_shard"] == "DUE"
    assert item["sla_due_at"] == int(datetime(2026, 11, 30, 16, 0, tzinfo=UTC).timestamp())
    assert item["decision"]["groups"][0]["chosen"] == R1
    assert item["lead"] == {"lead_id": req.lead.lead_id}  # the intake's copy is kept
    assert load_of(store, R1) == 1
    snap = store.snapshot(lead_id=None, rep_ids=[], group_ids=["WEST"])
    assert snap.pointers["WEST"].last_rep_id == R1 and snap.pointers["WEST"].seq == 1

    second = assign_lead(request(2), store=store, now=NOW, default_sla_minutes=60)
    assert second.detail.owner_id == R2  # round robin moves on; a lead not yet in the table is created


def test_redelivery_does_not_double_count(store: DynamoLeadStore) -> None:
    activate(store, roster_doc())
    req = request(7)
    put_tagged(store, req)
    first = assign_lead(req, store=store, now=NOW, default_sla_minutes=60)
    again = assign_lead(req, store=store, now=NOW, default_sla_minutes=60)
    assert again.duplicate and again.detail is not None
    assert again.detail.owner_id == first.detail.owner_id
    assert again.detail.decision == first.detail.decision
    assert load_of(store, first.detail.owner_id) == 1
    assert sum(ld.open_leads for ld in store.loads([R1, R2, R3]).values()) == 1


def test_full_reps_fall_back_to_queue(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=1))
    owners = [assign_lead(request(i), store=store, now=NOW, default_sla_minutes=60).detail for i in range(5)]
    assert [d.owner_id for d in owners[:3]] == [R1, R2, R3]
    assert [(d.owner_id, d.owner_kind, d.fallback) for d in owners[3:]] == [(QUEUE, "QUEUE", True)] * 2
    item = store.get_lead(owners[4].lead_id)
    assert "counted_rep_id" not in item and "reroute_shard" not in item
    assert "at capacity 1/1" in str(item["decision"])


def test_common_case_round_trips(store: DynamoLeadStore, aws: dict) -> None:
    activate(store, roster_doc(cap=50))
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        calls[event_name.split(".")[-1]] += 1

    ddb = aws["ddb"]
    ddb.meta.events.register("before-call.dynamodb", count)
    s3 = aws["s3"]
    s3_calls: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3", lambda event_name, **_: s3_calls.update([event_name.split(".")[-1]]))
    try:
        # Cold container: the roster is not cached yet.
        clear_roster_cache()
        cold = DynamoLeadStore.on_tables(ddb, store.leads_table, store.routing_table, s3_client=s3,
                                         bucket=store.rosters.bucket)
        req = request(1)
        put_tagged(cold, req)
        calls.clear()
        assign_lead(req, store=cold, now=NOW, default_sla_minutes=60)
        assert sum(calls.values()) == 3, calls  # GetItem ROSTER/ACTIVE, BatchGetItem, TransactWriteItems
        assert s3_calls["GetObject"] == 1
        # Warm: roster cached, its version checked in the same BatchGetItem.
        for n in range(2, 12):
            r = request(n)
            put_tagged(cold, r)
            calls.clear()
            assign_lead(r, store=cold, now=NOW, default_sla_minutes=60)
            assert dict(calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}
        assert s3_calls["GetObject"] == 1
    finally:
        ddb.meta.events.unregister("before-call.dynamodb", count)


def test_new_roster_version_is_picked_up_and_counters_survive(store: DynamoLeadStore) -> None:
    activate(store, roster_doc())
    for i in range(3):
        assign_lead(request(i), store=store, now=NOW, default_sla_minutes=60)
    doc = roster_doc(cap=9)
    doc["reps"][0]["active"] = False
    activate(store, doc)
    loads = store.loads([R1, R2, R3])
    assert [loads[r].open_leads for r in (R1, R2, R3)] == [1, 1, 1]
    out = assign_lead(request(10), store=store, now=NOW, default_sla_minutes=60)
    assert out.detail.owner_id != R1
    assert out.detail.decision["roster_version"] == store.active_roster().version


def test_no_roster_raises(store: DynamoLeadStore) -> None:
    from territory_router.assignment.ports import NoActiveRoster

    with pytest.raises(NoActiveRoster):
        assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60)


def test_rep_filled_by_a_racing_worker_is_excluded_and_the_lead_goes_on(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=2, strategy="least_loaded"))
    # another worker filled rep 1 after our read: the store still shows them empty to us
    store.ddb.put_item(
        TableName=store.routing_table,
        Item={"pk": {"S": f"REP#{R1}"}, "sk": {"S": "LOAD"}, "open_leads": {"N": "2"}, "assigned_total": {"N": "2"}},
    )
    original = store.snapshot
    calls = {"n": 0}

    def stale_first(**kwargs):
        snap = original(**kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            snap.loads.pop(R1, None)
        return snap

    store.snapshot = stale_first  # type: ignore[method-assign]
    out = assign_lead(request(3), store=store, now=NOW, default_sla_minutes=60)
    assert out.attempts == 2 and out.detail.owner_id == R2
    reasons = {c["rep_id"]: c.get("reason") for c in out.detail.decision["groups"][0]["candidates"]}
    assert reasons[R1] == "excluded: filled up meanwhile (raced)"
    assert store.loads([R1])[R1].open_leads == 2  # never above capacity


def test_closed_before_assignment_is_not_assigned(store: DynamoLeadStore) -> None:
    from territory_router.assignment.release import release_lead
    from territory_router.domain.leads import LeadStatus

    activate(store, roster_doc())
    req = request(4)
    put_tagged(store, req)
    assert release_lead(req.lead.lead_id, new_status=LeadStatus.DELETED, store=store, now=NOW, reason="deleted") is False
    out = assign_lead(req, store=store, now=NOW, default_sla_minutes=60)
    assert out.detail is None and not out.duplicate and out.skipped_reason == "lead is DELETED"
    assert store.loads([R1, R2, R3]) == {}
