"""``make bench``: every benchmark in one run → a table, bench/results.json and docs/benchmarks.md.

    .venv/bin/python bench/run_all.py [--leads 2000] [--points 100000] [--runs 5] [--no-doc]

1. tagging (bench/bench_tagging.py, in a subprocess): index cold load, batch throughput against geopandas
   ``sjoin`` and a naive loop, single-lead latency, ZIP accuracy; then the gazetteer (bench/bench_gazetteer.py):
   leads without coordinates (postal code only, city + state only) on every US ZIP, the artifact's size and load;
2. cold start (bench/cold_start.py): each function's handler import in fresh interpreters;
3. pipeline (bench/pipeline.py, in a subprocess): the local stack end to end, AWS calls counted per lead;
4. cost (bench/cost_model.py): counted calls and Lambda GB-seconds x bench/prices.json;
5. territory design (bench/bench_design.py, in a subprocess): 12 territories from the 3,231 counties for 20,000
   leads from real ZIP centroids (GerryChain), then --keep after the history changes;
6. scale (bench/bench_scale.py, in a subprocess; the model in bench/scale_model.py): N concurrent assignment
   containers on one group's pointer and counters, on the local stack's moto server, and the model fitted on them.

``--only cold_start`` runs part 2 alone (handler imports and their baseline, measured in one run) and keeps every
other figure from the existing results.json, with the date and commit of each part. ``--only design`` runs part 5 alone and merges it into the existing results.json (the other parts keep their
figures and their own date; the design part records its own). ``--only scale`` likewise for part 6.

Each part's raw output is kept under ``raw`` in results.json; the top-level keys are the summary the project
quotes (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import cold_start  # noqa: E402
import cost_model  # noqa: E402
import report  # noqa: E402
import scale_model  # noqa: E402

RESULTS = BENCH / "results.json"
DOC = REPO / "docs" / "benchmarks.md"

TARGETS = {  # name: (path in results, comparison, threshold, unit)
    "batch tagging vs geopandas sjoin": ("tagging.batch_vs_sjoin_ratio", ">=", 1.0, "x"),
    "batch tagging vs naive loop": ("tagging.batch_vs_naive_ratio", ">=", 200.0, "x"),
    "single-lead p99": ("tagging.single_p99_us", "<=", 15.0, "us"),
    "counties index load": ("cold_start.index_load_ms_counties", "<=", 20.0, "ms"),
    "slowest handler import": ("cold_start.slowest_handler_import_ms", "<=", 350.0, "ms"),
    "lead-path handler import / baseline (slowest)": ("cold_start.lead_path_max_ratio", "<=", 1.8, "x"),
    "upload handler import / baseline (slowest)": ("cold_start.upload_max_ratio", "<=", 2.5, "x"),
    "DynamoDB round trips per assignment": ("pipeline.dynamodb_round_trips_per_assignment", "<=", 3.0, ""),
    "cost per million leads": ("cost.usd_per_million_leads", "<=", 10.00, "USD"),  # issue 16: the 1,000-lead lifecycle
    "ZIP accuracy": ("accuracy.zip_share_right_pct", ">=", 99.95, "%"),
    "postal code only (every US ZIP)": ("gazetteer.postal_only_share_right_pct", ">=", 99.5, "%"),
    "city + state only (every US ZIP)": ("gazetteer.city_state_share_right_pct", ">=", 99.0, "%"),
    "coordinates with the gazetteer on (every US ZIP)": ("gazetteer.coordinates_share_right_pct", ">=", 99.95, "%"),
    "gazetteer load": ("gazetteer.load_ms", "<=", 20.0, "ms"),
    "proposal: CV of leads per territory (12 from 3,231 counties)": ("design.cv_leads_per_territory", "<=", 0.05, ""),
    "proposal: contiguous territories (of 12)": ("design.contiguous_territories", ">=", 12, ""),
    "proposal: time from lead CSV to block CSV": ("design.seconds", "<=", 60.0, "s"),
    "proposal on ZIP3 areas: CV of leads per territory": ("design.zip3.cv_leads_per_territory", "<=", 0.05, ""),
    "proposal on ZIP3 areas: contiguous territories (of 12)": ("design.zip3.contiguous_territories", ">=", 12, ""),
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True).strip()
        dirty = bool(subprocess.check_output(["git", "status", "--porcelain", "--", "layers", "functions", "template.yaml"],
                                             cwd=REPO, text=True).strip())  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    import boto3
    import moto
    import shapely

    return {
        "cpu_model": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "shapely": shapely.__version__,
        "boto3": boto3.__version__,
        "moto": moto.__version__,
        "git_commit": commit + ("+local changes" if dirty else ""),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------------------------------------ parts


def run_tagging(points: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tagging-") as tmp:
        out = Path(tmp) / "tagging.json"
        subprocess.run(
            [sys.executable, str(BENCH / "bench_tagging.py"), "--json", str(out), "--points", str(points)],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        return json.loads(out.read_text())


def run_gazetteer() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-gazetteer-") as tmp:
        out = Path(tmp) / "gazetteer.json"
        subprocess.run([sys.executable, str(BENCH / "bench_gazetteer.py"), "--json", str(out)], check=True, stdout=sys.stderr)
        return json.loads(out.read_text())


def run_design() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-design-") as tmp:
        out = Path(tmp) / "design.json"
        subprocess.run([sys.executable, str(BENCH / "bench_design.py"), "--json", str(out)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        raw = json.loads(out.read_text())
    raw["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    raw["command"] = "make bench (bench/bench_design.py)"
    return raw


def run_scale(leads: int | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        out = Path(tmp) / "scale.json"
        cmd = [sys.executable, str(BENCH / "bench_scale.py"), "--json", str(out)]
        if leads:
            cmd += ["--leads", str(leads)]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        raw = json.loads(out.read_text())
    raw["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    raw["command"] = "python bench/run_all.py --only scale (bench/bench_scale.py)"
    return raw


def summarise_scale(raw: dict[str, Any], pipeline: dict[str, Any] | None) -> dict[str, Any]:
    """The scale runs with the model fitted on them, extrapolated with the cost model's in-region latencies."""
    lead_wru = 1.0
    for size in ((pipeline or {}).get("table_sizes") or {}).values():
        if size.get("logical_id") == "LeadsTable":
            lead_wru = float(size.get("wru_per_write", 1.0))
    return scale_model.summarise(raw, read_ms=cost_model.latency_ms("dynamodb:BatchGetItem"),
                                 transact_ms=cost_model.latency_ms("dynamodb:TransactWriteItems"),
                                 lead_wru_per_write=lead_wru)  # fmt: skip


