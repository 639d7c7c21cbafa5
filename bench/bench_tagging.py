"""Tagging benchmarks, all measured in one run against the same data.

    .venv/bin/python bench/bench_tagging.py [--json OUT.json] [--points 100000] [--naive-sample 300]

1. Index cold load: ``TerritoryIndex.from_bytes`` on the 3,231 US counties (in this process and in a fresh
   one). Target <= 20 ms.
2. Batch throughput on the counties, random points in the US bounding box + ZIP centroids:
   ``Tagger.tag_many`` (full triage, and its polygon step alone) against geopandas ``sjoin`` (bench-only
   dependency) and a naive ``polygon.contains`` loop (timed on a sample, per point). Targets: >= 1.0x sjoin,
   >= 200x naive.
3. Single-lead latency of ``Tagger.tag`` (warm): p50/p99 for leads that land in a polygon. Target p99 <= 15 us.
4. Accuracy: ZIP centroids tagged against ``us_states.geojson`` (territory id = USPS code): share of located
   ZIPs tagged to their USPS state, the misses and their methods; APO/FPO ZIPs at (0, 0) must reach the
   catch-all with a reason. Target >= 99.95 %.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point, shape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

from territory_router.domain import Lead, TagMethod, Territory, TerritorySet  # noqa: E402
from territory_router.geography.regions import US_STATES, normalise_state  # noqa: E402
from territory_router.tagging.index import TerritoryIndex, compile_index  # noqa: E402
from territory_router.tagging.triage import Tagger, TaggingConfig  # noqa: E402

COUNTIES = REPO / "tests" / "data" / "us_counties.geojson"
STATES = REPO / "tooling" / "territory_router_tools" / "data" / "us_states.geojson"
ZIPS = REPO / "tooling" / "territory_router_tools" / "data" / "us_zip_sample.csv"
US_BBOX = (-125.0, 24.0, -66.0, 50.0)
CATCH_ALL = "UNASSIGNED"


def load_counties() -> TerritorySet:
    features = json.loads(COUNTIES.read_text())["features"]
    territories = tuple(
        Territory(f["id"], f["properties"]["name"], geometry=shape(f["geometry"])) for f in features
    )
    return TerritorySet(territories, catch_all_territory_id=CATCH_ALL)


def load_states() -> TerritorySet:
    features = json.loads(STATES.read_text())["features"]
    territories = []
    for f in features:
        _, code = normalise_state(f["properties"]["name"])  # state name -> USPS code
        territories.append(
            Territory(code, US_STATES[code], geometry=shape(f["geometry"]), regions=frozenset({("US", code)}))
        )
    territories.append(Territory(CATCH_ALL, "Unassigned"))
    return TerritorySet(tuple(territories), catch_all_territory_id=CATCH_ALL)


def load_zips() -> list[dict[str, str]]:
    with ZIPS.open(newline="") as handle:
        return list(csv.DictReader(handle))


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


# --------------------------------------------------------------------------------------------- 1. cold load


def bench_cold_load(blob: bytes) -> dict:
    times = []
    for _ in range(30):
        gc.collect()
        start = time.perf_counter()
        TerritoryIndex.from_bytes(blob)
        times.append((time.perf_counter() - start) * 1000)
    path = Path("/tmp/bench_tagging_counties.idx")
    path.write_bytes(blob)
    shared, idx_path = str(REPO / "layers" / "shared"), str(path)
    code = (
        f"import sys, time; sys.path.insert(0, {shared!r})\n"
        "from territory_router.tagging.index import TerritoryIndex\n"
        f"data = open({idx_path!r}, 'rb').read(); t = time.perf_counter(); TerritoryIndex.from_bytes(data)\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    fresh = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(5)]
    geojson_start = time.perf_counter()
    load_counties()
    geojson_ms = (time.perf_counter() - geojson_start) * 1000
    return {
        "index_bytes": len(blob),
        "in_process_ms": {
            "min": min(times),
            "median": statistics.median(times),
            "p95": float(np.percentile(times, 95)),
            "max": max(times),
        },
        "fresh_process_first_load_ms": {"median": statistics.median(fresh), "max": max(fresh)},
        "geojson_parse_for_comparison_ms": geojson_ms,
    }


# --------------------------------------------------------------------------------------------- 2. throughput


def make_points(n: int, zips: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261129)
    xs = rng.uniform(US_BBOX[0], US_BBOX[2], n)
    ys = rng.uniform(US_BBOX[1], US_BBOX[3], n)
    located = [(float(z["lon"]), float(z["lat"])) for z in zips if float(z["lat"]) or float(z["lon"])]
    zx, zy = np.array(located).T
    return np.concatenate([xs, zx]), np.concatenate([ys, zy])


def bench_throughput(counties: TerritorySet, index: TerritoryIndex, xs, ys, naive_sample: int) -> dict:
    import geopandas as gpd

    tagger = Tagger(index, TaggingConfig(nearest_tolerance_km=25.0))
    leads = [
        Lead(lead_id=f"00Q{i:015d}", latitude=y, longitude=x)
        for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True))
    ]
    n = len(leads)

    full_s, results = timed(lambda: tagger.tag_many(leads))
    idx = np.arange(n)
    poly_s, hits = timed(lambda: tagger.spatial.hits_many(xs, ys, idx))
    first, count = hits.first, hits.count
    ours_first = np.array(
        [index.ids[f] if c else None for f, c in zip(first.tolist(), count.tolist(), strict=True)],
        dtype=object,
    )

    polys = gpd.GeoDataFrame(
        {"territory_id": list(index.ids), "precedence": np.arange(len(index))},
        geometry=[t.geometry for t in counties.territories],
        crs="EPSG:4326",
    )

    def run_sjoin():
        pts = gpd.GeoDataFrame({"lead": np.arange(n)}, geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326")
        joined = gpd.sjoin(pts, polys, how="left", predicate="intersects")
        # Overlaps/borders: keep the first territory in precedence order, as the tagger does.
        joined = joined.sort_values(["lead", "precedence"]).drop_duplicates("lead")
        return joined["territory_id"].to_numpy()

    sjoin_s, sjoin_ids = timed(run_sjoin)
    sjoin_ids = np.array([None if not isinstance(v, str) else v for v in sjoin_ids], dtype=object)
    agree_sjoin = float(np.mean(sjoin_ids == ours_first))

    plain = [shape(f["geometry"]) for f in json.loads(COUNTIES.read_text())["features"]]  # unprepared
    sample = np.random.default_rng(1).choice(n, size=min(naive_sample, n), replace=False)

    def naive():
        out = []
        for i in sample:
            p = Point(xs[i], ys[i])
            out.append(next((index.ids[j] for j, g in enumerate(plain) if g.contains(p)), None))
        return out

    naive_s, naive_ids = timed(naive, repeat=1)
    naive_per_point = naive_s / len(sample)
    # contains() excludes borders, intersects() includes them: compare where the naive loop found a polygon.
    agree_naive = float(
        np.mean([a == b for a, b in zip(naive_ids, ours_first[sample], strict=True) if a is not None])
    )
    methods = Counter(r.method.value for r in results)
    return {
        "points": n,
        "share_in_a_polygon": float(np.mean(count > 0)),
        "tag_many_full_triage": {"seconds": full_s, "points_per_s": n / full_s, "methods": dict(methods)},
        "tag_many_polygon_step": {"seconds": poly_s, "points_per_s": n / poly_s},
        "geopandas_sjoin": {
            "seconds": sjoin_s,
            "points_per_s": n / sjoin_s,
            "agreement_with_ours": agree_sjoin,
        },
        "naive_contains_loop": {
            "sample": len(sample),
            "seconds_per_point": naive_per_point,
            "points_per_s": 1 / naive_per_point,
            "agreement_with_ours": agree_naive,
        },
        "speedup_full_vs_sjoin": sjoin_s / full_s,
        "speedup_polygon_step_vs_sjoin": sjoin_s / poly_s,
        "speedup_full_vs_naive": naive_per_point / (full_s / n),
        "speedup_polygon_step_vs_naive": naive_per_point / (poly_s / n),
        "geopandas_version": gpd.__version__,
    }


# --------------------------------------------------------------------------------------------- 3. latency


def bench_latency(index: TerritoryIndex, zips: list[dict[str, str]], xs, ys) -> dict:
    tagger = Tagger(index, TaggingConfig(nearest_tolerance_km=25.0))
    located = [z for z in zips if float(z["lat"]) or float(z["lon"])]
    leads = [
        Lead(
            lead_id=f"00Q{i:015d}",
            latitude=float(z["lat"]),
            longitude=float(z["lon"]),
            postal_code=z["zip_code"],
        )
        for i, z in enumerate(located)
    ]
    for lead in leads:  # warm: fills the per-cell candidate cache
        tagger.tag(lead)
    polygon, everything = [], []
    tag = tagger.tag
    clock = time.perf_counter_ns
    for _ in range(5):
        for lead in leads:
            start = clock()
            result = tag(lead)
            elapsed = clock() - start
            everything.append(elapsed)
            if result.method is TagMethod.POLYGON:
                polygon.append(elapsed)

    # Random points in the bbox (many fall in the sea, Canada or Mexico and take the slow, nearest path).
    rand = [
        Lead(lead_id=f"00Q{i:015d}", latitude=float(y), longitude=float(x))
        for i, (x, y) in enumerate(zip(xs[:5000], ys[:5000], strict=True))
    ]
    for lead in rand:
        tagger.tag(lead)
    rand_polygon, rand_all = [], []
    for lead in rand:
        start = clock()
        result = tag(lead)
        elapsed = clock() - start
        rand_all.append(elapsed)
        if result.method is TagMethod.POLYGON:
            rand_polygon.append(elapsed)

    def pct(values):
        us = np.array(values) / 1000
        return {"n": len(us), "p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
                "max_us": float(us.max())}  # fmt: skip

    return {
        "zip_centroids_polygon_hits": pct(polygon),
        "zip_centroids_all": pct(everything),
        "random_bbox_polygon_hits": pct(rand_polygon),
        "random_bbox_all_incl_nearest_and_misses": pct(rand_all),
    }


# --------------------------------------------------------------------------------------------- 4. accuracy


def bench_accuracy(zips: list[dict[str, str]]) -> dict:
    states = load_states()
    index = TerritoryIndex.from_bytes(compile_index(states))
    tagger = Tagger(index, TaggingConfig(nearest_tolerance_km=25.0))
    out = {}
    for variant, with_state in (("coordinates_postal_country", False), ("with_declared_state", True)):
        leads = [
            Lead(
                lead_id=f"00Q{i:015d}",
                latitude=float(z["lat"]),
                longitude=float(z["lon"]),
                postal_code=z["zip_code"],
                country="US",
                state=z["state"] if with_state else None,
            )
            for i, z in enumerate(zips)
        ]
        results = tagger.tag_many(leads)
        located_ok = located = 0
        misses, no_territory, zero = [], [], Counter()
        zero_wrong = 0
        for z, r in zip(zips, results, strict=True):
            is_zero = float(z["lat"]) == 0 and float(z["lon"]) == 0
            if is_zero:
                zero[r.method.value] += 1
                if r.territory_id not in (CATCH_ALL, z["state"]) or "(0, 0)" not in r.note:
                    zero_wrong += 1
                continue
            if z["state"] not in index.positions:  # e.g. Palau: a USPS code without a territory polygon
                no_territory.append({"zip": z["zip_code"], "state": z["state"], "got": r.territory_id,
                                     "method": r.method.value})  # fmt: skip
                continue
            located += 1
            if r.territory_id == z["state"]:
                located_ok += 1
            else:
                misses.append({"zip": z["zip_code"], "state": z["state"], "lat": z["lat"], "lon": z["lon"],
                               "got": r.territory_id, "method": r.method.value, "note": r.note})  # fmt: skip
        out[variant] = {
            "zips": len(zips),
            "located_with_state_territory": located,
            "right": located_ok,
            "share_right_pct": 100.0 * located_ok / located,
            "misses": misses,
            "miss_methods": dict(Counter(m["method"] for m in misses)),
            "located_without_state_territory": no_territory,
            "zero_zero": {
                "count": sum(zero.values()),
                "methods": dict(zero),
                "wrong_or_unexplained": zero_wrong,
            },
            "methods": dict(Counter(r.method.value for r in results)),
        }
    return out


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--points", type=int, default=100_000, help="random points in the US bbox")
    parser.add_argument("--naive-sample", type=int, default=300, help="points timed with the naive loop")
    args = parser.parse_args(argv)

    counties = load_counties()
    blob = compile_index(counties)
    index = TerritoryIndex.from_bytes(blob)
    zips = load_zips()
    xs, ys = make_points(args.points, zips)
    inside = Tagger(index).spatial.hits_many(xs, ys, np.arange(len(xs))).count > 0  # the leads that land in a county

    report = {
        "machine": {"python": platform.python_version(), "shapely": shapely.__version__,
                    "geos": ".".join(map(str, shapely.geos_version)), "cpus": __import__("os").cpu_count()},
        "cold_load": bench_cold_load(blob),
        "throughput": {
            "bbox": bench_throughput(counties, index, xs, ys, args.naive_sample),
            "in_territory": bench_throughput(counties, index, xs[inside], ys[inside], args.naive_sample),
        },
        "latency": bench_latency(index, zips, xs, ys),
        "accuracy": bench_accuracy(zips),
    }  # fmt: skip
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwritten {args.json}")
    return 0


def print_table(r: dict) -> None:
    cl, tp, lat, acc = r["cold_load"], r["throughput"], r["latency"], r["accuracy"]
    rows = [
        ("index cold load, 3,231 counties (median in process)", f"{cl['in_process_ms']['median']:.2f} ms", "<= 20 ms"),
        ("index cold load, p95 / max in process", f"{cl['in_process_ms']['p95']:.2f} / {cl['in_process_ms']['max']:.2f} ms", ""),
        ("index first load in a fresh process (median)", f"{cl['fresh_process_first_load_ms']['median']:.2f} ms", "<= 20 ms"),
        ("index size / GeoJSON parse for comparison", f"{cl['index_bytes'] / 1e6:.2f} MB / {cl['geojson_parse_for_comparison_ms']:.0f} ms", ""),
    ]  # fmt: skip
    for label, t in tp.items():
        rows += [
            (f"[{label}] points / share in a polygon", f"{t['points']:,} / {t['share_in_a_polygon']:.1%}", ""),
            (f"[{label}] tag_many full triage", f"{t['tag_many_full_triage']['points_per_s']:,.0f} pts/s", ""),
            (f"[{label}] tag_many polygon step only", f"{t['tag_many_polygon_step']['points_per_s']:,.0f} pts/s", ""),
            (f"[{label}] geopandas sjoin (+ precedence dedupe)", f"{t['geopandas_sjoin']['points_per_s']:,.0f} pts/s", ""),
            (f"[{label}] naive polygon.contains loop", f"{t['naive_contains_loop']['points_per_s']:,.1f} pts/s", ""),
            (f"[{label}] full triage vs sjoin", f"{t['speedup_full_vs_sjoin']:.2f}x", ">= 1.0x"),
            (f"[{label}] polygon step vs sjoin", f"{t['speedup_polygon_step_vs_sjoin']:.2f}x", ">= 1.0x"),
            (f"[{label}] full triage / polygon step vs naive", f"{t['speedup_full_vs_naive']:,.0f}x / {t['speedup_polygon_step_vs_naive']:,.0f}x", ">= 200x"),
            (f"[{label}] agreement with sjoin / naive", f"{t['geopandas_sjoin']['agreement_with_ours']:.4%} / {t['naive_contains_loop']['agreement_with_ours']:.2%}", "100 %"),
        ]  # fmt: skip
    rows += [
        ("tag() p50 / p99, ZIP centroids in a polygon", f"{lat['zip_centroids_polygon_hits']['p50_us']:.1f} / {lat['zip_centroids_polygon_hits']['p99_us']:.1f} us", "p99 <= 15 us"),
        ("tag() p50 / p99, random bbox points in a polygon", f"{lat['random_bbox_polygon_hits']['p50_us']:.1f} / {lat['random_bbox_polygon_hits']['p99_us']:.1f} us", ""),
        ("tag() p50 / p99, random bbox points, all (nearest/misses)", f"{lat['random_bbox_all_incl_nearest_and_misses']['p50_us']:.1f} / {lat['random_bbox_all_incl_nearest_and_misses']['p99_us']:.1f} us", ""),
    ]  # fmt: skip
    for variant, a in acc.items():
        rows.append(
            (
                f"ZIP accuracy ({variant})",
                f"{a['share_right_pct']:.3f} % of {a['located_with_state_territory']:,}",
                ">= 99.95 %",
            )
        )
        rows.append(("  misses (methods)", f"{len(a['misses'])} {a['miss_methods']}", ""))
        rows.append(
            (
                "  (0, 0) ZIPs: methods / wrong",
                f"{a['zero_zero']['methods']} / {a['zero_zero']['wrong_or_unexplained']}",
                "0 wrong",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result':>32}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>32}  {target}")
    for variant, a in acc.items():
        for m in a["misses"]:
            print(
                f"  miss [{variant}] ZIP {m['zip']} ({m['state']}) -> {m['got']} {m['method']}: {m['note']}"
            )
        for m in a["located_without_state_territory"]:
            print(f"  no state polygon [{variant}] ZIP {m['zip']} ({m['state']}) -> {m['got']} {m['method']}")


if __name__ == "__main__":
    sys.exit(main())
