"""End-to-end pipeline benchmark on the local stack: AWS calls per lead, DynamoDB round trips, leads/s.

    .venv/bin/python bench/pipeline.py [--leads 2000] [--json OUT.json]

Every botocore call goes through ``BaseClient._make_api_call``; a wrapper attributes each call to the function
whose invocation is running on the calling thread (``FunctionRuntime.invoke`` is wrapped to mark the thread), to
the event source mapping (the local SQS pollers: the ReceiveMessage/DeleteMessageBatch that Lambda makes for
us, also billed), or to the bench driver (uploads, publishing the Salesforce events, the wait loop), which is
left out of the per-lead figures. Each call's wall time is measured too, so a function's compute time is its
invocation time minus the time spent waiting for the emulator.

The lifecycle of a lead, in phases (every phase waits until the stack is idle):

- ``create``: one CDC CREATE per lead through the partner bus → intake → tagging → assignment → LeadAssigned →
  writeback (to a local Salesforce stand-in);
- ``echo``: our own writeback is a CDC UPDATE by the integration user (one per record written). As deployed
  (``territory-router salesforce echo-filter``), the LeadChangeEvent channel member's filter keeps it in Salesforce:
  the test org's channel (``FakeOrg.on_channel``) relays none of them, so this phase costs nothing. ``--no-echo-filter``
  relays them as an unfiltered org does (intake recognises each echo and does nothing, but it is paid for);
- ``attend``: reps work 3 leads in 4 (CDC UPDATE by the owner): intake stops the SLA clock;
- ``reroute``: the schedule runs as if two hours had passed: the unattended quarter is re-routed, written back,
  and echoed again.

``echo_without_filter`` (with the filter on) then relays the echoes the filter kept in Salesforce, measured apart
(not a per-lead phase): what the filter saves (the cost model's "without the echo filter" what-if row).

``idle_reroute`` (a scheduled run with nothing due) is measured apart: it is a fixed cost per run, not per lead.
A container's first import of its handler (INIT) is timed apart from its invocations (``init_s``): it is paid
once per execution environment, not per lead.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

ORG_ID = "00D5e000000LoClEAK"
INTEGRATION_USER = "005000000000042AAA"
OUR_CLIENT = "com/salesforce/api/rest/62.0;client=TerritoryRouter"
SQS_CHUNK = 64 * 1024
# Item attributes of the sparse RerouteDueIndex (keys and projection, see template.yaml): a write that names
# one of them may change the index entry of an item that is in the index.
GSI_ATTRIBUTES = {"reroute_shard", "sla_due_at", "owner_id", "version", "territory_id", "reroute_count", "status"}
GSI_KEYS = {"reroute_shard", "sla_due_at"}


class CountingSink(io.TextIOBase):
    """Stands in for stdout while handlers run: counts what Lambda would ship to CloudWatch Logs."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self.bytes += len(text.encode("utf-8", "replace"))
            self.lines += text.count("\n")
        return len(text)


