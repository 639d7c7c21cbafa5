"""One routing group's hot keys under N concurrent assignment containers, on the local stack's moto server.

    .venv/bin/python bench/bench_scale.py [--leads 400] [--seconds 8] [--workers 1,2,4,8,16] [--json out.json]

Each case starts N worker processes ("containers": each its own interpreter, boto3 client and roster cache, warm
before the clock starts) that take the next lead from a shared counter (as containers take SQS messages) and assign
the leads of ONE group through the real rule (``assign_lead``) and the
real store (``DynamoLeadStore``) against moto in server mode (``territory_router_tools.local.stack.
MotoServerProcess``, with the local stack's patches: one DynamoDB request at a time, as serializable as DynamoDB's
transactions). The tables are created from template.yaml's definitions. A probe around the store times every
attempt (its read, its write, and the window between them) and records why it lost (``PointerMoved``,
``RepFull``, ``WriteConflict``, ``LeadChanged``). Afterwards the invariants are checked through the store: every
lead assigned exactly once, every counter equal to the leads it counts, caps held, round-robin turns even.

Cases: round robin with N = 1, 2, 4, 8, 16 workers (4 reps, no cap in reach; each case time-boxed: up to --leads
leads or --seconds); round robin with the reps' caps near full at N = 8 (48 leads, caps for 40: RepFull races for
the last slots, the rest to the fallback queue); least loaded with the same caps (no pointer: the counters are the
only shared items). The whole run takes about two minutes on a two-core machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import scale_model  # noqa: E402

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
REGION = "us-east-1"


@dataclass(frozen=True)
class Case:
    name: str
    workers: int
    leads: int
    strategy: str = "round_robin"
    reps: int = 4
    cap: int = 100_000  # out of reach unless the case is about caps
    seconds: float = 8.0  # the workers stop taking leads after this (the in-flight one finishes)
    first_lead: int = 0
    case_no: int = 0

    @property
    def group_id(self) -> str:
        return f"G{self.case_no:02d}"

    def rep_ids(self) -> list[str]:
        from territory_router.assignment.roster import sf_id18

        return [sf_id18(f"005{self.case_no:04d}{i:08d}") for i in range(1, self.reps + 1)]

    def lead_ids(self) -> list[str]:
        return [lead_id(self.first_lead + i) for i in range(self.leads)]


def lead_id(n: int) -> str:
    from territory_router.assignment.roster import sf_id18

    return sf_id18(f"00Q{n:012d}")


def queue_id() -> str:
    from territory_router.assignment.roster import sf_id18

    return sf_id18("00G000000000001")


def roster_doc(case: Case) -> dict[str, Any]:
    reps = [{"rep_id": r, "name": f"Rep {i}", "capacity": case.cap} for i, r in enumerate(case.rep_ids(), 1)]
    group = {"group_id": case.group_id, "territories": [case.group_id], "members": [r["rep_id"] for r in reps],
             "strategy": case.strategy}  # fmt: skip
    return {"default_fallback_owner": queue_id(), "reps": reps, "groups": [group]}


# ------------------------------------------------------------------------------------------------ the probe


class Probe:
    """The store, with every attempt of ``assign_lead`` timed: read (snapshot), write (assign), the window between
    the read's start and the write's answer, and the error that lost the race, if any."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._read_start: float | None = None
        self._read_ms = 0.0
        self.attempts: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def snapshot(self, **kwargs: Any) -> Any:
        start = time.perf_counter()
        if self._read_start is None:
            self._read_start = start
        try:
            return self._store.snapshot(**kwargs)
        finally:
            self._read_ms += (time.perf_counter() - start) * 1000

    def assign(self, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        lost = None
        try:
            self._store.assign(*args, **kwargs)
        except Exception as exc:
            lost = type(exc).__name__
            raise
        finally:
            end = time.perf_counter()
            self.attempts.append({
                "window_ms": (end - (self._read_start or start)) * 1000, "read_ms": self._read_ms,
                "write_ms": (end - start) * 1000, "lost": lost,
            })  # fmt: skip
            self._read_start, self._read_ms = None, 0.0


def _worker(endpoint: str, tables: dict[str, str], case: Case, next_lead: Any, barrier: Any, out: Any) -> None:
    """One container: takes the next lead number from the shared counter (an SQS queue's messages, one at a time)
    until the case's leads are taken or its time is up."""
    import boto3
    from botocore.config import Config

    from territory_router.adapters.lead_store import DynamoLeadStore
    from territory_router.assignment.assign import assign_lead
    from territory_router.domain.leads import Lead, TagMethod, TagResult
    from territory_router.domain.messages import AssignRequest

    config = Config(retries={"mode": "standard", "max_attempts": 3})
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint, config=config)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint, config=config)
    store = DynamoLeadStore.on_tables(ddb, tables["LeadsTable"], tables["RoutingTable"], s3_client=s3,
                                      bucket=tables["TerritoryBucket"])  # fmt: skip
    store.active_roster(refresh=True)  # a warm container: roster cached, connections open
    store.loads(case.rep_ids())
    probe = Probe(store)
    tag = TagResult(territory_id=case.group_id, method=TagMethod.POLYGON)
    records = []
    barrier.wait()
    started = time.perf_counter()
    deadline = started + case.seconds
    while time.perf_counter() < deadline:
        with next_lead.get_lock():
            if next_lead.value >= case.first_lead + case.leads:
                break
            n = next_lead.value
            next_lead.value += 1
        lead = Lead(lead_id=lead_id(n), last_name=f"Lead {n}", company="Acme")
        probe.attempts = []
        t = time.perf_counter()
        outcome = assign_lead(AssignRequest(lead=lead, tag=tag), store=probe, now=NOW, default_sla_minutes=60)
        records.append({
            "lead_id": lead.lead_id, "ms": (time.perf_counter() - t) * 1000, "attempts": outcome.attempts,
            "owner_id": outcome.detail.owner_id if outcome.detail else None, "duplicate": outcome.duplicate,
            "tries": probe.attempts,
        })  # fmt: skip
    out.put({"started": started, "ended": time.perf_counter(), "records": records})


