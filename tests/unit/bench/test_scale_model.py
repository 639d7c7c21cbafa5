"""The hot-key model's arithmetic (bench/scale_model.py): no sockets, no timing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.unit.bench.bench_modules import load

BENCH = Path(__file__).resolve().parents[3] / "bench"



m = load("scale_model")


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert m.percentile(values, 0) == 10.0
    assert m.percentile(values, 100) == 40.0
    assert m.percentile(values, 50) == pytest.approx(25.0)
    assert m.percentile(values, 99) == pytest.approx(39.7)
    with pytest.raises(ValueError):
        m.percentile([], 50)


def test_contention_counts_only_the_other_workers() -> None:
    assert m.contention(100.0, 1, 0.05) == 0.0  # alone: nobody moves the pointer under you
    assert m.contention(100.0, 4, 0.05) == pytest.approx(100.0 * 3 / 4 * 0.05)
    with pytest.raises(ValueError):
        m.contention(1.0, 0, 0.1)


def test_conflict_probability_is_poisson() -> None:
    assert m.conflict_probability(0.0, 0.02) == 0.0
    assert m.conflict_probability(50.0, 0.02) == pytest.approx(1 - math.exp(-1.0))
    assert m.conflict_probability(50.0, 0.02, k=0.5) == pytest.approx(1 - math.exp(-0.5))


def test_fit_k_recovers_the_factor_of_generated_points() -> None:
    k = 0.7
    points = [(c, 1 - math.exp(-k * c)) for c in (0.2, 0.5, 1.0, 2.0)]
    assert m.fit_k(points) == pytest.approx(k)
    with pytest.raises(ValueError):
        m.fit_k([(0.0, 0.0)])  # no contention: nothing to fit
    with pytest.raises(ValueError):
        m.fit_k([(1.0, 1.0)])  # every attempt lost: outside the model


def test_conflicts_per_assignment_is_geometric() -> None:
    assert m.conflicts_per_assignment(0.0) == 0.0
    assert m.conflicts_per_assignment(0.5) == pytest.approx(1.0)
    assert m.conflicts_per_assignment(0.75) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        m.conflicts_per_assignment(1.0)


def test_rate_at_conflicts_inverts_the_open_system() -> None:
    w, k = 0.02, 0.8
    rate = m.rate_at_conflicts(1.0, w, k)
    assert rate == pytest.approx(math.log(2) / (k * w))
    p = m.conflict_probability(rate, w, k)
    assert m.conflicts_per_assignment(p) == pytest.approx(1.0)
    assert m.rate_at_conflicts(0.1, w, k) < rate


def test_mean_backoff_follows_retry_py() -> None:
    assert m.mean_backoff_s(0.0, 30) == 0.0
    # one failure for sure, then success: the sleep after attempt 1 is uniform in [0, 10 ms)
    p = 0.5
    expected = sum(p**a * min(0.25, 0.005 * 2**a) / 2 for a in range(1, 30))
    assert m.mean_backoff_s(p, 30) == pytest.approx(expected)
    assert m.mean_backoff_s(0.9, 30) > m.mean_backoff_s(0.5, 30)


def test_group_at_rate_adds_up() -> None:
    g = m.group_at_rate(30.0, 0.02, 1.0, 30)
    p = 1 - math.exp(-0.6)
    assert g.conflict_share == pytest.approx(p)
    assert g.attempts_per_assignment == pytest.approx(1 / (1 - p))
    assert g.conflicts_per_assignment == pytest.approx(g.attempts_per_assignment - 1)
    assert g.latency_ms == pytest.approx((g.attempts_per_assignment * 0.02 + m.mean_backoff_s(p, 30)) * 1000)
    assert g.pointer_wcu_per_s == pytest.approx(30.0 * g.attempts_per_assignment * 2)
    assert g.give_up_share == pytest.approx(p**30)


def test_partition_ceiling() -> None:
    assert m.partition_ceiling_per_s(1.0) == 500.0  # 1,000 WCU / 2 WRU per transactional write of a small item
    assert m.partition_ceiling_per_s(2.0) == 250.0
    assert m.partition_ceiling_per_s(1.0, item_kb=1.5) == 250.0


def test_counter_conflict_uses_the_reps_share() -> None:
    assert m.counter_conflict_probability(40.0, 0.25, 0.012) == pytest.approx(1 - math.exp(-10.0 * 0.012))
    assert m.counter_conflict_probability(40.0, 1.0, 0.012) > m.counter_conflict_probability(40.0, 0.25, 0.012)


def test_sharding() -> None:
    assert m.sharded_pointer_rate(35.0, 4) == 140.0
    assert m.sharded_max_imbalance(1, 4) == 1
    assert m.sharded_max_imbalance(8, 4) == 8
    assert m.sharded_max_imbalance(8, 1) == 0
    with pytest.raises(ValueError):
        m.sharded_pointer_rate(1.0, 0)


def _run(workers: int, contention: float, share: float, strategy: str = "round_robin", cap: int | None = None) -> dict:
    return {
        "case": f"{strategy} {workers}", "strategy": strategy, "workers": workers, "cap": cap, "leads": 10,
        "contention": contention, "pointer_conflict_share_of_attempts": share,
        "attempt_ms": {"window_mean": 50.0, "read_mean": 20.0, "write_mean": 27.0},
    }


def test_summarise_fits_on_round_robin_runs_only_and_extrapolates() -> None:
    k = 0.6
    runs = [_run(1, 0.0, 0.0)] + [_run(n, c, 1 - math.exp(-k * c)) for n, c in ((2, 0.4), (4, 1.0), (8, 2.0))]
    runs.append(_run(8, 5.0, 0.01, cap=10))  # caps and least loaded stay out of the pointer's fit
    runs.append(_run(8, 5.0, 0.0, strategy="least_loaded", cap=10))
    out = m.summarise({"runs": runs, "max_attempts": 30}, read_ms=6.0, transact_ms=12.0, lead_wru_per_write=2.0)
    assert out["fit"]["k"] == pytest.approx(k, abs=1e-3)
    region = out["region"]
    assert region["decide_ms"] == pytest.approx(3.0)  # the single container's window minus its read and write
    assert region["window_ms"] == pytest.approx(21.0)
    assert region["rate_at_1_conflict_per_assignment"] == pytest.approx(math.log(2) / (k * 0.021), abs=0.1)
    assert region["wru_per_failed_attempt"] == 8.0  # 2 x (lead 2 + counter 1 + pointer 1)
    assert [x["shards"] for x in region["sharded"]] == list(m.SHARDS)
    assert region["sharded"][2]["rate_at_1_conflict_per_assignment"] == pytest.approx(
        4 * region["rate_at_1_conflict_per_assignment"], abs=1)
    fitted = [r["pointer_conflict_share_fitted"] for r in out["runs"][:4]]
    assert fitted[0] == 0.0 and fitted[1:] == pytest.approx([1 - math.exp(-k * c) for c in (0.4, 1.0, 2.0)], abs=1e-4)