def run_pipeline(leads: int, *, echo_filter: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        out = Path(tmp) / "pipeline.json"
        subprocess.run(
            [sys.executable, str(BENCH / "pipeline.py"), "--leads", str(leads), "--json", str(out),
             *([] if echo_filter else ["--no-echo-filter"])],
            check=True, stdout=sys.stderr,
        )  # fmt: skip
        return json.loads(out.read_text())


# ------------------------------------------------------------------------------------------------ summary


def summarise_tagging(t: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    tp = t["throughput"]
    real = tp["in_territory"]  # leads that land in a territory, as real leads do (see the ZIP accuracy)
    lat = t["latency"]["zip_centroids_polygon_hits"]
    tagging = {
        "batch_vs_sjoin_ratio": real["speedup_full_vs_sjoin"],
        "batch_vs_naive_ratio": real["speedup_full_vs_naive"],
        "single_p50_us": lat["p50_us"],
        "single_p99_us": lat["p99_us"],
        "batch_points_per_s": real["tag_many_full_triage"]["points_per_s"],
        "sjoin_points_per_s": real["geopandas_sjoin"]["points_per_s"],
        "naive_points_per_s": real["naive_contains_loop"]["points_per_s"],
        "variants": {
            label: {
                "points": v["points"],
                "share_in_a_polygon": v["share_in_a_polygon"],
                "full_triage_points_per_s": v["tag_many_full_triage"]["points_per_s"],
                "polygon_step_points_per_s": v["tag_many_polygon_step"]["points_per_s"],
                "sjoin_points_per_s": v["geopandas_sjoin"]["points_per_s"],
                "naive_points_per_s": v["naive_contains_loop"]["points_per_s"],
                "full_vs_sjoin": v["speedup_full_vs_sjoin"],
                "polygon_step_vs_sjoin": v["speedup_polygon_step_vs_sjoin"],
                "full_vs_naive": v["speedup_full_vs_naive"],
                "polygon_step_vs_naive": v["speedup_polygon_step_vs_naive"],
                "agreement_with_sjoin": v["geopandas_sjoin"]["agreement_with_ours"],
                "agreement_with_naive": v["naive_contains_loop"]["agreement_with_ours"],
            }
            for label, v in tp.items()
        },
        "latency_us": {k: {kk: vv for kk, vv in v.items()} for k, v in t["latency"].items()},
        "geopandas_version": real.get("geopandas_version"),
    }
    acc = t["accuracy"]["coordinates_postal_country"]
    accuracy = {
        "zip_share_right_pct": acc["share_right_pct"],
        "zips": acc["zips"],
        "located_with_state_territory": acc["located_with_state_territory"],
        "misses": acc["misses"],
        "zero_zero": acc["zero_zero"],
        "located_without_state_territory": acc["located_without_state_territory"],
        "with_declared_state_share_right_pct": t["accuracy"]["with_declared_state"]["share_right_pct"],
    }
    return tagging, accuracy


def summarise_gazetteer(g: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    acc, load = g["accuracy"], g["load"]
    price = prices["prices"]["location_geocode_request"]
    per_request = price["usd"] / price["per"]
    postal = acc["postal_only"]
    unplaced_share = postal["methods"].get("UNTAGGED", 0) / postal["leads"]
    return {
        "postal_only_share_right_pct": postal["share_right_pct"],
        "city_state_share_right_pct": acc["city_state_only"]["share_right_pct"],
        "city_state_distinct_pairs_right_pct": acc["city_state_only"]["distinct_pairs_right_pct"],
        "coordinates_share_right_pct": acc["coordinates_and_postal"]["share_right_pct"],
        "located_zips": postal["located"],
        "zips": postal["leads"],
        "postal_forms": postal.get("forms"),
        "stripped_without_country": acc.get("stripped_without_country"),
        "leads_per_s": {k: round(v["leads_per_s"]) for k, v in acc.items() if "leads_per_s" in v},
        "methods": {k: v["methods"] for k, v in acc.items()},
        "precisions": {k: v.get("precisions") for k, v in acc.items() if "precisions" in v},
        "miss_methods": {k: v.get("miss_methods") for k, v in acc.items() if "miss_methods" in v},
        "load_ms": load["fresh_process_first_load_ms"]["median"],
        "load_ms_in_process_median": load["in_process_ms"]["median"],
        "artifact_bytes": load["artifact_bytes"],
        "artifact_zips": load["zips"],
        "artifact_cities": load["cities"],
        "sources": load["sources"],
        "geocoder_usd_per_1000_leads": {
            "every_lead_geocoded": round(1000 * per_request, 4),
            "only_leads_the_gazetteer_cannot_place_postal_only_mix": round(1000 * per_request * unplaced_share, 4),
            "share_of_postal_only_leads_the_gazetteer_cannot_place": round(unplaced_share, 4),
            "price_per_request_usd": per_request,
        },
    }


def summarise_cold(c: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    fns = c["functions"]
    imports = {fn: round(v["with_bytecode_ms"]["cpu_median"], 1) for fn, v in fns.items()}
    baseline: dict[str, Any] = {}
    if "with_bytecode_ms" in c.get("baseline", {}):  # runs from before the baseline have none
        ratio = {fn: round(r, 2) for fn, r in cold_start.ratios(c).items()}
        wall = {fn: round(r, 2) for fn, r in cold_start.ratios(c, "median").items()}
        baseline = {
            "baseline_import_ms": round(c["baseline"]["with_bytecode_ms"]["cpu_median"], 1),
            "baseline_import_wall_ms": round(c["baseline"]["with_bytecode_ms"]["median"], 1),
            "baseline_import_ms_without_bytecode": round(c["baseline"]["without_bytecode_ms"]["cpu_median"], 1),
            "baseline_code": c["baseline"]["code"],
            "baseline_self_ms_by_package": c["baseline"]["self_ms_by_package"],
            "handler_import_ratio": ratio,
            "baseline_first_client_ms": round(c["baseline"]["first_client_ms"], 1),
            # import + first boto3 client, over the baseline's: fair to a handler that defers boto3 to its first
            # invocation (the clients are made then), which the import ratio alone favours
            "handler_import_and_first_client_ratio": {
                fn: round((v["with_bytecode_ms"]["median"] + v["first_client_ms"])
                          / (c["baseline"]["with_bytecode_ms"]["median"] + c["baseline"]["first_client_ms"]), 2)
                for fn, v in fns.items()
            },  # fmt: skip
            "handler_import_wall_ratio": wall,
            "lead_path_max_ratio": max(v for fn, v in ratio.items() if fn in cold_start.LEAD_PATH),
            "upload_max_ratio": max(v for fn, v in ratio.items() if fn in cold_start.UPLOADS),
        }
    return {
        **baseline,
        "index_load_ms_counties": t["cold_load"]["fresh_process_first_load_ms"]["median"],
        "index_load_ms_counties_in_process_median": t["cold_load"]["in_process_ms"]["median"],
        "index_bytes_counties": t["cold_load"]["index_bytes"],
        "handler_import_ms": imports,
        "slowest_handler_import_ms": max(imports.values()),
        "handler_import_wall_ms": {fn: round(v["with_bytecode_ms"]["median"], 1) for fn, v in fns.items()},
        "handler_import_ms_without_bytecode": {
            fn: round(v["without_bytecode_ms"]["cpu_median"], 1) for fn, v in fns.items()
        },
        "first_boto3_client_ms": {fn: round(v["first_client_ms"], 1) for fn, v in fns.items()},
        "self_ms_by_package": {fn: v["self_ms_by_package"] for fn, v in fns.items()},
        "memory_mb": {fn: v["memory_mb"] for fn, v in fns.items()},
        "method": "Median of {} fresh interpreters per function, process CPU time of `import handler` with valid "
        "bytecode (wall time alongside); the baseline (`import boto3` + a powertools `Logger()`) is measured in the "
        "same run, once after each function's run, and its median over all of them is the ratios' "
        "denominator".format(c["runs"]),
    }


def summarise_pipeline(raw: dict[str, Any]) -> dict[str, Any]:
    leads = raw["leads"]
    phases = cost_model.PER_LEAD_PHASES
    calls: dict[str, float] = defaultdict(float)
    by_function: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    delivered: dict[str, float] = defaultdict(float)
    rule_queues = set(raw["rule_target_queues"])
    for c in raw["calls"]:
        if c["phase"] not in phases or c["caller"] == "driver":
            continue
        n = c["calls"]
        if c["caller"].startswith("esm:") and c["call"] == "sqs:ReceiveMessage":
            n -= c.get("empty", 0)  # the local pollers' empty receives: an artefact of polling the emulator
            if raw["esm_queues"].get(c["caller"][4:]) in rule_queues:
                delivered["sqs:SendMessage (EventBridge rule → queue)"] += c.get("first_receives", 0)
        calls[c["call"]] += n
        by_function[c["caller"]][c["call"]] += n
    for p in phases:
        delivered["events:PutEvents entries (Salesforce → partner bus)"] += raw["phases"].get(p, {}).get("partner_events", 0)
    invocations: dict[str, float] = defaultdict(float)
    for inv in raw["invocations"]:
        if inv["phase"] in phases:
            invocations[inv["function"]] += inv["invocations"]
    create = raw["phases"]["create"]
    assign_ddb = sum(
        c["calls"] for c in raw["calls"]
        if c["phase"] == "create" and c["caller"] == "LeadAssignmentFunction" and c["call"].startswith("dynamodb:")
    )  # fmt: skip
    reroute_ddb = sum(
        c["calls"] for c in raw["calls"]
        if c["phase"] == "reroute" and c["caller"] == "LeadRerouteFunction" and c["call"].startswith("dynamodb:")
    )  # fmt: skip
    rerouted = (raw.get("rerouted") or {}).get("rerouted") or 0
    return {
        "leads": leads,
        "leads_per_s_local": leads / create["seconds"] if create["seconds"] else None,
        "aws_calls_per_lead": {k: round(v / leads, 4) for k, v in sorted(calls.items())},
        "aws_calls_per_lead_total": round(sum(calls.values()) / leads, 3),
        "delivered_by_aws_per_lead": {k: round(v / leads, 4) for k, v in sorted(delivered.items())},
        "dynamodb_round_trips_per_assignment": assign_ddb / create["leads_assigned"],
        "dynamodb_round_trips_per_reroute": (reroute_ddb / rerouted) if rerouted else None,
        "leads_assigned": create["leads_assigned"],
        "rerouted": rerouted,
        "lambda_invocations_per_lead": {k: round(v / leads, 4) for k, v in sorted(invocations.items())},
        "calls_per_lead_by_caller": {
            who: {k: round(v / leads, 4) for k, v in sorted(row.items())} for who, row in sorted(by_function.items())
        },
        "phases": {k: {kk: vv for kk, vv in v.items() if kk != "result"} for k, v in raw["phases"].items()},
        "table_sizes": raw["table_sizes"],
        "salesforce_requests": raw["salesforce_requests"],
    }


def summarise_cost(raw: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    usage = cost_model.usage_per_lead(raw)
    per_lead = usage["per_lead"]
    modelled = cost_model.price(per_lead, prices, "lambda_gb_s_modelled")
    measured = cost_model.price(per_lead, prices, "lambda_gb_s_measured")
    # Modelled Lambda time is the headline: local wall time is mostly waiting for moto, which on this shared
    # machine answers far slower than DynamoDB in-region. The measured figure stays alongside as an upper bound.
    headline = modelled
    idle = cost_model.usage_per_lead(raw, phases=("idle_reroute",))["per_lead"]
    idle_run_usd = cost_model.price({k: v * raw["leads"] for k, v in idle.items()}, prices)["usd_per_million_leads"] / 1e6
    runs_per_month = 30 * 24 * 12  # rate(5 minutes), the template's default
    p = prices["prices"]
    basis = "lambda_gb_s_modelled" if headline is modelled else "lambda_gb_s_measured"
    return {
        "usd_per_million_leads": headline["usd_per_million_leads"],
        "breakdown": headline["breakdown"],
        "by_service": headline["by_service"],
        "lambda_duration_basis": "modelled" if headline is modelled else "measured",
        "usd_per_million_leads_modelled_lambda_time": modelled["usd_per_million_leads"],
        "usd_per_million_leads_measured_lambda_time": measured["usd_per_million_leads"],
        "observability_usd_per_million_leads": headline["observability_usd_per_million_leads"],
        "with_observability_usd_per_million_leads": headline["with_observability_usd_per_million_leads"],
        "units_per_lead": per_lead,
        "units_per_lead_by_function": usage["per_function"],
        "fixed_usd_per_month": {
            "reroute_schedule_idle_runs": idle_run_usd * runs_per_month,
            "salesforce_secret": p["secretsmanager_secret_month"]["usd"],
        },
        "what_if": what_if(raw, prices, basis),
        "prices_as_of": prices["as_of"],
        "prices_region": prices["region"],
        "assumptions": {
            "call_latency_ms": cost_model.ASSUMED_LATENCY_MS,
            "default_call_latency_ms": cost_model.DEFAULT_LATENCY_MS,
            "salesforce_call_ms": cost_model.SALESFORCE_CALL_MS,
            "full_cpu_mb": cost_model.FULL_CPU_MB,
            "platform_log_bytes_per_invocation": cost_model.LAMBDA_PLATFORM_LOG_BYTES,
            "xray_sampled_share": cost_model.XRAY_SAMPLED_SHARE,
            "lifecycle": "per lead: 1 CDC create, 1 writeback echo, 3 in 4 attended by a rep, the rest re-routed "
            "once (written back and echoed again); "
            + ("the echoes are kept in Salesforce by the LeadChangeEvent channel member's filter (not relayed)"
               if raw.get("echo_filter") else "the echoes are relayed (no channel filter) and dropped by intake"),
        },
    }


def what_if(raw: dict[str, Any], prices: dict[str, Any], basis: str) -> list[dict[str, Any]]:
    """The same run priced with one design change at a time (and all of them)."""

    def with_unfiltered_echo(r: dict[str, Any]) -> dict[str, Any]:
        """The echoes the channel filter kept in Salesforce, relayed after all (pipeline's echo_without_filter)."""
        extra = r["phases"].pop("echo_without_filter")
        r["phases"]["echo"]["partner_events"] += extra["partner_events"]
        for row in (*r["calls"], *r["invocations"]):
            if row["phase"] == "echo_without_filter":
                row["phase"] = "echo"
        return r

    def no_echo(r: dict[str, Any]) -> dict[str, Any]:
        r["phases"] = {k: v for k, v in r["phases"].items() if "echo" not in k}
        r["calls"] = [c for c in r["calls"] if "echo" not in c["phase"]]
        r["invocations"] = [i for i in r["invocations"] if "echo" not in i["phase"]]
        return r

    def no_aggregates(r: dict[str, Any]) -> dict[str, Any]:
        fn = "ReportAggregatesFunction"
        r["calls"] = [c for c in r["calls"] if c["caller"] not in {fn, f"esm:{fn}"}]
        r["invocations"] = [i for i in r["invocations"] if i["function"] != fn]
        return r

    def no_transactions(r: dict[str, Any]) -> dict[str, Any]:
        """Every transactional item write billed as a plain write (1x instead of 2x)."""
        for c in r["calls"]:
            for key in [k for k in c if k.startswith("twrite|")]:
                plain = "write|" + key.partition("|")[2]
                c[plain] = c.get(plain, 0) + c.pop(key)
        return r

    def no_app_events(r: dict[str, Any]) -> dict[str, Any]:
        """No custom event per decision: the assignment would queue the writeback itself (the same SQS send)."""
        for c in r["calls"]:
            if c["call"].startswith("events:"):
                c["events"] = 0
        return r

    # The run keeps our writeback's echo in Salesforce (the channel member's filter) unless --no-echo-filter.
    if "echo_without_filter" in raw["phases"]:
        echo_change = ("without the echo filter (our writeback's echo relayed, then recognised and dropped by intake)",
                       [with_unfiltered_echo])
    else:
        echo_change = ("our writeback's echo filtered out on the Salesforce side (CDC channel member filter)", [no_echo])
    changes = [
        echo_change,
        ("without the report aggregates (ReportAggregatesFunction on the LeadsTable stream)", [no_aggregates]),
        ("no transactions: each item of a decision written alone (caps and counters no longer exact under "
         "concurrency; not a change we would make)", [no_transactions]),
        ("no app-bus event per decision (the assignment queues the writeback itself; outside subscribers get "
         "nothing)", [no_app_events]),
        ("both of the last two", [no_transactions, no_app_events]),
        ("both, without the report aggregates", [no_transactions, no_app_events, no_aggregates]),
    ]
    out = []
    for label, steps in changes:
        r = json.loads(json.dumps(raw))
        for step in steps:
            r = step(r)
        per_lead = cost_model.usage_per_lead(r)["per_lead"]
        out.append({"change": label, "usd_per_million_leads": cost_model.price(per_lead, prices, basis)["usd_per_million_leads"]})
    return out


def dig(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for part in path.split("."):
        value = value[part]
    return value


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, (path, op, threshold, unit) in TARGETS.items():
        try:
            value = dig(results, path)
        except KeyError:  # a figure older results do not have (e.g. the baseline import before it existed)
            continue
        met = value >= threshold if op == ">=" else value <= threshold
        out.append({"name": name, "key": path, "target": f"{op} {threshold:g}", "unit": unit, "value": value,
                    "met": met, "ratio_to_target": value / threshold})  # fmt: skip
    return out


def _merge_part(args: argparse.Namespace, results: dict[str, Any], started: float, log: Any) -> int:
    """Write results.json and the doc after one part (``--only design|scale``) was merged into the previous run."""
    results["targets"] = targets(results)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(report.table(results))
    if not args.no_doc:
        args.doc.write_text(report.markdown(results, cost_model.load_prices()))
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=int(os.environ.get("BENCH_LEADS", 1000)))
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per function for the import time")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--only", choices=("cold_start", "design", "gazetteer", "scale"),
        help="measure only this part; every other figure is taken from the results already in --json",
    )  # fmt: skip
    parser.add_argument("--no-echo-filter", action="store_true",
                        help="pipeline: an org without the LeadChangeEvent echo filter (our writeback's echo relayed)")
    parser.add_argument(
        "--reprice", action="store_true",
        help="measure nothing: recompute the summary, costs and doc from the raw figures already in --json "
        "(after a change to prices.json or the cost model)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    started = time.monotonic()
    if args.only == "design":
        results = json.loads(args.json.read_text())
        log("territory design (bench/bench_design.py)")
        results["design"] = run_design()
        return _merge_part(args, results, started, log)
    if args.only == "scale":
        results = json.loads(args.json.read_text())
        log("scale: one group's hot keys under N concurrent containers (bench/bench_scale.py)")
        raw_scale = run_scale()
        results["scale"] = summarise_scale(raw_scale, results.get("pipeline"))
        results.setdefault("raw", {})["scale"] = raw_scale
        return _merge_part(args, results, started, log)
    design = None
    scale_raw = None
    if args.reprice or args.only in ("gazetteer", "cold_start"):
        previous = json.loads(args.json.read_text())
        tagging_raw, cold_raw, pipeline_raw = (previous["raw"][k] for k in ("tagging", "cold_start", "pipeline"))
        gazetteer_raw = previous["raw"].get("gazetteer")
        meta = previous["meta"]
        if args.only == "cold_start":
            info = machine()
            log(f"cold start only (bench/cold_start.py, {args.runs} runs); every other figure from the previous run")
            cold_raw = cold_start.measure(args.runs, log=log)
            meta["cold_start_measured"] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "command": f"python bench/run_all.py --only cold_start --runs {args.runs}",
                "load_average": [info["load_average_at_start"], [round(x, 2) for x in os.getloadavg()]],
                "git_commit": info["git_commit"],
                "python": info["python"],
            }
        if args.only == "gazetteer":
            log("gazetteer only (bench/bench_gazetteer.py); every other figure from the previous run")
            gazetteer_raw = run_gazetteer()
            meta["gazetteer_measured"] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "command": "python bench/run_all.py --only gazetteer",
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "git_commit": machine()["git_commit"],
            }
        if gazetteer_raw is None:
            raise SystemExit("no gazetteer figures in the previous results: run `--only gazetteer` or `make bench`")
    else:
        info = machine()
        log(f"machine: {info['cpu_model']} x {info['nproc']}, Python {info['python']}, load {info['load_average_at_start']}")
        log("1/6 tagging (bench/bench_tagging.py)")
        tagging_raw = run_tagging(args.points)
        gazetteer_raw = run_gazetteer()
        log("2/6 cold start (bench/cold_start.py)")
        cold_raw = cold_start.measure(args.runs, log=log)
        log(f"3/6 pipeline on the local stack, {args.leads} leads (bench/pipeline.py)")
        pipeline_raw = run_pipeline(args.leads, echo_filter=not args.no_echo_filter)
        log("5/6 territory design (bench/bench_design.py)")
        design = run_design()
        log("6/6 scale: one group's hot keys under N concurrent containers (bench/bench_scale.py)")
        scale_raw = run_scale()
        info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        meta = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "command": "make bench",
            "seconds": round(time.monotonic() - started, 1),
            "machine": info,
            "options": {"leads": args.leads, "points": args.points, "runs": args.runs},
        }
    log("4/6 cost (bench/cost_model.py x bench/prices.json)")
    prices = cost_model.load_prices()
    tagging, accuracy = summarise_tagging(tagging_raw)
    results: dict[str, Any] = {
        "tagging": tagging,
        "cold_start": summarise_cold(cold_raw, tagging_raw),
        "pipeline": summarise_pipeline(pipeline_raw),
        "cost": summarise_cost(pipeline_raw, prices),
        "accuracy": accuracy,
        "gazetteer": summarise_gazetteer(gazetteer_raw, prices),
        "meta": meta,
    }
    if design is None and (args.reprice or args.only):
        design = previous.get("design")
    if design is not None:
        results["design"] = design
    if scale_raw is None and (args.reprice or args.only):
        scale_raw = previous["raw"].get("scale")
    if scale_raw is not None:
        results["scale"] = summarise_scale(scale_raw, results["pipeline"])
    results["targets"] = targets(results)
    results["raw"] = {"tagging": tagging_raw, "cold_start": cold_raw, "pipeline": pipeline_raw, "gazetteer": gazetteer_raw}
    if scale_raw is not None:
        results["raw"]["scale"] = scale_raw
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(report.table(results))
    if not args.no_doc:
        args.doc.write_text(report.markdown(results, prices))
        log(f"written {args.json.relative_to(REPO) if args.json.is_relative_to(REPO) else args.json} and {args.doc}")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
