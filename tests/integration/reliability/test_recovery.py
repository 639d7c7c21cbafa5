"""Recovery: a writeback Salesforce refuses lands in WritebackDLQ with the reason; once the cause is fixed,
``territory-router dlq redrive`` sends it back and the lead is written, once."""

from __future__ import annotations

import time

from territory_router_tools.cli.main import main

from .pipeline import Pipeline, create_events, make_leads


def test_refused_writeback_is_redriven_after_the_fix(pipeline: Pipeline, tmp_path, capsys, figures) -> None:
    sf = pipeline.salesforce
    pipeline.drain("WritebackDLQ")
    leads = make_leads(6, "RCV")
    refused = leads[2].lead_id
    sf.fail_record(refused, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Owner must be in the region")
    pipeline.publish(create_events(leads))
    pipeline.wait()
    records = pipeline.leads(refused[:6])
    assert all(sf.leads.get(i, {}).get("OwnerId") == r["owner_id"] for i, r in records.items() if i != refused)
    assert sf.leads[refused]["OwnerId"] != records[refused]["owner_id"]  # refused: it keeps the owner it had

    stack_file = tmp_path / "stack.json"
    stack_file.write_text(pipeline.stack.ready_line())
    assert main(["dlq", "list", "--stack-file", str(stack_file), "--queue", "writeback", "--json"]) == 0
    listed = capsys.readouterr().out
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in listed and f"Salesforce refused the update of {refused}" in listed

    with sf._lock:  # the admin fixes the validation rule
        sf._failures.record_errors.pop(refused[:15])
    started = time.monotonic()
    assert main(["dlq", "redrive", "--stack-file", str(stack_file), "--queue", "writeback"]) == 0
    assert "1 sent back" in capsys.readouterr().out
    pipeline.wait()
    assert sf.leads[refused]["OwnerId"] == pipeline.leads(refused[:6])[refused]["owner_id"]
    assert pipeline.dlq_depths()["WritebackDLQ"] == 0
    assert pipeline.writebacks()[refused] == 1  # refused once, accepted once after the redrive
    assert len(pipeline.writeback_log(refused)) == 2
    figures("recovery", {
        "leads": len(leads),
        "refused_by_salesforce": 1,
        "dlq_reason": f"Salesforce refused the update of {refused}: FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "redriven": 1,
        "written_after_redrive": 1,
        "lost": 0,
        "seconds_from_redrive_to_written": round(time.monotonic() - started, 1),
    })
