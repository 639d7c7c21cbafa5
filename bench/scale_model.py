"""The hot keys of one routing group on paper: pure functions, no AWS, no clock (tests/unit/bench/test_scale_model.py).

Every assignment reads the routing state (one BatchGetItem) and then writes ONE TransactWriteItems: the lead, the
chosen rep's ``REP#<id>/LOAD`` counter (``ADD``, conditional on ``open_leads < capacity``) and, for the round-robin
strategies, the group's ``GROUP#<id>/POINTER`` (conditional on the ``seq`` that was read). Two hot items follow:

- **The group's pointer** is optimistic concurrency on one item. An attempt fails (``PointerMoved``) when another
  assignment of the same group committed between this attempt's read and its write, its *window* ``W``. With
  commits arriving at random at a rate ``r`` from the others, the chance that at least one lands in the window is
  ``p = 1 - exp(-k r W)``: a Poisson model whose factor ``k`` (1 in the ideal case) is fitted on the local runs.
  In an open system (Lambda scales the containers with the load) the others' commits are the group's own
  assignment rate ``λ``, so ``p = 1 - exp(-k λ W)``, conflicts per assignment ``p / (1 - p) = exp(k λ W) - 1``
  (the failed attempts before the one that succeeds, a geometric count), attempts ``1 / (1 - p)``.
- **A rep's counter** has no version condition: it conflicts only (a) at capacity (``RepFull``, the last free slot
  raced for; measured locally) and (b) on DynamoDB when two transactions touch the item while both are in flight
  (``TransactionConflict``), which moto never produces (it runs one request at a time). For (b) the window is the
  transaction's own time in flight ``t_tx``, at the rate of the transactions that touch that rep.

The partition ceiling (1,000 write units per second per partition) bounds each item too: a transactional write of
an item under 1 KB costs 2 WRU, failed attempts included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PARTITION_WCU_PER_S = 1000.0  # per partition, both capacity modes (DynamoDB developer guide, see the report)
TRANSACT_WRU_PER_ITEM_KB = 2.0  # a transactional write bills two writes per KB of item


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def contention(commit_rate_per_s: float, workers: int, window_s: float) -> float:
    """Expected commits by the OTHER workers inside one attempt's window, in a closed run of ``workers`` workers
    committing ``commit_rate_per_s`` in all (each worker commits 1/workers of them)."""
    if workers < 1:
        raise ValueError("at least one worker")
    return commit_rate_per_s * (workers - 1) / workers * window_s


def conflict_probability(others_rate_per_s: float, window_s: float, k: float = 1.0) -> float:
    """Probability that an attempt loses its race: another commit lands inside its window."""
    return 1.0 - math.exp(-k * others_rate_per_s * window_s)


def fit_k(points: Iterable[tuple[float, float]]) -> float:
    """Least squares through the origin of ``-ln(1 - p) = k c`` over (contention c, observed conflict share p)."""
    sxy = sxx = 0.0
    for c, p in points:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"conflict share {p} outside [0, 1)")
        y = -math.log(1.0 - p)
        sxy += c * y
        sxx += c * c
    if sxx == 0.0:
        raise ValueError("no run with contention: run more than one worker")
    return sxy / sxx


def conflicts_per_assignment(p: float) -> float:
    """Failed attempts before the successful one, on average (geometric)."""
    if not 0.0 <= p < 1.0:
        raise ValueError("p must be in [0, 1)")
    return p / (1.0 - p)


def rate_at_conflicts(conflicts: float, window_s: float, k: float = 1.0) -> float:
    """The group assignment rate (per second) at which each assignment meets ``conflicts`` failed attempts on
    average: solves ``exp(k λ W) - 1 = conflicts``."""
    if conflicts <= 0 or window_s <= 0 or k <= 0:
        raise ValueError("conflicts, window and k must be positive")
    return math.log1p(conflicts) / (k * window_s)


def mean_backoff_s(p: float, max_attempts: int, *, base_s: float = 0.005, cap_s: float = 0.25) -> float:
    """Expected sleep of the retry loop (assignment/retry.py: uniform in [0, min(cap, base 2^a)) after failed attempt
    ``a``) when each attempt fails with probability ``p``."""
    return sum(p**a * min(cap_s, base_s * 2**a) / 2.0 for a in range(1, max_attempts))


@dataclass(frozen=True)
class GroupAtRate:
    """What one group's pointer looks like at an offered assignment rate, in region."""

    rate_per_s: float
    conflict_share: float  # of attempts
    conflicts_per_assignment: float
    attempts_per_assignment: float
    latency_ms: float  # windows of every attempt + the backoff between them
    give_up_share: float  # assignments that exhaust MAX_ATTEMPTS (SQS redelivers them)
    pointer_wcu_per_s: float  # write units the pointer's partition takes, failed attempts included


def group_at_rate(rate_per_s: float, window_s: float, k: float, max_attempts: int, *,
                  pointer_kb: float = 1.0) -> GroupAtRate:
    p = conflict_probability(rate_per_s, window_s, k)
    attempts = 1.0 / (1.0 - p)
    latency = attempts * window_s + mean_backoff_s(p, max_attempts)
    wcu = rate_per_s * attempts * TRANSACT_WRU_PER_ITEM_KB * math.ceil(pointer_kb)
    return GroupAtRate(rate_per_s, p, conflicts_per_assignment(p), attempts, latency * 1000.0,
                       p**max_attempts, wcu)  # fmt: skip


