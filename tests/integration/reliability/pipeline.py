"""Driving and inspecting the local stack in the reliability tests (events in, records/counters/DLQs out)."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from importlib import resources
from typing import Any

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead
from territory_router_tools.salesforce.samples import publish_relay_events

ORG_ID = "00Dxx0000001gErEAI"  # the org of tests/data/bad_events, so the corpus' expected reasons apply
SMALL_CAPACITY = 4
RUN_BATCH = Counter()  # lead id prefixes handed out, so tests never share a lead


def load_fakes_module(name: str):
    """A module of tests/fakes (not an importable package under pytest's importlib mode)."""
    import importlib.util
    import sys
    from pathlib import Path

    key = f"tests_fakes_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).resolve().parents[2] / "fakes" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def small_roster() -> dict[str, Any]:
    """The sample roster with every rep at capacity 4, always at work (the tests must not depend on the clock)."""
    doc = json.loads(resources.files("territory_router_tools.data").joinpath("sample_roster.json").read_text())
    for rep in doc["reps"]:
        rep["capacity"] = SMALL_CAPACITY
        rep.pop("working_hours", None)
        rep.pop("out_of_office", None)
    return doc


def make_leads(count: int, tag: str, seed: int = 11) -> list[Lead]:
    """``count`` realistic leads (US ZIP centroids, some without coordinates) with ids unique to ``tag``."""
    from territory_router_tools.demo.leads import make_leads as demo_leads

    assert len(tag) == 3 and tag not in RUN_BATCH, "one three-letter tag per test"
    RUN_BATCH[tag] += 1
    leads, _ = demo_leads(count, seed)
    return [lead.model_copy(update={"lead_id": to_18(f"00Q{tag}{i:09d}")}) for i, lead in enumerate(leads)]


def create_events(leads: list[Lead], seed: int = 5) -> list[dict[str, Any]]:
    """One Event Relay event per lead: CDC CREATE mostly, the Lead_Routing__e platform event for some."""
    from territory_router_tools.salesforce.samples import cdc_create_event, platform_event

    rng = random.Random(seed)
    return [
        platform_event(lead, org_id=ORG_ID) if rng.random() < 0.2 else cdc_create_event(lead, org_id=ORG_ID)
        for lead in leads
    ]


class Pipeline:
    def __init__(self, stack, salesforce) -> None:
        self.stack = stack
        self.salesforce = salesforce
        self.r = stack.resources
        self.bus = self.r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
        self._extra: list[threading.Thread] = []
        self.transient_mismatches: list[dict[str, Any]] = []
        # Salesforce updates that succeeded, per lead (failed calls and refused records are retries, not writes)
        self.applied: Counter[str] = Counter()
        self._applied_lock = threading.Lock()
        handle = salesforce.handle

        def recording_handle(request):
            status, body, headers = handle(request)
            if request.method == "PATCH" and status == 200 and isinstance(body, list):
                with self._applied_lock:
                    self.applied.update(r["id"] for r in body if isinstance(r, dict) and r.get("success"))
            return status, body, headers

        salesforce.handle = recording_handle
        self.containers: Counter[str] = Counter({name: 1 for name in stack.functions})

    # ------------------------------------------------------------------------------------------ input
    def publish(self, events: list[dict[str, Any]]) -> None:
        """Put Event Relay events on the partner bus (EventBridge delivers them to IntakeQueue).

        The events stand for leads created in Salesforce: the test org holds those leads (silently), so the
        writeback updates records that exist, as in a real org."""
        self.salesforce.adopt_relay_events(events)
        publish_relay_events(self.stack.client("events"), self.bus, events)

    def publish_concurrently(self, copies: list[list[dict[str, Any]]]) -> None:
        """Each list of events from its own thread (its own client) at the same time."""
        errors: list[BaseException] = []

        def run(events: list[dict[str, Any]]) -> None:
            try:
                self.publish(events)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(c,)) for c in copies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors

    def send_raw(self, queue_lid: str, bodies: list[str]) -> None:
        """Put raw message bodies on a queue (what EventBridge's rule target would deliver)."""
        for body in bodies:
            with contextlib.suppress(ValueError, AttributeError, TypeError):  # not an event: nothing to hold
                self.salesforce.adopt_relay_events([json.loads(body)])
        sqs = self.stack.client("sqs")
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            resp = sqs.send_message_batch(
                QueueUrl=self.r[queue_lid], Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            )
            assert not resp.get("Failed"), resp["Failed"]

    # ------------------------------------------------------------------------------------------ control
    def scale(self, function_id: str, containers: int) -> None:
        """Run ``containers`` more concurrent instances of an SQS-fed function (each its own warm module)."""
        from territory_router_tools.local.runtime import FunctionRuntime
        from territory_router_tools.local.stack import SqsSource

        base = next(s for s in self.stack.sqs_sources if s.function.name == function_id)
        for _ in range(containers):
            source = SqsSource(FunctionRuntime(base.function.spec, self.stack.region), base.queue_url, base.queue_arn,
                               base.batch_size, base.report_failures)
            thread = threading.Thread(target=self.stack._poll_sqs_forever, args=(source,), daemon=True,
                                      name=f"extra-{function_id}")
            thread.start()
            self._extra.append(thread)
            self.containers[function_id] += 1

    def scale_to(self, function_id: str, containers: int) -> None:
        """At least ``containers`` concurrent instances of ``function_id`` (the package's stack keeps them)."""
        self.scale(function_id, max(0, containers - self.containers[function_id]))

    def activate_roster(self, doc: dict[str, Any], key: str) -> None:
        """Upload a roster under ``roster/<key>.json`` and wait until the upload function has activated it (its reps
        and queues become users and queues of the test org first)."""
        self.salesforce.adopt_roster(doc)
        before = (self.active("ROSTER") or {}).get("version")
        self.stack.client("s3").put_object(Bucket=self.r["TerritoryBucket"], Key=f"roster/{key}.json",
                                           Body=json.dumps(doc).encode())
        deadline = time.monotonic() + 30
        while (self.active("ROSTER") or {}).get("version") == before:
            assert time.monotonic() < deadline, f"roster {key} did not activate"
            time.sleep(0.2)

    def wait(self, timeout_s: float = 60.0, quiet_s: float = 1.5) -> None:
        assert self.stack.wait_idle(timeout_s=timeout_s, quiet_s=quiet_s), self.stack.queue_depths()

    # ------------------------------------------------------------------------------------------ output
    def active(self, pk: str) -> dict[str, Any] | None:
        from territory_router.adapters.dynamo import from_item

        resp = self.stack.client("dynamodb").get_item(
            TableName=self.r["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}}, ConsistentRead=True
        )
        return from_item(resp.get("Item"))

    def scan(self, table_lid: str) -> list[dict[str, Any]]:
        from territory_router.adapters.dynamo import from_item

        ddb = self.stack.client("dynamodb")
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=self.r[table_lid], ConsistentRead=True):
            items.extend(from_item(i) for i in page["Items"])
        return items

    def leads(self, prefix: str | None = None) -> dict[str, dict[str, Any]]:
        """Every lead (hot item) with its PII and decision trail merged from its detail item (adapters/lead_detail.py)."""
        from territory_router.adapters.lead_detail import is_detail_key, merged

        items = self.scan("LeadsTable")
        details = {i["of"]: i for i in items if is_detail_key(i["lead_id"])}
        out = {i["lead_id"]: merged(i, details.get(i["lead_id"])) for i in items if not is_detail_key(i["lead_id"])}
        return {k: v for k, v in out.items() if prefix is None or k.startswith(prefix)}

    def loads(self) -> dict[str, int]:
        """Open-lead counter of every rep that has one (``REP#<id>/LOAD``), zeros left out."""
        return {
            i["pk"][4:]: int(i.get("open_leads", 0))
            for i in self.scan("RoutingTable")
            if i["pk"].startswith("REP#") and i["sk"] == "LOAD" and int(i.get("open_leads", 0))
        }

    def assigned_totals(self) -> dict[str, int]:
        return {
            i["pk"][4:]: int(i.get("assigned_total", 0))
            for i in self.scan("RoutingTable")
            if i["pk"].startswith("REP#") and i["sk"] == "LOAD"
        }

    def true_open_leads(self) -> dict[str, int]:
        """Per rep, the leads it really holds: ASSIGNED to it (or KEPT_OWNER: created with it as owner) and counted
        for it (the ground truth)."""
        return dict(Counter(
            i["counted_rep_id"] for i in self.leads().values()
            if i.get("counted_rep_id") and i.get("status") in ("ASSIGNED", "KEPT_OWNER")
            and i.get("owner_id") == i["counted_rep_id"]
        ))

    def assert_counters_exact(self) -> dict[str, int]:
        """Counters equal the true open leads per rep. Real drift is permanent (nothing repairs a counter), so a
        mismatch is read again after a pause: one that vanishes was a read racing a late write, and is recorded
        in ``transient_mismatches`` (reported in the figures); one that stays fails the test."""
        loads, truth = self.loads(), self.true_open_leads()
        if loads != truth:
            time.sleep(2.0)
            self.wait()
            again, truth_again = self.loads(), self.true_open_leads()
            assert again == truth_again, f"counter drift: counters {again} vs open leads {truth_again}"
            self.transient_mismatches.append({"counters": loads, "open_leads": truth})
            loads = again
        return loads

    def routing_state(self) -> dict[str, Any]:
        """Everything live routing depends on: active territory set and roster, counters, pointers, leads."""
        routing = self.scan("RoutingTable")
        live = {
            (i["pk"], i["sk"]): i for i in routing
            if i["sk"] in ("ACTIVE", "LOAD", "POINTER")
        }
        return {"routing": live, "leads": self.leads()}

    def writebacks(self) -> Counter[str]:
        """How many times Salesforce accepted each lead's owner (successful record updates)."""
        with self._applied_lock:
            return Counter(self.applied)

    def patch_calls(self) -> int:
        return len(self.salesforce.api_requests("PATCH"))

    def writeback_log(self, lead_id: str) -> list[dict[str, Any]]:
        """Every PATCH record sent for one lead (diagnostics)."""
        return [record for req in self.salesforce.api_requests("PATCH") for record in (req.json() or {}).get("records", [])
                if (record.get("Id") or record.get("id")) == lead_id]

    def drain(self, queue_lid: str) -> list[dict[str, Any]]:
        """Receive and delete every message of a queue (DLQs): body and message attributes as plain values."""
        sqs = self.stack.client("sqs")
        url = self.r[queue_lid]
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                      AttributeNames=["All"], VisibilityTimeout=30).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append({
                    "body": m["Body"],
                    "attributes": {k: v.get("StringValue") for k, v in (m.get("MessageAttributes") or {}).items()},
                    "receive_count": int(m["Attributes"].get("ApproximateReceiveCount", 1)),
                })
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ])

    def dlq_depths(self) -> dict[str, int]:
        return {k: v for k, v in self.stack.queue_depths().items() if k.endswith("DLQ")}
