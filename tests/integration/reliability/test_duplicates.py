"""At-least-once delivery: every Salesforce event arrives three times, concurrently, across batches.

Three publishers put the same events (same Salesforce event ids) on the partner bus at once, each in its own
order, so copies of one event land in different SQS batches handled by different containers (three intake, two
tagging, three assignment and two writeback containers run side by side). Exactly one lead record, one
assignment, one Salesforce writeback per lead must come out, and the counters must equal the open leads.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from .pipeline import SMALL_CAPACITY, Pipeline, create_events, make_leads

LEADS = 60
COPIES = 3


def test_every_event_three_times_concurrently(pipeline: Pipeline, figures) -> None:
    leads = make_leads(LEADS, "DUP")
    prefix = leads[0].lead_id[:6]
    events = create_events(leads)
    copies = []
    for seed in range(COPIES):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        copies.append(shuffled)
    pipeline.scale("LeadIntakeFunction", 2)
    pipeline.scale("LeadTaggingFunction", 1)
    pipeline.scale("LeadAssignmentFunction", 2)
    pipeline.scale("SalesforceWritebackFunction", 1)
    before_totals = pipeline.assigned_totals()
    patches_before = len(pipeline.salesforce.api_requests("PATCH"))

    started = time.monotonic()
    pipeline.publish_concurrently(copies)
    pipeline.wait(timeout_s=90)
    elapsed = time.monotonic() - started

    records = pipeline.leads(prefix)
    # one lead record per lead, nothing lost
    assert set(records) == {lead.lead_id for lead in leads}
    # one assignment per lead: each lead has one owner, and reps' assigned_total grew by exactly the leads
    # counted for them (a double assignment would add twice)
    assert all(r["status"] == "ASSIGNED" and r.get("owner_id") for r in records.values())
    assert all(int(r.get("reroute_count", 0)) == 0 for r in records.values())
    after_totals = pipeline.assigned_totals()
    grew = {rep: after_totals[rep] - before_totals.get(rep, 0) for rep in after_totals}
    counted_here = Counter(r["counted_rep_id"] for r in records.values() if r.get("counted_rep_id"))
    assert {k: v for k, v in grew.items() if v} == dict(counted_here)
    # caps hold
    # counters equal the true number of open leads per rep (whole stack); caps hold
    loads = pipeline.assert_counters_exact()
    assert all(v <= SMALL_CAPACITY for v in loads.values()), loads
    # one writeback per lead, with the owner the lead record holds
    written = pipeline.writebacks()
    assert {lead_id: written[lead_id] for lead_id in records} == dict.fromkeys(records, 1)
    for lead_id, record in records.items():
        assert pipeline.salesforce.leads[lead_id]["OwnerId"] == record["owner_id"]
    # nothing set aside
    assert sum(pipeline.dlq_depths().values()) == 0

    figures("duplicates", {
        "leads": LEADS,
        "events_sent": LEADS * COPIES,
        "duplicates": LEADS * (COPIES - 1),
        "containers": {name: pipeline.containers[name] for name in (
            "LeadIntakeFunction", "LeadTaggingFunction", "LeadAssignmentFunction", "SalesforceWritebackFunction")},
        "lead_records": len(records),
        "assigned": len(records),
        "to_reps": sum(counted_here.values()),
        "to_fallback_queue": len(records) - sum(counted_here.values()),
        "salesforce_records_written": sum(written[i] for i in records),
        "salesforce_patch_calls": len(pipeline.salesforce.api_requests("PATCH")) - patches_before,
        "counter_drift": 0,
        "lost": 0,
        "seconds": round(elapsed, 1),
    })
