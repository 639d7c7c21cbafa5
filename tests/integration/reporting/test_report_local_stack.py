"""The whole path on the local stack: Salesforce events -> pipeline -> LeadsTable -> its stream (filtered) ->
ReportAggregatesFunction -> AGG# items -> ``territory-router report``: the report's numbers equal what happened to
the leads, and the whole stream delivered again (the poller's checkpoints forgotten) is not counted twice."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from territory_router.adapters.dynamo import from_item

ORG_ID = "00D5e000000LoClEAK"
N_LEADS = 30


def _put(events_client, bus: str, entries: list[dict]) -> None:
    for start in range(0, len(entries), 10):
        resp = events_client.put_events(Entries=entries[start : start + 10])
        assert not resp.get("FailedEntryCount"), resp


def _salesforce(bus: str, events: list[dict]) -> list[dict]:
    return [{"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]), "EventBusName": bus}
            for e in events]


def _wait(check, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _scan(ddb, table: str) -> list[dict]:
    return [from_item(i) for page in ddb.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]


def _scan_leads(ddb, table: str) -> list[dict]:
    """The leads: hot items with their detail items (PII, decision trail) merged in."""
    from territory_router.adapters.lead_detail import leads_of

    return leads_of(_scan(ddb, table))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    from territory_router_tools.demo.leads import make_leads
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.samples import cdc_create_event, cdc_update_event

    previous = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the handlers' EMF lines would flood the test output
    try:
        return _run(tmp_path_factory, LocalStack, make_leads, cdc_create_event, cdc_update_event)
    finally:
        if previous is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = previous


def _run(tmp_path_factory, LocalStack, make_leads, cdc_create_event, cdc_update_event):  # noqa: N803
    with LocalStack(parameter_overrides={"SalesforceOrgId": ORG_ID}, schedule_every_s=24 * 3600) as stack:
        r = stack.resources
        s3, ddb, events = stack.client("s3"), stack.client("dynamodb"), stack.client("events")
        data = resources.files("territory_router_tools.data")
        s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/regions.geojson",
                      Body=data.joinpath("sample_territories.geojson").read_bytes())
        s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/team.json", Body=data.joinpath("sample_roster.json").read_bytes())

        def active(pk):
            return "Item" in ddb.get_item(TableName=r["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}})

        _wait(lambda: active("TERRITORYSET") and active("ROSTER"))
        bus = r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
        leads, _kinds = make_leads(N_LEADS, 11)
        _put(events, bus, _salesforce(bus, [cdc_create_event(lead, org_id=ORG_ID) for lead in leads]))
        assert stack.wait_idle(timeout_s=90)
        items = {i["lead_id"]: i for i in _scan_leads(ddb, r["LeadsTable"])}
        touched = [i for _, i in sorted(items.items()) if i.get("status") == "ASSIGNED" and i.get("owner_kind") == "USER"][::2]
        _put(events, bus, _salesforce(bus, [
            cdc_update_event(i["lead_id"], {"Status": "Working - Contacted"}, org_id=ORG_ID, commit_user=i["owner_id"])
            for i in touched
        ]))
        assert stack.wait_idle(timeout_s=60)
        stack.fire_schedule("LeadRerouteFunction", at=datetime.now(UTC) + timedelta(hours=1, minutes=5))
        assert stack.wait_idle(timeout_s=60)

        # Duplicates: a write that carries no fact (as the writeback's claim), then the whole stream delivered again
        # from TRIM_HORIZON, as if every batch were retried: the high-water marks skip what was counted.
        first = next(i for i in _scan_leads(ddb, r["LeadsTable"]) if i.get("owner_id") and not i.get("reroute_count"))
        ddb.update_item(TableName=r["LeadsTable"], Key={"lead_id": {"S": first["lead_id"]}},
                        UpdateExpression="SET writeback_claim = :k", ExpressionAttributeValues={":k": {"S": "dup"}})
        assert stack.wait_idle(timeout_s=60)  # the claim's record is read: no batch in flight while we rewind
        (source,) = stack.stream_sources
        assert source.checkpoints  # the poller read the stream
        aggregates = stack.functions["ReportAggregatesFunction"]
        before = aggregates.invocations
        source.checkpoints.clear()
        deadline = time.monotonic() + 60
        while aggregates.invocations == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert aggregates.invocations > before  # delivered again
        assert stack.wait_idle(timeout_s=60)
        sqs = stack.client("sqs")
        leads_after = _scan_leads(ddb, r["LeadsTable"])
        loads = {i["pk"][4:]: i for i in _scan(ddb, r["RoutingTable"]) if i["pk"].startswith("REP#") and i["sk"] == "LOAD"}
        dlq = int(sqs.get_queue_attributes(QueueUrl=r["AggregatesDLQ"], AttributeNames=["ApproximateNumberOfMessages"])
                  ["Attributes"]["ApproximateNumberOfMessages"])
        stack_file = tmp_path_factory.mktemp("stack") / "stack.json"
        stack_file.write_text(stack.ready_line())
        out = tmp_path_factory.mktemp("report")
        from territory_router_tools.cli.main import main

        today = datetime.now(UTC).date()
        code = main(["report", "--stack-file", str(stack_file), "--out", str(out),
                     "--from", (today - timedelta(days=1)).isoformat(), "--to", (today + timedelta(days=1)).isoformat()])
        assert code == 0
        invocations = stack.functions["ReportAggregatesFunction"].invocations
    return {"leads": leads_after, "loads": loads, "out": out, "dlq": dlq, "invocations": invocations,
            "attended": len(touched)}


def test_report_numbers_equal_what_happened_to_the_leads(ran):
    report = json.loads((ran["out"] / "report.json").read_text())
    expected: dict[str, Counter] = {}
    for lead in ran["leads"]:
        if not lead.get("owner_id"):
            continue
        c = expected.setdefault(lead.get("territory_id") or "(none)", Counter())
        c["assigned"] += 1
        c["rerouted"] += int(lead.get("reroute_count") or 0) if lead["status"] != "ESCALATED" else 0
        c["escalated"] += lead["status"] == "ESCALATED"
        c["attended"] += lead["status"] == "ATTENDED"
    got = {t["territory_id"]: t for t in report["territories"]}
    assert sum(c["assigned"] for c in expected.values()) == N_LEADS  # every lead assigned exactly once in the report
    for territory, c in expected.items():
        row = got[territory]
        assert (row["assigned"], row["rerouted"], row["escalated"], row["attended"]) == (
            c["assigned"], c["rerouted"], c["escalated"], c["attended"]), territory
        assert row["sla_breaches"] >= row["rerouted"] + row["escalated"]
    assert report["totals"]["attended"] == ran["attended"] > 0
    assert report["totals"]["rerouted"] > 0  # the +1h run re-routed the untouched leads
    assert ran["dlq"] == 0 and ran["invocations"] > 0


def test_rep_rows_show_the_live_counters(ran):
    reps = {r["rep_id"]: r for r in json.loads((ran["out"] / "report.json").read_text())["reps"]}
    for rep_id, load in ran["loads"].items():
        if rep_id in reps:
            assert reps[rep_id]["open_leads"] == int(load.get("open_leads", 0))
    assert sum(r["assigned"] for r in reps.values()) + sum(r["rerouted_in"] for r in reps.values()) >= N_LEADS - 5


def test_all_five_files_written(ran):
    assert {p.name for p in ran["out"].iterdir()} == {"report.html", "report.json", "territories.csv", "reps.csv", "daily.csv"}
    page = (ran["out"] / "report.html").read_text()
    assert page.count('class="territory"') >= 9 * 2  # nine regions on both maps