# ------------------------------------------------------------------------------------------------ one case


def run_case(endpoint: str, tables: dict[str, str], case: Case, store: Any) -> dict[str, Any]:
    from territory_router.assignment.roster import parse_roster

    result = parse_roster("roster.json", json.dumps(roster_doc(case)).encode())
    if not result.valid:
        raise RuntimeError(result.errors)
    store.rosters.activate_roster(result.roster, now=NOW)
    ctx = mp.get_context("fork")
    barrier, out, next_lead = ctx.Barrier(case.workers), ctx.Queue(), ctx.Value("i", case.first_lead)
    procs = [ctx.Process(target=_worker, args=(endpoint, tables, case, next_lead, barrier, out))
             for _ in range(case.workers)]  # fmt: skip
    for p in procs:
        p.start()
    parts = [out.get(timeout=case.seconds + 300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        if p.exitcode != 0:
            raise RuntimeError(f"{case.name}: a worker failed (exit {p.exitcode})")
    return summarise(case, parts, check_invariants(case, store, parts))


def summarise(case: Case, parts: list[dict[str, Any]], invariants: dict[str, Any]) -> dict[str, Any]:
    records = [r for part in parts for r in part["records"]]
    tries = [t for r in records for t in r["tries"]]
    seconds = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    lost = Counter(t["lost"] for t in tries if t["lost"])
    rate = len(records) / seconds
    window_s = sum(t["window_ms"] for t in tries) / len(tries) / 1000
    pointer_lost = lost.get("PointerMoved", 0) + lost.get("WriteConflict", 0)
    ms = [r["ms"] for r in records]
    return {
        "case": case.name, "strategy": case.strategy, "workers": case.workers, "leads": len(records),
        "reps": case.reps, "cap": case.cap if case.cap < 100_000 else None,
        "seconds": round(seconds, 3),
        "assignments_per_s": round(rate, 1),
        "attempts": len(tries),
        "lost_by_reason": dict(sorted(lost.items())),
        "conflicts_per_assignment": round(sum(lost.values()) / len(records), 4),
        "pointer_conflict_share_of_attempts": round(pointer_lost / len(tries), 4),
        "retries": sum(r["attempts"] - 1 for r in records),
        "max_attempts_seen": max(r["attempts"] for r in records),
        "latency_ms": {"p50": round(scale_model.percentile(ms, 50), 1), "p99": round(scale_model.percentile(ms, 99), 1),
                       "max": round(max(ms), 1)},  # fmt: skip
        "attempt_ms": {
            "window_mean": round(window_s * 1000, 2),
            "read_mean": round(sum(t["read_ms"] for t in tries) / len(tries), 2),
            "write_mean": round(sum(t["write_ms"] for t in tries) / len(tries), 2),
        },
        "contention": round(scale_model.contention(rate, case.workers, window_s), 4),
        "invariants": invariants,
    }


def check_invariants(case: Case, store: Any, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Through the store's port: the leads, the counters, the pointer. Raises when one does not hold."""
    records = [r for part in parts for r in part["records"]]
    problems: list[str] = []
    by_lead = Counter(r["lead_id"] for r in records)
    taken = case.lead_ids()[: len(records)]
    if sorted(by_lead) != sorted(taken) or max(by_lead.values()) != 1:
        problems.append("a lead was processed twice or not at all")
    if any(r["duplicate"] for r in records):
        problems.append("a first delivery was reported as a duplicate")
    stored: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for lid in taken:
        seen = store.snapshot(lead_id=lid, rep_ids=(), group_ids=(), include_active=False).lead
        if seen is None or seen.owner_id is None or seen.status is None or seen.status.value != "ASSIGNED":
            problems.append(f"{lid} is not assigned")
            continue
        stored[seen.owner_id] += 1
        if seen.counted_rep_id:
            counted[seen.counted_rep_id] += 1
    announced = Counter(r["owner_id"] for r in records)
    if announced != stored:
        problems.append(f"owners announced {dict(announced)} differ from the owners stored {dict(stored)}")
    reps = case.rep_ids()
    loads = store.loads(reps)
    open_leads = {r: loads[r].open_leads if r in loads else 0 for r in reps}
    totals = {r: loads[r].assigned_total if r in loads else 0 for r in reps}
    if open_leads != {r: counted[r] for r in reps} or totals != open_leads:
        problems.append(f"counters {open_leads} / totals {totals} differ from the leads they count {dict(counted)}")
    if any(v > case.cap for v in open_leads.values()):
        problems.append(f"a cap was exceeded: {open_leads}")
    to_reps = sum(stored[r] for r in reps)
    expected_to_reps = min(len(records), case.cap * case.reps)
    if to_reps != expected_to_reps:
        problems.append(f"{to_reps} leads went to reps, {expected_to_reps} expected (the rest to the queue)")
    spread = max(open_leads.values()) - min(open_leads.values())
    if case.strategy == "round_robin":
        pointer = store.snapshot(lead_id=None, rep_ids=(), group_ids=[case.group_id], include_active=False)
        seq = pointer.pointers[case.group_id].seq if case.group_id in pointer.pointers else 0
        if seq != to_reps:
            problems.append(f"the pointer took {seq} turns for {to_reps} leads to reps")
        if spread > 1:
            problems.append(f"round robin uneven: {open_leads}")
    if problems:
        raise AssertionError(f"{case.name}: " + "; ".join(problems))
    return {"held": True, "leads": len(records), "leads_per_rep": sorted(open_leads.values()), "to_queue": stored[queue_id()],
            "spread": spread}  # fmt: skip


# ------------------------------------------------------------------------------------------------ setup


def create_tables(endpoint: str) -> dict[str, str]:
    """The two routing tables and the bucket, as template.yaml declares them (the local stack's physical names)."""
    import boto3

    from territory_router_tools.local.stack import LOCAL_PARAMETERS
    from territory_router_tools.local.template import Template, find_template, load_yaml

    path = find_template()
    declared = set((load_yaml(path).get("Parameters") or {}).keys())
    t = Template.load(path, region=REGION, stack_name="territory-router-scale",
                      parameter_overrides={k: v for k, v in LOCAL_PARAMETERS.items() if k in declared})
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    names: dict[str, str] = {}
    for lid in ("LeadsTable", "RoutingTable"):
        props = t.resolve(t.of_type("AWS::DynamoDB::Table")[lid].get("Properties") or {})
        kwargs: dict[str, Any] = {"TableName": t.physical[lid], "AttributeDefinitions": props["AttributeDefinitions"],
                                  "KeySchema": props["KeySchema"], "BillingMode": "PAY_PER_REQUEST"}  # fmt: skip
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [{k: v for k, v in g.items() if k in {"IndexName", "KeySchema", "Projection"}}
                                                for g in props["GlobalSecondaryIndexes"]]  # fmt: skip
        ddb.create_table(**kwargs)
        names[lid] = t.physical[lid]
    names["TerritoryBucket"] = t.physical["TerritoryBucket"]
    boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket=names["TerritoryBucket"])
    return names


def cases(leads: int, workers: list[int], seconds: float) -> list[Case]:
    """Round robin at each N (time-boxed: up to ``leads`` leads or ``seconds``), then the two near-full cases at the
    largest N up to 8 (a fixed number of leads: 4 reps whose caps take 5/6 of them, the last slots raced for)."""
    out = [Case(f"round robin, {n} container{'s' if n > 1 else ''}", n, leads, seconds=seconds) for n in workers]
    busy = max(n for n in workers if n <= 8)
    few = 48
    cap = (few * 5 // 6) // 4
    out.append(Case(f"round robin, caps near full, {busy} containers", busy, few, cap=cap, seconds=4 * seconds))
    out.append(Case(f"least loaded, caps near full, {busy} containers", busy, few, strategy="least_loaded", cap=cap,
                    seconds=4 * seconds))  # fmt: skip
    return [Case(c.name, c.workers, c.leads, c.strategy, c.reps, c.cap, c.seconds, first_lead=10_000 * (i + 1),
                 case_no=i + 1) for i, c in enumerate(out)]  # fmt: skip


def measure(leads: int, workers: list[int], seconds: float, log: Any = print) -> dict[str, Any]:
    from territory_router.adapters.lead_store import DynamoLeadStore
    from territory_router.assignment.retry import MAX_ATTEMPTS
    from territory_router_tools.local.stack import MotoServerProcess

    for key, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"), ("AWS_DEFAULT_REGION", REGION)):
        os.environ.setdefault(key, value)
    started = time.monotonic()
    load_start = [round(x, 2) for x in os.getloadavg()]
    server = MotoServerProcess()
    endpoint = server.start()
    try:
        import boto3

        tables = create_tables(endpoint)
        store = DynamoLeadStore.on_tables(boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint),
                                          tables["LeadsTable"], tables["RoutingTable"],
                                          s3_client=boto3.client("s3", region_name=REGION, endpoint_url=endpoint),
                                          bucket=tables["TerritoryBucket"])  # fmt: skip
        runs = []
        for case in cases(leads, workers, seconds):
            t = time.monotonic()
            runs.append(run_case(endpoint, tables, case, store))
            r = runs[-1]
            log(f"  {case.name}: {r['assignments_per_s']:.0f}/s, {r['conflicts_per_assignment']:.2f} conflicts per "
                f"assignment {r['lost_by_reason']}, p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} ms "
                f"({time.monotonic() - t:.1f} s)")  # fmt: skip
    finally:
        server.stop()
    return {
        "runs": runs,
        "max_attempts": MAX_ATTEMPTS,
        "options": {"leads": leads, "workers": workers, "seconds": seconds},
        "seconds": round(time.monotonic() - started, 1),
        "load_average": [load_start, [round(x, 2) for x in os.getloadavg()]],
        "nproc": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=400, help="at most this many leads per round-robin case")
    parser.add_argument("--seconds", type=float, default=8.0, help="time box of each round-robin case")
    parser.add_argument("--workers", default="1,2,4,8,16", help="containers per round-robin case")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    raw = measure(args.leads, [int(x) for x in args.workers.split(",")], args.seconds, log=lambda s: print(s, file=sys.stderr))
    text = json.dumps(raw, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
