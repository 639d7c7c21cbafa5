"""Races through the handlers: eight assignment containers against reps with small caps, and a re-route that
races a rep's acceptance.

1. A group of five reps at capacity 3 receives 60 leads, every AssignRequest delivered twice, consumed by eight
   LeadAssignmentFunction containers at once: exactly 15 leads go to the reps (3 each, caps never exceeded), the
   rest to the group's fallback queue, each lead assigned once, counters equal the leads they count.
2. The re-route runs 30 minutes later (SLA 15 min). For some leads, between the re-route's read and its write,
   the owner accepts the lead in Salesforce: the CDC UPDATE travels the real path (partner bus → IntakeQueue →
   LeadIntakeFunction → mark_attended) and is recorded before the re-route's transaction. Those leads must stay
   with their owner (ATTENDED), the others move, and counters stay exact.

The service-level versions of both (``assign_lead`` from eight threads, ``reroute_due_leads`` against
``mark_attended``) are tests/integration/assignment/test_concurrent_assign.py and test_reroute_release.py.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest
from territory_router_tools.salesforce.samples import cdc_update_event

from .pipeline import ORG_ID, Pipeline, small_roster

RACE_REPS = [to_18(f"0058c0000RACE{i:02d}") for i in range(1, 6)]
RACE_QUEUE = to_18("00G8c0000RACEQ1")
CAP = 3
WORKERS = 8


def _race_roster() -> dict:
    doc = small_roster()
    doc["reps"] += [{"rep_id": r, "name": f"Racer {i}", "capacity": CAP} for i, r in enumerate(RACE_REPS, 1)]
    doc["groups"].append({"group_id": "RACE", "territories": ["RACE_T"], "members": RACE_REPS,
                          "strategy": "round_robin", "fallback_owner": RACE_QUEUE, "sla_minutes": 15})
    return doc


def test_eight_containers_and_a_reroute_racing_acceptance(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch,
                                                           figures) -> None:
    from territory_router.adapters.lead_store import DynamoLeadStore

    pipeline.wait()
    pipeline.activate_roster(_race_roster(), "race")
    pipeline.scale_to("LeadAssignmentFunction", WORKERS)
    leads = [Lead(lead_id=to_18(f"00QRAC{i:09d}"), last_name=f"Racer lead {i}", company="Acme", org_id=ORG_ID)
             for i in range(40)]
    for lead in leads:  # the leads exist in Salesforce (AssignRequests are sent straight to the queue)
        pipeline.salesforce.seed_lead(lead.lead_id, LastName=lead.last_name, Company=lead.company)
    bodies = [AssignRequest(lead=lead, tag=TagResult(territory_id="RACE_T", method=TagMethod.POLYGON)).model_dump_json()
              for lead in leads] * 2
    random.Random(3).shuffle(bodies)
    started = time.monotonic()
    pipeline.send_raw("AssignmentQueue", bodies)
    pipeline.wait()
    assign_s = time.monotonic() - started

    records = pipeline.leads("00QRAC")
    assert set(records) == {lead.lead_id for lead in leads}
    owners = [r["owner_id"] for r in records.values()]
    assert sorted(o for o in owners if o != RACE_QUEUE) == sorted(RACE_REPS * CAP), "caps filled exactly, never exceeded"
    assert owners.count(RACE_QUEUE) == len(leads) - CAP * len(RACE_REPS)
    loads = pipeline.assert_counters_exact()
    assert {r: loads.get(r, 0) for r in RACE_REPS} == dict.fromkeys(RACE_REPS, CAP)
    assert {r: pipeline.assigned_totals().get(r) for r in RACE_REPS} == dict.fromkeys(RACE_REPS, CAP)
    written = pipeline.writebacks()
    twice = {i: (records[i], pipeline.writeback_log(i)) for i in records if written[i] != 1}
    assert not twice, f"written back {len(twice)} times more than once: {list(twice.items())[:2]}"

    # --- a re-route racing acceptances
    counted = {i: r["owner_id"] for i, r in records.items() if r.get("counted_rep_id")}
    accept = set(sorted(counted)[::5])  # every fifth lead held by a rep is accepted mid-re-route
    raced: list[str] = []
    original = DynamoLeadStore.reroute

    def racing(self, seen, owner, **kwargs):  # between the re-route's read and its change
        lead_id = seen.lead_id
        if lead_id in accept and lead_id not in raced:
            raced.append(lead_id)  # the rep works the lead now: Salesforce sends the CDC update
            pipeline.publish([cdc_update_event(lead_id, {"Status": "Working - Contacted"}, org_id=ORG_ID,
                                               commit_user=counted[lead_id])])
            deadline = time.monotonic() + 30
            while pipeline.leads(lead_id)[lead_id]["status"] != "ATTENDED":
                assert time.monotonic() < deadline, "the acceptance did not get through intake"
                time.sleep(0.1)
        return original(self, seen, owner, **kwargs)

    monkeypatch.setattr(DynamoLeadStore, "reroute", racing)
    summary = pipeline.stack.fire_schedule("LeadRerouteFunction", at=datetime.now(UTC) + timedelta(minutes=30))
    monkeypatch.setattr(DynamoLeadStore, "reroute", original)
    pipeline.wait()

    assert sorted(raced) == sorted(accept)
    after = pipeline.leads("00QRAC")
    for lead_id, owner in counted.items():
        item = after[lead_id]
        if lead_id in accept:  # attended while the re-route was deciding: stays put
            assert item["status"] == "ATTENDED" and item["owner_id"] == owner and not item.get("previous_owners")
            assert "reroute_shard" not in item and "counted_rep_id" not in item
        else:  # nobody touched it: moved to another rep (or the queue)
            assert item["owner_id"] != owner and item.get("previous_owners") == [owner]
    assert summary["rerouted"] + summary["escalated"] == len(counted) - len(accept)
    assert summary["skipped"] == len(accept)
    loads = pipeline.assert_counters_exact()
    assert all(loads.get(r, 0) <= CAP for r in RACE_REPS)
    for lead_id, item in after.items():  # Salesforce ends with the owner the record holds
        assert pipeline.salesforce.leads[lead_id]["OwnerId"] == item["owner_id"]
    figures("races", {
        "assignment_containers": WORKERS,
        "leads": len(leads),
        "messages_sent": len(bodies),
        "duplicates": len(bodies) - len(leads),
        "reps": len(RACE_REPS),
        "capacity_each": CAP,
        "to_reps": CAP * len(RACE_REPS),
        "to_fallback_queue": len(leads) - CAP * len(RACE_REPS),
        "caps_exceeded": 0,
        "counter_drift": 0,
        "assign_seconds": round(assign_s, 1),
        "reroute_race": {"due": len(counted), "accepted_mid_reroute": len(accept),
                         "stayed_put": len(accept), "moved": summary["rerouted"] + summary["escalated"]},
    })
