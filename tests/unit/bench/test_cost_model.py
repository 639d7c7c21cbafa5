"""The cost model's arithmetic (bench/cost_model.py, bench/pipeline.py billing rules): no timing, no AWS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.unit.bench.bench_modules import load

BENCH = Path(__file__).resolve().parents[3] / "bench"



cost_model = load("cost_model")
pipeline = load("pipeline")

LEADS_T, ROUTING_T, IDEM_T = "stack-LeadsTable", "stack-RoutingTable", "stack-IdempotencyTable"
SIZES = {
    LEADS_T: {"logical_id": "LeadsTable", "mean_bytes": 2000.0, "wru_per_write": 2.0},
    ROUTING_T: {"logical_id": "RoutingTable", "mean_bytes": 120.0, "wru_per_write": 1.0},
    IDEM_T: {"logical_id": "IdempotencyTable", "mean_bytes": 500.0, "wru_per_write": 1.0},
}
PRICES = {
    "prices": {
        "lambda_gb_second": {"usd": 0.00001, "per": 1},
        "lambda_request": {"usd": 0.20, "per": 1_000_000},
        "dynamodb_wru": {"usd": 0.625, "per": 1_000_000},
        "dynamodb_rru": {"usd": 0.125, "per": 1_000_000},
        "sqs_request": {"usd": 0.40, "per": 1_000_000},
        "eventbridge_custom_event": {"usd": 1.0, "per": 1_000_000},
        "eventbridge_partner_event": {"usd": 1.0, "per": 1_000_000},
        "secretsmanager_api_call": {"usd": 0.05, "per": 10_000},
        "s3_get": {"usd": 0.0004, "per": 1000},
        "s3_put": {"usd": 0.005, "per": 1000},
        "cloudwatch_logs_ingested_gb": {"usd": 0.5, "per": 1},
        "xray_trace_recorded": {"usd": 5.0, "per": 1_000_000},
    }
}


# ------------------------------------------------------------------------------- DynamoDB units


def test_transactions_bill_twice_the_item_size_and_gsi_key_writes_one_more():
    shape = {f"twrite|{LEADS_T}": 1, f"twrite|{ROUTING_T}": 1, f"gsi_write|{LEADS_T}": 1}
    wru, rru = cost_model.dynamodb_units(shape, SIZES)
    assert (wru, rru) == (2 * 2.0 + 2 * 1.0 + 1, 0)


def test_plain_writes_bill_the_measured_item_size():
    wru, _ = cost_model.dynamodb_units({f"write|{LEADS_T}": 3, f"write|{IDEM_T}": 2}, SIZES)
    assert wru == 3 * 2.0 + 2 * 1.0


def test_reads_round_up_to_4kb_halve_when_eventually_consistent_and_bill_the_minimum_when_empty():
    # 10 strongly consistent GetItems of a 2 KB item: 1 RRU each.
    _, strong = cost_model.dynamodb_units({f"sread_calls|{LEADS_T}": 10, f"sread_items|{LEADS_T}": 10}, SIZES)
    assert strong == 10
    # One eventually consistent Query returning 5 x 2 KB = 10 KB: ceil(10/4) = 3 units, halved.
    _, query = cost_model.dynamodb_units({f"read_calls|{LEADS_T}": 1, f"read_items|{LEADS_T}": 5}, SIZES)
    assert query == 1.5
    # A read that finds nothing still bills the minimum.
    _, empty = cost_model.dynamodb_units({f"read_calls|{LEADS_T}": 4, f"read_items|{LEADS_T}": 0}, SIZES)
    assert empty == 2.0
    # Transactional reads bill 2 per 4 KB.
    _, trans = cost_model.dynamodb_units({f"tread_items|{LEADS_T}": 3}, SIZES)
    assert trans == 6


def test_dynamodb_shape_of_calls():
    pipeline._GSI_TABLES.add(LEADS_T)
    transact = pipeline.dynamodb_shape("TransactWriteItems", {"TransactItems": [
        {"Update": {"TableName": LEADS_T, "Key": {}, "UpdateExpression": "SET owner_id = :o, sla_due_at = :d"}},
        {"ConditionCheck": {"TableName": ROUTING_T, "Key": {}, "ConditionExpression": "open_leads < :c"}},
    ]}, {})  # fmt: skip
    assert transact == {f"twrite|{LEADS_T}": 1, f"gsi_write|{LEADS_T}": 1, f"twrite|{ROUTING_T}": 1}
    # A write that changes no index attribute does not touch the GSI.
    put = pipeline.dynamodb_shape("UpdateItem", {"TableName": LEADS_T, "UpdateExpression": "SET note = :n"}, {})
    assert put == {f"write|{LEADS_T}": 1}
    batch = pipeline.dynamodb_shape(
        "BatchGetItem",
        {"RequestItems": {ROUTING_T: {"Keys": [{}, {}, {}], "ConsistentRead": True}}},
        {},
    )
    assert batch == {f"sread_calls|{ROUTING_T}": 3, f"sread_items|{ROUTING_T}": 3}


def test_item_size_follows_dynamodb_rules():
    assert pipeline.item_size({"id": {"S": "abc"}}) == 2 + 3
    assert pipeline.attribute_size({"N": "12345"}) == 4  # ceil(5 digits / 2) + 1
    assert pipeline.attribute_size({"BOOL": True}) == 1
    assert pipeline.attribute_size({"M": {"k": {"S": "vv"}}}) == 3 + (1 + 2 + 1)
    assert pipeline.attribute_size({"L": [{"S": "a"}, {"S": "bc"}]}) == 3 + (1 + 1) + (2 + 1)


# ------------------------------------------------------------------------------- SQS and EventBridge units


def test_sqs_bills_each_64kb_chunk_of_a_request():
    small = pipeline.billing_units("sqs", "SendMessageBatch", {"Entries": [{"MessageBody": "x" * 1000}] * 10}, {})
    assert small["sqs_requests"] == 1 and small["messages"] == 10
    big = pipeline.billing_units("sqs", "SendMessage", {"MessageBody": "x" * (64 * 1024 + 1)}, {})
    assert big["sqs_requests"] == 2
    empty = pipeline.billing_units("sqs", "ReceiveMessage", {}, {"Messages": []})
    assert empty["empty"] == 1 and empty["sqs_requests"] == 1
    events = pipeline.billing_units("events", "PutEvents", {"Entries": [{"Detail": "{}"}] * 3}, {})
    assert events["events"] == 3


# ------------------------------------------------------------------------------- per lead and price


def _raw():
    return {
        "leads": 10,
        "table_sizes": SIZES,
        "memory_mb": {"Fn": 512},
        "rule_target_queues": ["IntakeQueue"],
        "esm_queues": {"Fn": "IntakeQueue"},
        "phases": {"create": {"partner_events": 10, "seconds": 1.0}, "idle_reroute": {"partner_events": 0}},
        "salesforce_requests": {},
        "calls": [
            {"phase": "create", "caller": "Fn", "call": "dynamodb:PutItem", "calls": 10, f"write|{LEADS_T}": 10},
            {"phase": "create", "caller": "Fn", "call": "events:PutEvents", "calls": 2, "events": 10},
            {"phase": "create", "caller": "esm:Fn", "call": "sqs:ReceiveMessage", "calls": 7, "empty": 5,
             "sqs_requests": 7, "first_receives": 10},
            {"phase": "create", "caller": "esm:Fn", "call": "sqs:DeleteMessageBatch", "calls": 2, "sqs_requests": 2},
            {"phase": "create", "caller": "driver", "call": "dynamodb:Scan", "calls": 99},
            {"phase": "setup", "caller": "Fn", "call": "dynamodb:PutItem", "calls": 50, f"write|{LEADS_T}": 50},
        ],  # fmt: skip
        "invocations": [
            {"phase": "create", "function": "Fn", "invocations": 2, "wall_s": 0.5, "billed_ms": 500, "api_s": 0.3,
             "log_bytes": 1000},
            {"phase": "setup", "function": "Fn", "invocations": 1, "wall_s": 9.0, "billed_ms": 9000, "api_s": 0.0},
        ],  # fmt: skip
    }


def test_usage_per_lead_counts_handlers_and_the_event_source_mapping_but_not_the_driver_or_setup():
    u = cost_model.usage_per_lead(_raw())["per_lead"]
    assert u["dynamodb_wru"] == pytest.approx(10 * 2.0 / 10)  # setup's 50 puts and the driver's scan left out
    assert u["eventbridge_custom_events"] == pytest.approx(1.0)
    assert u["eventbridge_partner_events"] == pytest.approx(1.0)
    # 2 non-empty receives + 2 deletes + 10 messages EventBridge delivered to the rule's queue.
    assert u["sqs_requests"] == pytest.approx((2 + 2 + 10) / 10)
    assert u["lambda_requests"] == pytest.approx(0.2)
    assert u["lambda_gb_s_measured"] == pytest.approx(0.5 * 0.5 / 10)
    # Modelled: 0.2 s of compute x 1769/512 CPU share + 10 DynamoDB calls x 6 ms + 2 PutEvents x 15 ms + rounding.
    modelled = (0.2 * 1769 / 512 + (10 * 6 + 2 * 15) / 1000 + 2 * 0.0005) * 0.5 / 10
    assert u["lambda_gb_s_modelled"] == pytest.approx(modelled)
    assert u["cloudwatch_logs_gb"] == pytest.approx((1000 + 2 * cost_model.LAMBDA_PLATFORM_LOG_BYTES) / 1e9 / 10)


def test_modelled_call_latency_counts_each_phase_calls_once():
    raw = _raw()
    raw["invocations"].append({"phase": "echo", "function": "Fn", "invocations": 1, "wall_s": 0.0, "billed_ms": 0,
                               "api_s": 0.0})  # fmt: skip
    one_phase = cost_model.usage_per_lead(_raw())["per_lead"]["lambda_gb_s_modelled"]
    two_phases = cost_model.usage_per_lead(raw)["per_lead"]["lambda_gb_s_modelled"]
    # The echo invocation made no calls: it adds its rounding only, not the create phase's calls again.
    assert two_phases - one_phase == pytest.approx(0.0005 * 0.5 / 10)


def test_price_multiplies_units_by_list_prices_per_million_leads():
    per_lead = {"lambda_requests": 0.5, "lambda_gb_s_modelled": 0.1, "dynamodb_wru": 10, "dynamodb_rru": 4,
                "sqs_requests": 5, "eventbridge_custom_events": 2, "eventbridge_partner_events": 3,
                "secretsmanager_api_calls": 0.01, "s3_get": 0.01, "cloudwatch_logs_gb": 1e-6, "xray_traces": 0.1}  # fmt: skip
    cost = cost_model.price(per_lead, PRICES)
    b = cost["breakdown"]
    assert b["lambda_requests"] == pytest.approx(0.10)
    assert b["lambda_duration"] == pytest.approx(0.1 * 1e6 * 0.00001)
    assert b["dynamodb_writes"] == pytest.approx(6.25)
    assert b["dynamodb_reads"] == pytest.approx(0.5)
    assert b["sqs"] == pytest.approx(2.0)
    assert b["eventbridge_custom"] == pytest.approx(2.0) and b["eventbridge_partner"] == pytest.approx(3.0)
    assert b["secretsmanager"] == pytest.approx(0.05)
    assert b["s3"] == pytest.approx(0.004)
    assert cost["usd_per_million_leads"] == pytest.approx(sum(b.values()))
    assert cost["by_service"]["dynamodb"] == pytest.approx(6.75)
    assert cost["observability_usd_per_million_leads"] == {"cloudwatch_logs": pytest.approx(0.5), "xray": pytest.approx(0.5)}


def test_cpu_share_only_slows_functions_below_a_full_vcpu():
    assert cost_model.cpu_factor(512) == pytest.approx(1769 / 512)
    assert cost_model.cpu_factor(2048) == 1.0


def test_prices_file_names_a_date_and_an_aws_source_for_every_price():
    prices = json.loads((BENCH / "prices.json").read_text())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices["as_of"])
    assert set(PRICES["prices"]) <= set(prices["prices"])
    for name, p in prices["prices"].items():
        assert p["usd"] > 0 and p["per"] >= 1, name
        assert p["source"].startswith("https://aws.amazon.com/"), name
    # The November 2024 on-demand price cut.
    assert prices["prices"]["dynamodb_wru"]["usd"] == 0.625 and prices["prices"]["dynamodb_rru"]["usd"] == 0.125


def test_what_if_prices_the_echoes_the_channel_filter_kept_in_salesforce():
    run_all = load("run_all")
    raw = _raw()
    raw["echo_filter"] = True
    raw["phases"]["echo"] = {"partner_events": 0}  # the filter relayed none of them
    raw["phases"]["echo_without_filter"] = {"partner_events": 10}  # measured apart: what relaying them costs
    raw["invocations"].append({"phase": "echo_without_filter", "function": "Fn", "invocations": 1, "wall_s": 0.1,
                               "billed_ms": 100, "api_s": 0.0})  # fmt: skip
    headline = cost_model.price(cost_model.usage_per_lead(raw)["per_lead"], PRICES)["usd_per_million_leads"]
    rows = {row["change"]: row["usd_per_million_leads"] for row in run_all.what_if(raw, PRICES, "lambda_gb_s_modelled")}
    without = next(usd for change, usd in rows.items() if change.startswith("without the echo filter"))
    # 10 more partner events over 10 leads ($1 per million each) and one more invocation's request and time.
    extra_lambda = cost_model.price({"lambda_requests": 0.1, "lambda_gb_s_modelled": (0.1 * 1769 / 512 + 0.0005) * 0.5 / 10},
                                    PRICES)["usd_per_million_leads"]
    assert without - headline == pytest.approx(1.0 + extra_lambda)
    assert not any(change.startswith("our writeback's echo filtered out") for change in rows)  # it is the default now