class CallCounter:
    """Counts botocore calls per (phase, caller, service:operation) with the billing-relevant sizes."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.local = threading.local()
        self.lock = threading.Lock()
        self.calls: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.invocations: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.log_bytes: Counter = Counter()
        self.sink: CountingSink | None = None

    def caller(self) -> str:
        fn = getattr(self.local, "function", None)
        if fn:
            return fn
        name = threading.current_thread().name
        if name.startswith("sqs-"):  # "sqs-<Function>-<n>": the n-th poller of that function's event source
            return "esm:" + re.sub(r"-\d+$", "", name[4:])
        if name.startswith("ddbstream-"):  # the DynamoDB stream poller of that function's event source mapping
            return "esm:" + re.sub(r"-\d+$", "", name[len("ddbstream-"):])
        return "driver"

    # ------------------------------------------------------------------ patches
    def install(self) -> None:
        from botocore.client import BaseClient

        from territory_router_tools.local.runtime import FunctionRuntime

        counter = self
        original_call = BaseClient._make_api_call
        original_invoke = FunctionRuntime.invoke
        original_load = FunctionRuntime._load

        def _make_api_call(client, operation_name, api_params):
            started = time.perf_counter()
            response = None
            try:
                response = original_call(client, operation_name, api_params)
                return response
            finally:
                elapsed = time.perf_counter() - started
                counter.record(client.meta.service_model.endpoint_prefix, operation_name, api_params, response, elapsed)

        def load(runtime):  # a container's cold start (INIT): timed apart from the invocation
            started = time.perf_counter()
            try:
                return original_load(runtime)
            finally:
                counter.local.init_s = getattr(counter.local, "init_s", 0.0) + time.perf_counter() - started

        def invoke(runtime, event):
            previous = getattr(counter.local, "function", None)
            counter.local.function = runtime.name
            counter.local.api_s = 0.0
            counter.local.init_s = 0.0
            logs_before = counter.sink.bytes if counter.sink else 0
            started = time.perf_counter()
            try:
                return original_invoke(runtime, event)
            finally:
                init = counter.local.init_s
                wall = time.perf_counter() - started - init
                with counter.lock:
                    row = counter.invocations[(counter.phase, runtime.name)]
                    row["invocations"] += 1
                    row["cold_starts"] += 1 if init else 0
                    row["init_s"] += init
                    row["wall_s"] += wall
                    row["billed_ms"] += math.ceil(wall * 1000)
                    row["api_s"] += counter.local.api_s
                    row["records"] += len(event.get("Records") or []) or 1
                    if counter.sink:
                        row["log_bytes"] += counter.sink.bytes - logs_before
                counter.local.function = previous

        BaseClient._make_api_call = _make_api_call
        FunctionRuntime.invoke = invoke
        FunctionRuntime._load = load
        self._restore = (BaseClient, original_call, FunctionRuntime, original_invoke, original_load)

    def uninstall(self) -> None:
        base, call, runtime, invoke, load = self._restore
        base._make_api_call = call
        runtime.invoke = invoke
        runtime._load = load

    # ------------------------------------------------------------------ recording
    def record(self, service: str, op: str, params: dict[str, Any], response: Any, elapsed: float) -> None:
        who = self.caller()
        if getattr(self.local, "function", None):
            self.local.api_s = getattr(self.local, "api_s", 0.0) + elapsed
        units = billing_units(service, op, params, response if isinstance(response, dict) else {})
        with self.lock:
            row = self.calls[(self.phase, who, f"{service}:{op}")]
            row["calls"] += 1
            row["seconds"] += elapsed
            for key, value in units.items():
                row[key] += value


def billing_units(service: str, op: str, params: dict[str, Any], response: dict[str, Any]) -> dict[str, float]:
    """What one call may bill, before item sizes are known (DynamoDB units are priced later, per table)."""
    if service == "sqs":
        if op == "SendMessage":
            return {"sqs_requests": max(1, math.ceil(len(params.get("MessageBody", "").encode()) / SQS_CHUNK))}
        if op == "SendMessageBatch":
            size = sum(len(e.get("MessageBody", "").encode()) for e in params.get("Entries", []))
            return {"sqs_requests": max(1, math.ceil(size / SQS_CHUNK)), "messages": len(params.get("Entries", []))}
        if op == "ReceiveMessage":
            messages = response.get("Messages", [])
            size = sum(len(m.get("Body", "").encode()) for m in messages)
            first = sum(1 for m in messages if m.get("Attributes", {}).get("ApproximateReceiveCount", "1") == "1")
            return {
                "sqs_requests": max(1, math.ceil(size / SQS_CHUNK)),
                "messages": len(messages),
                "first_receives": first,
                "empty": 0 if messages else 1,
            }
        return {"sqs_requests": 1}
    if service == "events" and op == "PutEvents":
        size = [len(json.dumps(e, default=str).encode()) for e in params.get("Entries", [])]
        return {"events": sum(max(1, math.ceil(s / SQS_CHUNK)) for s in size)}
    if service == "dynamodb":
        return dynamodb_shape(op, params, response)
    return {}


def _names_in(params: dict[str, Any]) -> set[str]:
    names = set((params.get("Item") or {}).keys())
    names |= set((params.get("ExpressionAttributeNames") or {}).values())
    text = " ".join(str(params.get(k, "")) for k in ("UpdateExpression", "ConditionExpression"))
    names |= {n for n in GSI_ATTRIBUTES if n in text}
    return names


def dynamodb_shape(op: str, params: dict[str, Any], response: dict[str, Any]) -> dict[str, float]:
    """Per table: items written/read, transactional or not, and writes that may touch the GSI."""
    out: dict[str, float] = {}

    def add(key: str, value: float = 1) -> None:
        out[key] = out.get(key, 0) + value

    if op in {"PutItem", "UpdateItem", "DeleteItem"}:
        table = params["TableName"]
        add(f"write|{table}")
        if table_has_gsi(table) and _names_in(params) & GSI_KEYS:
            add(f"gsi_write|{table}")
    elif op == "TransactWriteItems":
        for item in params.get("TransactItems", []):
            (kind, body), = item.items()
            table = body["TableName"]
            add(f"twrite|{table}")
            if kind != "ConditionCheck" and table_has_gsi(table) and _names_in(body) & GSI_KEYS:
                add(f"gsi_write|{table}")
    elif op == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            add(f"write|{table}", len(requests))
    elif op == "GetItem":
        kind = "sread" if params.get("ConsistentRead") else "read"
        add(f"{kind}_calls|{params['TableName']}")
        add(f"{kind}_items|{params['TableName']}", 1 if response.get("Item") else 0)
    elif op in {"Query", "Scan"}:
        table = params["TableName"] + (f"#{params['IndexName']}" if params.get("IndexName") else "")
        kind = "sread" if params.get("ConsistentRead") else "read"
        add(f"{kind}_calls|{table}")
        add(f"{kind}_items|{table}", response.get("ScannedCount", response.get("Count", 0)))
    elif op == "TransactGetItems":
        for item in params.get("TransactItems", []):
            add(f"tread_items|{item['Get']['TableName']}")
    elif op == "BatchGetItem":
        for table, spec in params.get("RequestItems", {}).items():
            kind = "sread" if spec.get("ConsistentRead") else "read"
            add(f"{kind}_calls|{table}", len(spec.get("Keys", [])))
            add(f"{kind}_items|{table}", len(spec.get("Keys", [])))
    return out


_GSI_TABLES: set[str] = set()


def table_has_gsi(table: str) -> bool:
    return table in _GSI_TABLES


# --------------------------------------------------------------------------------------- item sizes


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one typed attribute value (developer guide, "Item sizes and formats")."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(str(v).lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(v)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(attribute_size(x) + 1 for x in v)
    return len(json.dumps(v))


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def table_sizes(ddb, tables: dict[str, str]) -> dict[str, dict[str, float]]:
    out = {}
    for logical_id, name in tables.items():
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            items.extend(page["Items"])
        if not items:
            continue
        items.sort(key=item_size)
        sizes = [item_size(i) for i in items]
        kinds = {}
        if logical_id == "LeadsTable":  # hot lead items and their detail items (adapters/lead_detail.py) apart
            for kind, subset in (("hot", [s for s, i in zip(sizes, items, strict=True) if "status" in i]),
                                 ("detail", [s for s, i in zip(sizes, items, strict=True) if "status" not in i])):
                if subset:
                    kinds[f"{kind}_items"] = len(subset)
                    kinds[f"{kind}_mean_bytes"] = sum(subset) / len(subset)
                    kinds[f"{kind}_p95_bytes"] = subset[int(0.95 * (len(subset) - 1))]
            hot = [i for i in items if "status" in i]
            if hot:  # where a hot item's bytes go: mean bytes per attribute (name + value) over the hot items
                per: dict[str, float] = {}
                for i in hot:
                    for k, v in i.items():
                        per[k] = per.get(k, 0) + len(k.encode()) + attribute_size(v)
                kinds["hot_mean_bytes_by_attribute"] = {
                    k: round(n / len(hot), 1) for k, n in sorted(per.items(), key=lambda kv: -kv[1])[:16]}
        median = items[len(items) // 2]
        by_attribute = sorted(
            ((len(k.encode()) + attribute_size(v), k) for k, v in median.items()), reverse=True
        )
        out[name] = {
            "logical_id": logical_id,
            "items": len(sizes),
            "mean_bytes": sum(sizes) / len(sizes),
            "p95_bytes": sizes[int(0.95 * (len(sizes) - 1))],
            "max_bytes": sizes[-1],
            "wru_per_write": sum(math.ceil(s / 1024) for s in sizes) / len(sizes),
            "median_item_largest_attributes": {k: n for n, k in by_attribute[:5]},
            **kinds,
        }
    return out


# --------------------------------------------------------------------------------------- the run


def _put_partner_events(events_client, bus: str, events: list[dict[str, Any]]) -> None:
    from territory_router_tools.salesforce.samples import publish_relay_events

    publish_relay_events(events_client, bus, events)


def _wait_active(stack, timeout_s: float = 60) -> None:
    ddb = stack.client("dynamodb")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [
            "Item" in ddb.get_item(TableName=stack.resources["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}})
            for pk in ("TERRITORYSET", "ROSTER")
        ]
        if all(found):
            return
        time.sleep(0.2)
    raise RuntimeError("territory set and roster did not activate")


def run(n_leads: int = 2000, seed: int = 11, log=print, echo_filter: bool = True) -> dict[str, Any]:
    from territory_router_tools.demo.leads import make_leads
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.channel_filter import echo_filter_expression
    from territory_router_tools.salesforce.fake_org import FakeOrg
    from territory_router_tools.salesforce.samples import cdc_create_event, cdc_update_event

    counter = CallCounter()
    counter.install()
    sink = CountingSink()
    counter.sink = sink
    real_stdout = sys.stdout
    sys.stdout = sink  # powertools loggers bind to sys.stdout when the handler modules load
    rng = random.Random(seed)
    phases: dict[str, dict[str, Any]] = {}
    try:
        with FakeOrg() as salesforce, LocalStack(
            parameter_overrides={
                "WritebackEnabled": "true",
                "SalesforceOrgId": ORG_ID,
                "SalesforceIntegrationUserId": INTEGRATION_USER,
            },
            schedule_every_s=24 * 3600,
        ) as stack:
            r = stack.resources
            tables = {lid: r[lid] for lid in stack.template.of_type("AWS::DynamoDB::Table")}
            for lid, res in stack.template.of_type("AWS::DynamoDB::Table").items():
                if (res.get("Properties") or {}).get("GlobalSecondaryIndexes"):
                    _GSI_TABLES.add(r[lid])
            stack.client("secretsmanager").put_secret_value(
                SecretId=r["SalesforceCredentialsSecret"],
                SecretString=json.dumps({"client_id": "bench", "client_secret": "bench", "my_domain_url": salesforce.url}),
            )
            s3 = stack.client("s3")
            data = resources.files("territory_router_tools.data")
            s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/sales-regions.geojson",
                          Body=data.joinpath("sample_territories.geojson").read_bytes())  # fmt: skip
            s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/sales-team.json",
                          Body=data.joinpath("sample_roster.json").read_bytes())  # fmt: skip
            salesforce.adopt_roster(json.loads(data.joinpath("sample_roster.json").read_text()))
            _wait_active(stack)
            stack.wait_idle(timeout_s=60, quiet_s=0.5)
            bus = r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
            events_client = stack.client("events")
            written: set[int] = set()
            kept_in_salesforce: list[dict[str, Any]] = []  # echoes the channel member's filter did not relay
            if echo_filter:  # the member as `territory-router salesforce echo-filter` writes it, for the stack's user
                salesforce.set_channel_filter("LeadChangeEvent", echo_filter_expression(INTEGRATION_USER))

            def echoes() -> list[dict[str, Any]]:
                """One CDC UPDATE by the integration user per lead our writeback PATCHed since the last call."""
                out = []
                for i, q in enumerate(salesforce.requests):
                    if q.method != "PATCH" or i in written:
                        continue
                    written.add(i)
                    for record in q.json().get("records", []):
                        changes = {k: v for k, v in record.items() if k not in {"attributes", "id", "Id"}}
                        out.append(cdc_update_event(record.get("id") or record["Id"], changes, org_id=ORG_ID, commit_user=INTEGRATION_USER,
                                                    change_origin=OUR_CLIENT))  # fmt: skip
                relayed = salesforce.on_channel(out)  # what the (filtered) channel hands to Event Relay
                on_relay = {id(e) for e in relayed}
                kept_in_salesforce.extend(e for e in out if id(e) not in on_relay)
                return relayed

            def phase(name: str, events: list[dict[str, Any]], action=None) -> None:
                counter.phase = name
                started = time.monotonic()
                if events:
                    _put_partner_events(events_client, bus, events)
                result = action() if action else None
                if not stack.wait_idle(timeout_s=600, quiet_s=1.0):
                    raise RuntimeError(f"phase {name}: the pipeline did not go idle")
                busy_until = max(stack.activity.last_activity, started)
                phases[name] = {"partner_events": len(events), "seconds": busy_until - started, "result": result}
                log(f"  phase {name}: {len(events)} partner events, {busy_until - started:.1f} s")

            leads, _kinds = make_leads(n_leads, seed)
            creates = [cdc_create_event(lead, org_id=ORG_ID) for lead in leads]
            salesforce.adopt_relay_events(creates)  # the test org holds the leads these events announce
            phase("create", creates)
            ddb = stack.client("dynamodb")
            records = []
            for page in ddb.get_paginator("scan").paginate(TableName=r["LeadsTable"]):
                records.extend(page["Items"])
            assigned = [i for i in records if "owner_id" in i]
            phases["create"]["leads_assigned"] = len(assigned)
            phase("echo", echoes())
            attended = [
                cdc_update_event(i["lead_id"]["S"], {"Status": "Working - Contacted"}, org_id=ORG_ID,
                                 commit_user=i["owner_id"]["S"])
                for i in assigned if rng.random() < 0.75 and i["owner_id"]["S"].startswith("005")
            ]  # fmt: skip
            phase("attend", attended)
            later = datetime.now(UTC) + timedelta(hours=2, minutes=5)
            phase("reroute", [], action=lambda: stack.fire_schedule("LeadRerouteFunction", at=later))
            rerouted = phases["reroute"]["result"] or {}
            phase("reroute_echo", echoes())
            phase("idle_reroute", [], action=lambda: stack.fire_schedule("LeadRerouteFunction"))
            if kept_in_salesforce:  # priced apart: what relaying them would have cost
                phase("echo_without_filter", kept_in_salesforce)
            sizes = table_sizes(ddb, tables)
            sf_calls = Counter(f"{q.method} {q.path.split('?')[0].rsplit('/', 1)[-1]}" for q in salesforce.requests)
            queue_lids = {url: lid for lid, url in r.items() if isinstance(url, str) and url.startswith("http")}
            rule_targets = _rule_target_queues(stack)
            esm_functions = {s.function.name: queue_lids.get(s.queue_url, "?") for s in stack.sqs_sources}
            memory = {name: f.spec.memory_mb for name, f in stack.functions.items()}
    finally:
        sys.stdout = real_stdout
        counter.uninstall()

    return {
        "leads": n_leads,
        "echo_filter": echo_filter,
        "phases": {
            name: {k: v for k, v in p.items() if k != "result" or isinstance(v, dict)} for name, p in phases.items()
        },
        "rerouted": rerouted,
        "calls": [
            {"phase": p, "caller": who, "call": call, **{k: round(v, 6) for k, v in row.items()}}
            for (p, who, call), row in sorted(counter.calls.items())
        ],
        "invocations": [
            {"phase": p, "function": fn, **{k: round(v, 6) for k, v in row.items()}}
            for (p, fn), row in sorted(counter.invocations.items())
        ],
        "table_sizes": sizes,
        "salesforce_requests": dict(sf_calls),
        "memory_mb": memory,
        "esm_queues": esm_functions,
        "rule_target_queues": sorted(rule_targets),
        "log_bytes_total": sink.bytes,
    }


def _rule_target_queues(stack) -> set[str]:
    t = stack.template
    arns = {t.arn(lid): lid for lid in t.of_type("AWS::SQS::Queue")}
    out = set()
    for _lid, res in t.of_type("AWS::Events::Rule").items():
        for target in t.resolve((res.get("Properties") or {}).get("Targets", [])):
            if target.get("Arn") in arns:
                out.add(arns[target["Arn"]])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-echo-filter", action="store_true",
                        help="relay our writeback's echo (an org whose LeadChangeEvent member has no filter)")
    args = parser.parse_args(argv)
    raw = run(args.leads, args.seed, log=lambda text: print(text, file=sys.stderr, flush=True),
              echo_filter=not args.no_echo_filter)
    text = json.dumps(raw, indent=2, default=str)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
