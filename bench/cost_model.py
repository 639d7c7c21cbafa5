"""Cost per million leads: counted calls and Lambda time (bench/pipeline.py) x list prices (bench/prices.json).

Pure arithmetic, no AWS: ``usage_per_lead`` turns the raw counts of a pipeline run into billed units per lead,
``price`` multiplies units by prices. Billing rules applied (us-east-1, on-demand):

- Lambda: one request per invocation; duration rounded up to the millisecond x the function's MemorySize.
  Two duration figures: *measured* (handler wall time on this machine against moto) and *modelled* (the
  handler's own compute time, scaled to the CPU share Lambda gives the function's memory size, plus an assumed
  in-region latency for each AWS call it made; see ``ASSUMED_LATENCY_MS``).
- DynamoDB on-demand: a write bills ceil(item KB) WRU (the larger of the item before and after; we use the
  measured size of the table's items at the end of the run), doubled inside TransactWriteItems (ConditionCheck
  included); a write that sets or moves a sparse GSI key bills 1 more WRU for the index; reads bill
  ceil(KB / 4) RRU, halved when eventually consistent, doubled in transactions; a read that finds nothing still
  bills the minimum. Failed conditional writes bill like successful ones (the counter counts every call).
- SQS: every request, each 64 KB chunk of its payload a request: our sends, the event source mapping's
  non-empty receives and deletes, and EventBridge's delivery of each rule-matched event to a queue. Empty
  receives of the local pollers are an artefact of polling an emulator and are left out (Lambda long-polls; its
  idle polling is a fixed cost, not per lead).
- EventBridge: custom events we publish (PutEvents entries) and partner events Salesforce publishes to the
  partner bus; rule deliveries to targets in the same account are not billed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parent / "prices.json"

# Phases of the pipeline run that make up one lead's life; setup (uploads) and the idle schedule are apart.
PER_LEAD_PHASES = ("create", "echo", "attend", "reroute", "reroute_echo")

# Assumed in-region latency of one call made from Lambda (ms), for the modelled duration.
ASSUMED_LATENCY_MS = {
    "dynamodb": 6.0,
    "dynamodb:TransactWriteItems": 12.0,
    "dynamodb:Query": 8.0,
    "sqs": 10.0,
    "events": 15.0,
    "s3": 25.0,
    "secretsmanager": 20.0,
}
DEFAULT_LATENCY_MS = 10.0
SALESFORCE_CALL_MS = 300.0  # one sObject Collections PATCH of up to 200 records, or a token request
FULL_CPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; below, a proportional share
LAMBDA_PLATFORM_LOG_BYTES = 350  # START, END and REPORT lines per invocation
XRAY_SAMPLED_SHARE = 0.05  # default sampling rule beyond the 1 request/s reservoir


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return json.loads(path.read_text())


def latency_ms(call: str) -> float:
    return ASSUMED_LATENCY_MS.get(call, ASSUMED_LATENCY_MS.get(call.split(":", 1)[0], DEFAULT_LATENCY_MS))


def cpu_factor(memory_mb: int) -> float:
    """How much longer pure compute takes at ``memory_mb`` than on one full core."""
    return max(1.0, FULL_CPU_MB / memory_mb)


def dynamodb_units(shape: dict[str, float], sizes: dict[str, dict[str, float]]) -> tuple[float, float]:
    """(WRU, RRU) for the per-table counters of ``pipeline.dynamodb_shape`` given measured item sizes."""
    wru = rru = 0.0
    calls: dict[tuple[str, str], float] = defaultdict(float)
    items: dict[tuple[str, str], float] = defaultdict(float)
    for key, n in shape.items():
        kind, _, table = key.partition("|")
        base = table.split("#", 1)[0]
        size = sizes.get(base, {})
        per_write = size.get("wru_per_write", 1.0)
        if kind == "write":
            wru += n * per_write
        elif kind == "twrite":
            wru += 2 * n * per_write
        elif kind == "gsi_write":
            wru += n
        elif kind == "tread_items":
            rru += 2 * n * math.ceil(size.get("mean_bytes", 1.0) / 4096)
        elif kind.endswith("_calls"):
            calls[(kind[: -len("_calls")], table)] += n
        elif kind.endswith("_items"):
            items[(kind[: -len("_items")], table)] += n
    for (kind, table), n_calls in calls.items():
        if not n_calls:
            continue
        base = table.split("#", 1)[0]
        item_bytes = 200.0 if "#" in table else sizes.get(base, {}).get("mean_bytes", 1.0)  # index: projected
        per_call_kb = items.get((kind, table), 0.0) / n_calls * item_bytes
        units_per_call = max(1, math.ceil(per_call_kb / 4096))
        rru += n_calls * units_per_call * (1.0 if kind == "sread" else 0.5)
    return wru, rru


def usage_per_lead(raw: dict[str, Any], phases: tuple[str, ...] = PER_LEAD_PHASES) -> dict[str, Any]:
    """Billed units per lead from a pipeline run (``pipeline.run``), measured and modelled."""
    leads = raw["leads"]
    sizes = raw["table_sizes"]
    memory = raw["memory_mb"]
    rule_queues = set(raw["rule_target_queues"])
    esm_queue = raw["esm_queues"]
    calls = [c for c in raw["calls"] if c["phase"] in phases and c["caller"] != "driver"]
    invocations = [i for i in raw["invocations"] if i["phase"] in phases]

    u: dict[str, float] = defaultdict(float)
    shape: dict[str, float] = defaultdict(float)
    shape_by_function: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    calls_by_function: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in calls:
        service, _, _op = c["call"].partition(":")
        who = c["caller"]
        if who.startswith("esm:"):
            if service != "sqs":
                # DynamoDB stream reads by a Lambda event source mapping are free (DynamoDB pricing: "GetRecords API
                # calls invoked by AWS Lambda as part of DynamoDB triggers are free"; docs/reliability.md).
                u["stream_reads_free"] += c["calls"]
                continue
            if c["call"] == "sqs:ReceiveMessage":
                non_empty = c["calls"] - c.get("empty", 0)
                u["sqs_requests"] += non_empty  # one chunk each: our message bodies are far below 64 KB
                if esm_queue.get(who[4:]) in rule_queues:
                    u["sqs_requests"] += c.get("first_receives", 0)  # EventBridge's SendMessage to the queue
            else:
                u["sqs_requests"] += c.get("sqs_requests", c["calls"])
            continue
        calls_by_function[(c["phase"], who)][c["call"]] += c["calls"]
        if service == "sqs":
            u["sqs_requests"] += c.get("sqs_requests", c["calls"])
        elif service == "events":
            u["eventbridge_custom_events"] += c.get("events", 0)
        elif service == "secretsmanager":
            u["secretsmanager_api_calls"] += c["calls"]
        elif service == "s3":
            u["s3_put" if c["call"].split(":")[1].startswith(("Put", "Copy", "List")) else "s3_get"] += c["calls"]
        elif service == "dynamodb":
            for key, value in c.items():
                if "|" in key:
                    shape[key] += value
                    shape_by_function[who][key] += value
    u["dynamodb_wru"], u["dynamodb_rru"] = dynamodb_units(shape, sizes)
    u["eventbridge_partner_events"] = sum(raw["phases"][p]["partner_events"] for p in phases if p in raw["phases"])

    salesforce_calls = sum(raw.get("salesforce_requests", {}).values())
    per_function: dict[str, dict[str, float]] = {}
    for inv in invocations:
        fn = inv["function"]
        mem_gb = memory[fn] / 1024
        compute_s = max(0.0, inv["wall_s"] - inv["api_s"])
        io_s = sum(n * latency_ms(call) for call, n in calls_by_function[(inv["phase"], fn)].items()) / 1000
        modelled_s = compute_s * cpu_factor(memory[fn]) + io_s
        row = per_function.setdefault(fn, defaultdict(float))
        row["invocations"] += inv["invocations"]
        row["measured_gb_s"] += inv["billed_ms"] / 1000 * mem_gb
        row["modelled_gb_s"] += (modelled_s + 0.0005 * inv["invocations"]) * mem_gb  # + half a ms of rounding
        row["log_bytes"] += inv.get("log_bytes", 0) + LAMBDA_PLATFORM_LOG_BYTES * inv["invocations"]
    if "SalesforceWritebackFunction" in per_function:  # the Salesforce calls are not split by phase
        writeback = per_function["SalesforceWritebackFunction"]
        writeback["modelled_gb_s"] += salesforce_calls * SALESFORCE_CALL_MS / 1000 * memory["SalesforceWritebackFunction"] / 1024
    for fn, fn_shape in shape_by_function.items():
        row = per_function.setdefault(fn, defaultdict(float))
        row["dynamodb_wru"], row["dynamodb_rru"] = dynamodb_units(fn_shape, sizes)
    u["lambda_requests"] = sum(r["invocations"] for r in per_function.values())
    u["lambda_gb_s_measured"] = sum(r["measured_gb_s"] for r in per_function.values())
    u["lambda_gb_s_modelled"] = sum(r["modelled_gb_s"] for r in per_function.values())
    u["cloudwatch_logs_gb"] = sum(r["log_bytes"] for r in per_function.values()) / 1e9
    u["xray_traces"] = u["lambda_requests"] * XRAY_SAMPLED_SHARE
    per_lead = {k: v / leads for k, v in sorted(u.items())}
    return {
        "per_lead": per_lead,
        "per_function": {
            fn: {k: v / leads for k, v in row.items()} | {"memory_mb": memory.get(fn)}
            for fn, row in sorted(per_function.items())
        },
    }


def price(per_lead: dict[str, float], prices: dict[str, Any], gb_s_key: str = "lambda_gb_s_modelled") -> dict[str, Any]:
    """USD per million leads, by service. The target's scope is Lambda, DynamoDB, SQS, EventBridge (and the
    Secrets Manager and S3 calls the functions make); logs and traces are priced apart."""
    p = prices["prices"]

    def usd(units: float, key: str) -> float:
        return units * 1e6 / p[key]["per"] * p[key]["usd"]

    breakdown = {
        "lambda_requests": usd(per_lead.get("lambda_requests", 0), "lambda_request"),
        "lambda_duration": usd(per_lead.get(gb_s_key, 0), "lambda_gb_second"),
        "dynamodb_writes": usd(per_lead.get("dynamodb_wru", 0), "dynamodb_wru"),
        "dynamodb_reads": usd(per_lead.get("dynamodb_rru", 0), "dynamodb_rru"),
        "sqs": usd(per_lead.get("sqs_requests", 0), "sqs_request"),
        "eventbridge_custom": usd(per_lead.get("eventbridge_custom_events", 0), "eventbridge_custom_event"),
        "eventbridge_partner": usd(per_lead.get("eventbridge_partner_events", 0), "eventbridge_partner_event"),
        "secretsmanager": usd(per_lead.get("secretsmanager_api_calls", 0), "secretsmanager_api_call"),
        "s3": usd(per_lead.get("s3_get", 0), "s3_get") + usd(per_lead.get("s3_put", 0), "s3_put"),
    }
    observability = {
        "cloudwatch_logs": usd(per_lead.get("cloudwatch_logs_gb", 0), "cloudwatch_logs_ingested_gb"),
        "xray": usd(per_lead.get("xray_traces", 0), "xray_trace_recorded"),
    }
    by_service = defaultdict(float)
    for key, value in breakdown.items():
        by_service[key.split("_", 1)[0]] += value
    return {
        "usd_per_million_leads": sum(breakdown.values()),
        "breakdown": breakdown,
        "by_service": dict(by_service),
        "observability_usd_per_million_leads": observability,
        "with_observability_usd_per_million_leads": sum(breakdown.values()) + sum(observability.values()),
    }
