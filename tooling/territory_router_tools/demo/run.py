"""``territory-router demo``: the whole pipeline on the embedded AWS, end to end, in under a minute.

1. start the local stack (moto server + every resource of template.yaml + handlers in-process) and a local
   Salesforce-like REST endpoint for the writeback;
2. upload the sample territories (US states grouped into sales regions) and the sample roster to S3;
3. publish Salesforce Event Relay events for N leads built from real ZIP centroids (CDC and platform events,
   some bulk events with several record ids, some delivered twice, one malformed, one from a foreign org);
4. let the pipeline run (a few leads were created by reps themselves: they keep their owner, KEPT_OWNER); reps
   attend most leads in the test org (``FakeOrg``): they change the Status or log a call, and the org's own change
   events (LeadChangeEvent, TaskChangeEvent) reach the partner bus through its relay; the echo of every writeback
   stays in Salesforce, as in an org deployed with ``territory-router salesforce echo-filter`` (the LeadChangeEvent
   channel member's filter); the re-route runs as if one and two hours had passed, so unattended leads are re-routed once and then
   escalated to the group's manager (the demo's copy of the sample roster allows one re-route; the sample itself
   allows two); before moving a lead the re-route reads it back from the org, so a lead whose rep only logged a call
   is released as attended, never re-routed;
5. leads no ordinary event brings: two created with a GAP_CREATE event (intake reads them back from the org), two
   created while the org's relay was stopped longer than the 72-hour retention (their events are lost: the
   reconciliation run finds them by query);
6. print a per-territory table and per-rep loads.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from territory_router.domain.leads import Lead
from territory_router_tools.demo.leads import make_leads

ORG_ID = "00D5e000000LoClEAK"
FOREIGN_ORG_ID = "00D5e000000FrGnEAK"


@dataclass
class DemoResult:
    leads_sent: int
    events_sent: int
    elapsed_s: float
    by_territory: dict[str, dict[str, int]]
    rep_loads: list[dict[str, Any]]
    dlq: dict[str, int]
    writeback: dict[str, int]
    methods: dict[str, int]
    counted_by_rep: dict[str, int] = field(default_factory=dict)  # open leads per rep, counted from the lead records
    notes: list[str] = field(default_factory=list)
    created_by_reps: int = 0  # leads whose CREATE named a rep of the roster as owner (they keep that owner)
    attended_by_activity: int = 0  # leads attended by a logged call (TaskChangeEvent), not a Status change
    # Leads no ordinary event brought: {"gap_refetched", "relay_lost", "reconciled"} and their ids
    salesforce_truth: dict[str, int] = field(default_factory=dict)
    truth_leads: list[str] = field(default_factory=list)


LEAD_SUMMARY_ATTRIBUTES = (
    "lead_id", "status", "owner_id", "owner_kind", "territory_id", "tag_method", "reroute_count", "fallback",
    "counted_rep_id", "kept_owner",
)


def _scan(ddb, table: str, attributes: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The demo's own summary reads the whole (small) table; the product's reports never Scan (docs/reporting.md)."""
    from territory_router.adapters.dynamo import from_item

    kwargs: dict[str, Any] = {"TableName": table}
    if attributes:
        kwargs["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        kwargs["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
    items = []
    for page in ddb.get_paginator("scan").paginate(**kwargs):
        items.extend(from_item(i) for i in page["Items"])
    return items


def _scan_leads(ddb, table: str) -> list[dict[str, Any]]:
    """The leads' summary attributes: hot items only (a lead's detail item, ``<id>#detail``, has no ``status``)."""
    return [i for i in _scan(ddb, table, LEAD_SUMMARY_ATTRIBUTES) if "status" in i]


def run_demo(
    n_leads: int = 500,
    seed: int = 7,
    out: TextIO | None = None,
    timeout_s: float = 120.0,
    report_dir: Path | None = None,
    handler_log: Path | None = None,
) -> DemoResult:
    """Run the demo; progress and the summary go to ``out``, the handlers' JSON logs to ``handler_log``."""
    out = out or sys.stdout
    log_path = handler_log or (report_dir or Path("demo-output")) / "handler-logs.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Handlers log JSON lines to stdout as on Lambda; keep them in a file so the terminal shows the story.
    with open(log_path, "w") as logs:
        try:
            with contextlib.redirect_stdout(logs):
                result = _run_demo(n_leads, seed, out, timeout_s, report_dir)
        finally:
            _unbind_log_handlers(logs)
    print(f"handler logs: {log_path}", file=out)
    return result


def _unbind_log_handlers(stream: TextIO) -> None:
    """Handlers' loggers (powertools) captured our log file as their stream; give them stdout back before it closes."""
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                handler.stream = sys.stdout


def _run_demo(n_leads: int, seed: int, out: TextIO, timeout_s: float, report_dir: Path | None) -> DemoResult:
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.channel_filter import echo_filter_expression
    from territory_router_tools.salesforce.fake_org import FakeOrg
    from territory_router_tools.salesforce.samples import (
        cdc_create_event,
        platform_event,
        publish_relay_events,
    )

    started = time.monotonic()
    rng = random.Random(seed)
    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", file=out, flush=True)

    with FakeOrg(org_id=ORG_ID) as salesforce, LocalStack(
        parameter_overrides={"WritebackEnabled": "true", "SalesforceOrgId": ORG_ID,
                             "SalesforceIntegrationUserId": salesforce.integration_user_id},
        schedule_every_s=24 * 3600,  # the demo fires the re-route itself, at simulated times
    ) as stack:
        say(f"local stack up at {stack.endpoint} ({len(stack.functions)} functions from template.yaml)")
        say(f"Salesforce stand-in at {salesforce.url}")
        # Deployed as docs/salesforce.md 1.6 says: our writeback's echo is kept off the relay by the channel filter.
        salesforce.set_channel_filter("LeadChangeEvent", echo_filter_expression(salesforce.integration_user_id))
        r = stack.resources
        stack.client("secretsmanager").put_secret_value(
            SecretId=r["SalesforceCredentialsSecret"],
            SecretString=json.dumps(
                {"client_id": "demo-client", "client_secret": "demo-secret", "my_domain_url": salesforce.url}
            ),
        )
        s3 = stack.client("s3")
        bucket = r["TerritoryBucket"]
        data = resources.files("territory_router_tools.data")
        s3.put_object(Bucket=bucket, Key="territories/sales-regions.geojson",
                      Body=data.joinpath("sample_territories.geojson").read_bytes())
        s3.put_object(Bucket=bucket, Key="roster/sales-team.json", Body=_demo_roster(data))
        salesforce.adopt_roster(json.loads(_demo_roster(data)))
        _wait_for(lambda: _active(stack, "TERRITORYSET") and _active(stack, "ROSTER"), 30,
                  "the territory set and roster to activate")
        say("territories and roster active")

        leads, kinds = make_leads(n_leads, seed)
        _reps_create_some(leads, rng, json.loads(_demo_roster(data)))
        events = _lead_events(leads, rng, cdc_create_event, platform_event)
        created_by_reps = sum(1 for lead in leads if lead.owner_id)  # after bulk inserts copied some
        bus = r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
        salesforce.connect(stack.client("events"), bus)  # the org's relay: every change it makes reaches the bus
        salesforce.adopt_relay_events(events)
        publish_relay_events(stack.client("events"), bus, events)
        say(f"published {len(events)} Salesforce events for {len(leads)} leads")
        if not stack.wait_idle(timeout_s=timeout_s):
            raise RuntimeError("the pipeline did not finish in time")
        ddb = stack.client("dynamodb")
        records = {i["lead_id"]: i for i in _scan_leads(ddb, r["LeadsTable"])}
        say(f"pipeline idle: {len(records)} lead records, assigned {sum(1 for i in records.values() if i.get('owner_id'))}")

        kept = sum(1 for i in records.values() if i.get("status") == "KEPT_OWNER")
        say(f"{kept} of the {created_by_reps} leads reps created themselves kept their owner (KEPT_OWNER)")

        # Reps attend three leads in four in Salesforce: most change the Status, some only log a call (a Task on
        # the lead: Salesforce sends a TaskChangeEvent, no LeadChangeEvent); the rest stay untouched. Leads that
        # kept their owner are worked the same way.
        emitted_before = len(salesforce.emitted)
        status_changes = calls = 0
        for lead_id, item in sorted(records.items()):
            if (item.get("status") in ("ASSIGNED", "KEPT_OWNER") and item.get("owner_kind", "USER") == "USER"
                    and rng.random() < 0.75):
                if salesforce.leads.get(lead_id, {}).get("OwnerId") != item["owner_id"]:
                    continue  # not written back (yet): the rep does not see it as theirs
                if rng.random() < 0.15:
                    salesforce.log_call(lead_id, by=item["owner_id"])
                    calls += 1
                else:
                    salesforce.update_lead(lead_id, by=item["owner_id"], Status="Working - Contacted")
                    status_changes += 1
        stack.wait_idle(timeout_s=timeout_s)
        attended = salesforce.emitted[emitted_before:]
        say(f"reps attended {status_changes + calls} leads in Salesforce: {status_changes} status changes, "
            f"{calls} logged calls")

        now = datetime.now(UTC)
        released = 0
        for hours in (1, 2):
            result = stack.fire_schedule("LeadRerouteFunction", at=now + timedelta(hours=hours, minutes=5))
            stack.wait_idle(timeout_s=timeout_s)
            released += result.get("attended_in_salesforce", 0)
            say(f"re-route run at +{hours}h: {result.get('rerouted')} re-routed, {result.get('escalated')} escalated, "
                f"{result.get('attended_in_salesforce', 0)} released as worked in Salesforce "
                f"({result.get('items_read')} items read)")

        # The org's API usage before the outage step moves its clock 73 hours on (its 24-hour window with it).
        org_note = (f"Salesforce org: {salesforce.relay_stats.delivered} change events relayed "
                    f"({sum(1 for e in salesforce.emitted if e['detail-type'] == '/data/TaskChangeEvent')} "
                    f"TaskChangeEvent), {salesforce.relay_stats.filtered} echoes of our writeback kept in Salesforce "
                    f"by the channel filter, {salesforce.api_used} API calls in the last 24 h of {salesforce.api_limit}")
        truth, truth_ids = _salesforce_truth(stack, salesforce, seed, timeout_s)
        say(f"gap events: {truth['gap_refetched']} GAP_CREATE leads read back from Salesforce and routed; relay stopped "
            f"73 h: {truth['relay_lost']} change events lost, the reconciliation run found {truth['reconciled']} "
            "leads and fed them to intake")

        result = _collect(stack, kinds, salesforce)
        result.notes.append(org_note)
        result.notes.append(f"logged calls (TaskChangeEvent): {calls}; status changes: {status_changes}; "
                            f"released by the re-route's read of Salesforce: {released}")
        result.salesforce_truth, result.truth_leads = truth, truth_ids
        result.leads_sent = len(leads) + len(truth_ids)
        result.events_sent = len(events) + len(attended)
        result.created_by_reps = created_by_reps
        result.attended_by_activity = calls
        from territory_router_tools.reporting.run import write_demo_report

        report_path = write_demo_report(stack, *([report_dir] if report_dir is not None else []))
        result.elapsed_s = time.monotonic() - started
        _print_report(result, out)
        say(f"report: {report_path}")
        return result


def _salesforce_truth(stack, salesforce, seed: int, timeout_s: float) -> tuple[dict[str, int], list[str]]:
    """Leads no ordinary event brings, routed anyway: GAP_CREATE (read back) and a relay outage (reconciliation)."""
    extra, _ = make_leads(4, seed + 1)
    fields = [
        {k: v for k, v in {
            "FirstName": lead.first_name, "LastName": lead.last_name, "Company": lead.company, "Street": lead.street,
            "City": lead.city, "State": lead.state, "PostalCode": lead.postal_code, "Country": lead.country,
            "Latitude": lead.latitude, "Longitude": lead.longitude, "Industry": lead.industry,
            "LeadSource": lead.lead_source}.items() if v is not None}
        for lead in extra
    ]
    gap = [salesforce.create_lead(f, owner=salesforce.default_lead_owner, gap=True) for f in fields[:2]]
    stack.wait_idle(timeout_s=timeout_s)
    salesforce.stop_relay()
    silent = [salesforce.web_to_lead(f) for f in fields[2:]]
    salesforce.advance(timedelta(hours=73))  # the relay stays stopped past Salesforce's 72-hour retention
    lost = salesforce.start_relay().lost
    stack.wait_idle(timeout_s=timeout_s)
    run = stack.fire_schedule("LeadReconcileFunction")
    stack.wait_idle(timeout_s=timeout_s)
    return {"gap_refetched": len(gap), "relay_lost": lost, "reconciled": int(run.get("fed", 0))}, gap + silent


def _demo_roster(data) -> bytes:
    """The sample roster with one re-route before escalation, so the demo shows both in two re-route runs."""
    roster = json.loads(data.joinpath("sample_roster.json").read_text())
    roster["max_reroutes"] = 1
    for group in roster.get("groups", []):
        if "max_reroutes" in group:
            group["max_reroutes"] = 1
    return json.dumps(roster).encode()


def _reps_create_some(leads: list[Lead], rng: random.Random, roster: dict[str, Any]) -> None:
    """About one lead in twenty is created by a rep of the roster (its OwnerId): such a lead keeps its owner."""
    inboxes = set(roster.get("always_route_owners") or [])
    reps = [r["rep_id"] for r in roster.get("reps", []) if r.get("active", True) and r["rep_id"] not in inboxes]
    for i in range(1, len(leads)):  # the first lead is reused for the malformed and foreign-org events
        if reps and rng.random() < 0.05:
            leads[i] = leads[i].model_copy(update={"owner_id": rng.choice(reps)})


def _lead_events(leads: list[Lead], rng: random.Random, cdc_create_event, platform_event) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    i = 0
    while i < len(leads):
        lead = leads[i]
        roll = rng.random()
        if roll < 0.015 and i + 2 < len(leads):
            # A bulk insert: one CDC event naming three records with identical field values.
            ids = [leads[i].lead_id, leads[i + 1].lead_id, leads[i + 2].lead_id]
            for j in (1, 2):
                leads[i + j] = leads[i].model_copy(update={"lead_id": ids[j]})
            events.append(cdc_create_event(lead, org_id=ORG_ID, record_ids=ids))
            i += 3
            continue
        if roll < 0.15:
            events.append(platform_event(lead, org_id=ORG_ID))
        else:
            events.append(cdc_create_event(lead, org_id=ORG_ID, date_format=rng.choice(["epoch_ms", "iso"])))
        i += 1
    # At-least-once delivery: some events arrive twice.
    events += [dict(e) for e in rng.sample(events, k=max(1, len(events) // 20))]
    # One malformed event and one from another org: both set aside in the DLQ with their reason.
    bad = json.loads(json.dumps(events[0]))
    bad["detail"]["payload"].pop("ChangeEventHeader", None)
    bad["detail"]["payload"].pop("Lead_Id__c", None)
    events.append(bad)
    foreign = cdc_create_event(leads[0].model_copy(update={"lead_id": leads[0].lead_id}), org_id=FOREIGN_ORG_ID)
    events.append(foreign)
    rng.shuffle(events)
    return events


def _active(stack, pk: str) -> bool:
    resp = stack.client("dynamodb").get_item(
        TableName=stack.resources["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}}
    )
    return "Item" in resp


def _wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def _collect(stack, kinds: dict[str, str], salesforce) -> DemoResult:
    ddb = stack.client("dynamodb")
    r = stack.resources
    items = _scan_leads(ddb, r["LeadsTable"])
    by_territory: dict[str, Counter] = defaultdict(Counter)
    methods: Counter = Counter()
    counted_by_rep: Counter = Counter()
    for item in items:
        if item.get("counted_rep_id"):
            counted_by_rep[item["counted_rep_id"]] += 1
        t = item.get("territory_id") or "(none)"
        c = by_territory[t]
        c["leads"] += 1
        methods[item.get("tag_method", "?")] += 1
        if item.get("owner_id"):
            c["assigned"] += 1
        if item.get("kept_owner"):
            c["kept"] += 1
        if item.get("status") == "ATTENDED":
            c["attended"] += 1
        if int(item.get("reroute_count") or 0) > 0:
            c["rerouted"] += 1
        if item.get("status") == "ESCALATED":
            c["escalated"] += 1
        if item.get("fallback"):
            c["fallback"] += 1
    routing = _scan(ddb, r["RoutingTable"])
    loads = {i["pk"][4:]: i for i in routing if i["pk"].startswith("REP#") and i["sk"] == "LOAD"}
    from territory_router.adapters.roster_store import RosterStore

    roster = RosterStore(ddb, r["RoutingTable"], s3_client=stack.client("s3"),
                         bucket=r["TerritoryBucket"]).active_roster(refresh=True)
    rep_loads = []
    for rep in roster.reps.values() if isinstance(roster.reps, dict) else roster.reps:
        load = loads.get(rep.rep_id, {})
        rep_loads.append({
            "rep": rep.name, "rep_id": rep.rep_id, "open": int(load.get("open_leads", 0)),
            "capacity": rep.capacity, "assigned_total": int(load.get("assigned_total", 0)),
        })
    sqs = stack.client("sqs")
    dlq = {}
    for lid, url in r.items():
        if lid.endswith("DLQ"):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            dlq[lid] = int(attrs["ApproximateNumberOfMessages"])
    patches = [q for q in salesforce.requests if q.method == "PATCH"]
    writeback = {"api_calls": len(patches), "records": sum(len(q.json().get("records", [])) for q in patches)}
    return DemoResult(
        0, 0, 0.0, {k: dict(v) for k, v in by_territory.items()}, rep_loads, dlq, writeback, dict(methods),
        counted_by_rep=dict(counted_by_rep),
    )


def _print_report(result: DemoResult, out: TextIO) -> None:
    p = lambda text="": print(text, file=out)  # noqa: E731
    cols = ["leads", "assigned", "kept", "attended", "rerouted", "escalated", "fallback"]
    p()
    p(f"{'territory':<16}" + "".join(f"{c:>10}" for c in cols))
    p("-" * (16 + 10 * len(cols)))
    total: Counter = Counter()
    for territory in sorted(result.by_territory):
        row = result.by_territory[territory]
        total.update(row)
        p(f"{territory:<16}" + "".join(f"{row.get(c, 0):>10}" for c in cols))
    p("-" * (16 + 10 * len(cols)))
    p(f"{'total':<16}" + "".join(f"{total.get(c, 0):>10}" for c in cols))
    p()
    p("tag methods: " + ", ".join(f"{k} {v}" for k, v in sorted(result.methods.items())))
    p(f"kept owner: {total.get('kept', 0)} leads created by a rep of the roster kept that rep (tagged, counted, "
      "OwnerId never written); assigned includes them")
    p(f"attended by a logged call (TaskChangeEvent, Status untouched): {result.attended_by_activity}")
    p()
    p(f"{'rep':<22}{'open':>6}{'cap':>6}{'assigned':>10}")
    for rep in sorted(result.rep_loads, key=lambda x: x["rep"]):
        p(f"{rep['rep']:<22}{rep['open']:>6}{rep['capacity']:>6}{rep['assigned_total']:>10}")
    p()
    p("dead-letter queues: " + ", ".join(f"{k} {v}" for k, v in sorted(result.dlq.items())))
    p(f"Salesforce writeback: {result.writeback['records']} lead updates in {result.writeback['api_calls']} "
      "Collections API calls (Sforce-Auto-Assign: FALSE)")
    if result.salesforce_truth:
        t = result.salesforce_truth
        p(f"Salesforce truth: {t['gap_refetched']} GAP_CREATE leads read back and routed; {t['relay_lost']} events "
          f"lost to a 73-hour relay outage, {t['reconciled']} leads found by reconciliation and routed")
    for note in result.notes:
        p(note)
    p(f"{result.leads_sent} leads, {result.events_sent} events, {result.elapsed_s:.1f} s")
