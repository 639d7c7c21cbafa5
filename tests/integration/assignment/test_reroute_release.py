"""Release exactly once, mark attended, SLA re-routing (reads only the late leads) and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from territory_router.adapters.dynamo import to_attr
from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.assignment.assign import assign_lead
from territory_router.assignment.release import mark_attended, release_lead
from territory_router.assignment.reroute import reroute_due_leads
from territory_router.domain.leads import LeadStatus

from .helpers import MANAGER, QUEUE, activate, counted, open_loads, rep_id, request, roster_doc, scan_leads

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=61)
REPS = [rep_id(i) for i in range(1, 4)]


def test_release_decrements_exactly_once(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(), NOW)
    d = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60).detail
    assert open_loads(store, REPS) == {d.owner_id: 1}
    assert release_lead(d.lead_id, new_status=LeadStatus.CLOSED, store=store, now=NOW, reason="converted") is True
    assert release_lead(d.lead_id, new_status=LeadStatus.CLOSED, store=store, now=NOW, reason="again") is False
    assert release_lead(d.lead_id, new_status=LeadStatus.DELETED, store=store, now=NOW, reason="deleted") is False
    assert open_loads(store, REPS) == {}
    item = store.get_lead(d.lead_id)
    assert item["status"] == "DELETED" and "counted_rep_id" not in item and "reroute_shard" not in item
    # a closed lead is not assigned again by a late duplicate message
    again = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60)
    assert again.duplicate and open_loads(store, REPS) == {}


def test_mark_attended_once_and_stops_rerouting(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(), NOW)
    d = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60).detail
    assert mark_attended(d.lead_id, store=store, now=NOW, reason="call logged") is True
    assert mark_attended(d.lead_id, store=store, now=NOW, reason="again") is False
    item = store.get_lead(d.lead_id)
    assert item["status"] == "ATTENDED" and item["owner_id"] == d.owner_id
    assert open_loads(store, REPS) == {}
    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2)
    assert report.rerouted == [] and report.items_read == 0
    # closing an attended lead later changes its status and releases nothing more
    assert release_lead(d.lead_id, new_status=LeadStatus.CLOSED, store=store, now=LATER, reason="won") is False
    assert store.get_lead(d.lead_id)["status"] == "CLOSED"


def test_reroute_moves_counter_never_to_previous_owner_then_escalates(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(max_reroutes=2, sla_minutes=30), NOW)
    d = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60).detail
    owners = [d.owner_id]
    t = NOW
    for hop in (1, 2):
        t += timedelta(minutes=31)
        report = reroute_due_leads(store=store, now=t, max_reroutes=5)
        assert len(report.rerouted) == 1 and report.items_read == 1
        r = report.rerouted[0]
        assert r.owner_id not in owners and r.previous_owner_id == owners[-1] and r.reroute_count == hop
        owners.append(r.owner_id)
        assert open_loads(store, REPS) == {r.owner_id: 1}
        assert "missed the SLA" in r.decision["reroute"]
    item = store.get_lead(d.lead_id)
    assert item["previous_owners"] == owners[:2]
    t += timedelta(minutes=31)
    report = reroute_due_leads(store=store, now=t, max_reroutes=5)
    assert report.rerouted == [] and len(report.escalated) == 1
    e = report.escalated[0]
    assert e.owner_id == MANAGER and e.previous_owner_id == owners[-1]
    item = store.get_lead(d.lead_id)
    assert item["status"] == "ESCALATED" and "reroute_shard" not in item and "counted_rep_id" not in item
    assert open_loads(store, REPS) == {}
    assert reroute_due_leads(store=store, now=t + timedelta(days=1), max_reroutes=5).items_read == 0


def test_reroute_to_queue_when_nobody_else_is_free(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(n_reps=1, fallback_owner=QUEUE), NOW)
    d = assign_lead(request(1), store=store, now=NOW, default_sla_minutes=60).detail
    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2)
    r = report.rerouted[0]
    assert r.owner_id == QUEUE and r.fallback and r.previous_owner_id == d.owner_id
    assert "excluded: current owner" in str(r.decision)
    assert open_loads(store, [d.owner_id]) == {}
    assert "reroute_shard" not in store.get_lead(d.lead_id)


def _bulk_leads(store: DynamoLeadStore, total: int, late: int) -> dict[str, int]:
    """``total`` assigned leads waiting in the index, ``late`` of them past their SLA and counted for a rep.

    The leads still within their SLA carry only what the index needs (the emulator copies the whole table on
    every transaction, so small items keep the test fast); the late ones are complete. Returns the counters set.
    """
    due_ok = int((NOW + timedelta(hours=2)).timestamp())
    due_late = int((NOW - timedelta(minutes=5)).timestamp())
    per_rep = dict.fromkeys(REPS, 0)
    batch: list[dict] = []
    for n in range(total):
        item: dict = {"lead_id": f"00Q{n:012d}BBB", "status": "ASSIGNED", "reroute_shard": "DUE"}
        if n < late:
            rep = REPS[n % 3]
            per_rep[rep] += 1
            item.update(
                version=3, owner_id=rep, owner_kind="USER", counted_rep_id=rep, group_id="WEST", territory_id="WEST",
                tag_method="POLYGON", sla_due_at=due_late - n, reroute_count=0, assigned_at="2026-11-30T13:00:00Z",
                lead={"lead_id": f"00Q{n:012d}BBB", "last_name": "Bulk"},
            )
        else:
            item["sla_due_at"] = due_ok + n
        batch.append({"PutRequest": {"Item": {k: to_attr(v) for k, v in item.items()}}})
        if len(batch) == 25:
            store.ddb.batch_write_item(RequestItems={store.leads_table: batch})
            batch = []
    if batch:
        store.ddb.batch_write_item(RequestItems={store.leads_table: batch})
    for rep, n in per_rep.items():
        store.ddb.put_item(
            TableName=store.routing_table,
            Item={"pk": to_attr(f"REP#{rep}"), "sk": to_attr("LOAD"), "open_leads": to_attr(n), "assigned_total": to_attr(n)},
        )
    return per_rep


def test_reroute_reads_only_late_leads_among_10000(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(cap=5000), NOW)
    expected = _bulk_leads(store, 10_000, 50)
    queried: list[dict] = []

    def on_query(params: dict, **_: object) -> None:
        queried.append(params)

    store.ddb.meta.events.register("provide-client-params.dynamodb.Query", on_query)
    calls: list[str] = []
    store.ddb.meta.events.register("before-call.dynamodb", lambda event_name, **_: calls.append(event_name))
    report = reroute_due_leads(store=store, now=NOW, max_reroutes=2)
    assert len(report.rerouted) == 50 and report.escalated == [] and report.skipped == []
    assert report.items_read == 50
    assert "Scan" not in {c.split(".")[-1] for c in calls}
    assert queried and all(q["IndexName"] == "RerouteDueIndex" for q in queried)
    for r in report.rerouted:
        assert r.owner_id != r.previous_owner_id and r.reroute_count == 1
        expected[r.previous_owner_id] -= 1
        expected[r.owner_id] += 1
        item = store.get_lead(r.lead_id)
        assert item["counted_rep_id"] == r.owner_id and item["previous_owners"] == [r.previous_owner_id]
    # counters moved with the leads, in the same transactions
    assert open_loads(store, REPS) == {k: v for k, v in expected.items() if v}
    # the re-routed leads are due again later; nothing is due now
    again = reroute_due_leads(store=store, now=NOW, max_reroutes=2)
    assert again.items_read == 0  # the query reads due leads only: no timing asserted (make bench measures)


def test_reroute_racing_mark_attended_leaves_attended_lead_put(store: DynamoLeadStore) -> None:
    activate(store, roster_doc(), NOW)
    leads = [assign_lead(request(i), store=store, now=NOW, default_sla_minutes=60).detail for i in range(4)]
    attended = {leads[0].lead_id, leads[2].lead_id}
    original = store.reroute
    raced: set[str] = set()

    def racing(seen, owner, **kwargs):  # the rep acts on the lead between the reroute's read and its change
        if seen.lead_id in attended and seen.lead_id not in raced:
            raced.add(seen.lead_id)
            assert mark_attended(seen.lead_id, store=store, now=LATER, reason="email sent") is True
        return original(seen, owner, **kwargs)

    store.reroute = racing  # type: ignore[method-assign]
    report = reroute_due_leads(store=store, now=LATER, max_reroutes=2)
    store.reroute = original  # type: ignore[method-assign]
    assert {r.lead_id for r in report.rerouted} == {leads[1].lead_id, leads[3].lead_id}
    assert {s["lead_id"] for s in report.skipped} == attended
    for d in leads:
        item = store.get_lead(d.lead_id)
        if d.lead_id in attended:
            assert item["status"] == "ATTENDED" and item["owner_id"] == d.owner_id and "reroute_shard" not in item
    loads = open_loads(store, REPS)
    assert loads == dict(counted(store)) and sum(loads.values()) == 2
    # attended after being re-routed: the new owner's counter is released
    moved = report.rerouted[0]
    assert mark_attended(moved.lead_id, store=store, now=LATER, reason="call") is True
    assert sum(open_loads(store, REPS).values()) == 1
    assert all(i.get("status") in ("ASSIGNED", "ATTENDED") for i in scan_leads(store))