def partition_ceiling_per_s(attempts_per_assignment: float, item_kb: float = 1.0) -> float:
    """Assignments per second one item's partition takes before throttling (every attempt writes the item)."""
    return PARTITION_WCU_PER_S / (TRANSACT_WRU_PER_ITEM_KB * math.ceil(item_kb) * attempts_per_assignment)


def counter_conflict_probability(group_rate_per_s: float, share_to_rep: float, in_flight_s: float) -> float:
    """DynamoDB ``TransactionConflict`` on one rep's counter: another transaction touching the same counter is in
    flight when this one arrives (the later one is cancelled; k = 1: not measurable on moto)."""
    return conflict_probability(group_rate_per_s * share_to_rep, in_flight_s)


def sharded_pointer_rate(rate_at_one_pointer: float, shards: int) -> float:
    """K pointer items, each owning a slice of the rotation, chosen by lead hash: each takes 1/K of the load."""
    if shards < 1:
        raise ValueError("at least one shard")
    return rate_at_one_pointer * shards


def sharded_max_imbalance(shards: int, reps: int) -> int:
    """Worst-case spread (max - min leads per rep) of K independent rotations over the same reps: each rotation is
    exact to within one lead, so K of them can stack up to K leads of difference."""
    if shards < 1 or reps < 1:
        raise ValueError("shards and reps must be positive")
    return shards if reps > 1 else 0


# ------------------------------------------------------------------------------------------------ the summary

# In-region latencies (assumptions, the same the cost model prices Lambda time with: bench/cost_model.py).
REGION_RATES_PER_S = (5, 10, 20, 30, 40, 50, 75, 100, 150)
SHARDS = (1, 2, 4, 8, 16)


def region_window_ms(read_ms: float, transact_ms: float, decide_ms: float) -> float:
    """One attempt's window in region: the read, the decision, the transaction until DynamoDB answers."""
    return read_ms + decide_ms + transact_ms


def summarise(raw: dict, *, read_ms: float, transact_ms: float, lead_wru_per_write: float = 1.0) -> dict:
    """The local runs, the fitted model and its in-region extrapolation (what results.json keeps as ``scale``)."""
    runs = raw["runs"]
    max_attempts = raw["max_attempts"]
    rr = [r for r in runs if r["strategy"] == "round_robin" and r["cap"] is None]
    k = fit_k((r["contention"], r["pointer_conflict_share_of_attempts"]) for r in rr if r["workers"] > 1)
    single = next((r for r in rr if r["workers"] == 1), None)
    # The decision between read and write is CPU in the container; take the single worker's local figure (this
    # machine, no contention for the group) as the in-region one: Lambda at 1,769 MB has a full vCPU.
    decide_ms = 2.0
    if single is not None:
        a = single["attempt_ms"]
        decide_ms = max(0.5, a["window_mean"] - a["read_mean"] - a["write_mean"])
    window_ms = region_window_ms(read_ms, transact_ms, decide_ms)
    w = window_ms / 1000.0
    at_rates = [group_at_rate(rate, w, k, max_attempts).__dict__ for rate in REGION_RATES_PER_S]
    for row in at_rates:
        for key, value in row.items():
            row[key] = round(value, 4 if key in ("conflict_share", "give_up_share") else 2)
    rate_10pct = rate_at_conflicts(0.1, w, k)
    rate_1 = rate_at_conflicts(1.0, w, k)
    at_1 = group_at_rate(rate_1, w, k, max_attempts)
    failed_attempt_wru = TRANSACT_WRU_PER_ITEM_KB * (lead_wru_per_write + 2)  # lead + counter + pointer
    counter = {}
    for label, share in (("round robin, 4 reps: the busiest rep takes 1/4", 0.25),
                         ("least loaded: concurrent decisions pick the same least-loaded rep (worst case: all)", 1.0)):
        counter[label] = {
            f"at {rate:.0f}/s": round(counter_conflict_probability(rate, share, transact_ms / 1000.0), 4)
            for rate in (rate_10pct, rate_1, 100.0)
        }
    return {
        "measured": raw.get("date"),
        "command": raw.get("command"),
        "load_average": raw.get("load_average"),
        "seconds": raw.get("seconds"),
        "options": raw.get("options"),
        "runs": [{key: v for key, v in r.items()} | {
            "pointer_conflict_share_fitted": (round(conflict_probability(1.0, r["contention"], k), 4)
                                              if r["strategy"] != "least_loaded" else None)
        } for r in runs],
        "fit": {
            "k": round(k, 3),
            "points": [[r["workers"], r["contention"], r["pointer_conflict_share_of_attempts"]]
                       for r in rr if r["workers"] > 1],
        },
        "region": {
            "read_ms": read_ms,
            "transact_ms": transact_ms,
            "decide_ms": round(decide_ms, 2),
            "window_ms": round(window_ms, 2),
            "rates": at_rates,
            "rate_at_0_1_conflicts_per_assignment": round(rate_10pct, 1),
            "rate_at_1_conflict_per_assignment": round(rate_1, 1),
            "latency_ms_at_1_conflict": round(at_1.latency_ms, 1),
            "pointer_partition_ceiling_per_s_at_1_conflict": round(partition_ceiling_per_s(at_1.attempts_per_assignment), 0),
            "wru_per_failed_attempt": failed_attempt_wru,
            "counter_transaction_conflict_share": counter,
            "sharded": [
                {"shards": s, "rate_at_0_1_conflicts_per_assignment": round(sharded_pointer_rate(rate_10pct, s), 0),
                 "rate_at_1_conflict_per_assignment": round(sharded_pointer_rate(rate_1, s), 0),
                 "max_spread_leads_per_rep": sharded_max_imbalance(s, 4)}
                for s in SHARDS
            ],
        },
    }
