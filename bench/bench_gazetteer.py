"""Gazetteer benchmarks: leads without coordinates tagged against the US state polygons, and the artifact itself.

    .venv/bin/python bench/bench_gazetteer.py [--json OUT.json]

Every US ZIP of the ``zipcodes`` package (bench extra; the full table, not the 10 % sample) becomes a lead, and the
state polygons (``us_states.geojson`` as a user uploads it: polygons only, territory id = USPS code, no ``regions``)
are the territories. A lead is right when it lands in its ZIP's state. "Located" ZIPs are those with a location in
the source whose state has a polygon (APO/FPO/DPO and Palau-style codes are counted apart).

1. postal code only, in the forms Salesforce really holds, rotating: as typed in a web form (``94105``,
   ``94105-1234``, ``941051234``; ``Country`` given on every other lead) and, for ZIPs with leading zeros, as a
   spreadsheet import leaves them (``2134``, ``2134.0``; an import maps its Country column, so these carry
   ``US``). A 3-4 digit code with no country is ambiguous (``2134`` is also Burwood NSW and a Swiss code): it is
   counted apart (``stripped_without_country``), not guessed. Target >= 99.5 %.
2. city + state only: ``City`` + ``State`` of each ZIP (USPS city name; the state as a code or, every other lead,
   its name). Target >= 99 %.
3. coordinates still win: the same leads with their coordinates (and postal code): the >= 99.95 % figure holds with
   the gazetteer in the tagger.
4. the artifact: size in bytes, load time in a fresh process (median of 7) and in-process (median of 30).
   Target <= 20 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "layers" / "shared"))
sys.path.insert(0, str(BENCH))

from bench_tagging import STATES  # noqa: E402
from shapely.geometry import shape  # noqa: E402

from territory_router.domain import Lead, Territory, TerritorySet  # noqa: E402
from territory_router.geography.gazetteer import ARTIFACT, Gazetteer  # noqa: E402
from territory_router.geography.regions import US_STATES, normalise_state  # noqa: E402
from territory_router.tagging.index import TerritoryIndex, compile_index  # noqa: E402
from territory_router.tagging.triage import Tagger, TaggingConfig  # noqa: E402

ARTIFACT_PATH = REPO / "layers" / "shared" / "territory_router" / "data" / ARTIFACT


def polygons_only_states() -> TerritorySet:
    features = json.loads(STATES.read_text())["features"]
    territories = []
    for f in features:
        _, code = normalise_state(f["properties"]["name"])
        territories.append(Territory(code, US_STATES[code], geometry=shape(f["geometry"])))
    return TerritorySet(tuple(territories))


def zip_table() -> list[dict]:
    import zipcodes

    rows = []
    for z in zipcodes.list_all():
        lat, lon = float(z.get("lat") or 0), float(z.get("long") or 0)
        rows.append({"zip": z["zip_code"], "state": z["state"], "city": z["city"], "lat": lat, "lon": lon,
                     "located": (lat, lon) != (0.0, 0.0)})  # fmt: skip
    return rows


def postal_lead(i: int, code: str) -> Lead:
    forms = [code, f"{code}-{1000 + i % 9000}", f"{code}{1000 + i % 9000}"]
    if code.startswith("0"):
        stripped = code.lstrip("0")
        forms += [stripped, f"{stripped}.0"]
    form = forms[i % len(forms)]
    country = "US" if (i % 2 or len(form.split(".")[0]) < 5) else None
    return Lead(lead_id=f"00Q{i:015d}", postal_code=form, country=country)


def score(rows: list[dict], results, tagger: Tagger) -> dict:
    positions = tagger.index.positions
    located = right = 0
    misses, apart = [], Counter()
    for z, r in zip(rows, results, strict=True):
        if not z["located"] or z["state"] not in positions:
            apart["no location" if not z["located"] else f"no polygon for {z['state']}"] += 1
            continue
        located += 1
        if r.territory_id == z["state"]:
            right += 1
        else:
            misses.append({"zip": z["zip"], "state": z["state"], "got": r.territory_id, "method": r.method.value,
                           "note": r.note[-200:]})  # fmt: skip
    return {
        "leads": len(rows),
        "located": located,
        "right": right,
        "share_right_pct": 100.0 * right / located if located else 0.0,
        "methods": dict(Counter(r.method.value for r in results)),
        "precisions": dict(Counter(r.precision.value for r in results)),
        "miss_methods": dict(Counter(m["method"] for m in misses)),
        "misses_sample": misses[:25],
        "apart": dict(apart),
    }


def timed_tag(tagger: Tagger, leads: list[Lead]) -> tuple[list, float]:
    gc.collect()
    start = time.perf_counter()
    results = tagger.tag_many(leads)
    return results, time.perf_counter() - start


def bench_accuracy(rows: list[dict]) -> dict:
    index = TerritoryIndex.from_bytes(compile_index(polygons_only_states()))
    out = {}

    def fresh() -> Tagger:
        return Tagger(index, TaggingConfig(nearest_tolerance_km=25.0))

    postal = [postal_lead(i, z["zip"]) for i, z in enumerate(rows)]
    results, seconds = timed_tag(fresh(), postal)
    out["postal_only"] = score(rows, results, fresh()) | {"leads_per_s": len(postal) / seconds}
    out["postal_only"]["forms"] = dict(Counter(
        "zip+4" if len(ld.postal_code.replace("-", "")) == 9 else "stripped" if len(ld.postal_code.split(".")[0]) < 5
        else "zip" for ld in postal
    ))  # fmt: skip
    stripped = [
        (z, Lead(lead_id=f"00Q{i:015d}", postal_code=z["zip"].lstrip("0")))
        for i, z in enumerate(rows)
        if z["zip"].startswith("0")
    ]
    results = fresh().tag_many([ld for _, ld in stripped])
    out["stripped_without_country"] = {
        "leads": len(stripped),
        "methods": dict(Counter(r.method.value for r in results)),
        "why": "a 3-4 digit postal code with no country could be a US ZIP without its zeros or another "
        "country's code: not guessed",
    }

    city = [
        Lead(lead_id=f"00Q{i:015d}", city=z["city"], state=z["state"] if i % 2 else US_STATES.get(z["state"], z["state"]))
        for i, z in enumerate(rows)
    ]
    results, seconds = timed_tag(fresh(), city)
    out["city_state_only"] = score(rows, results, fresh()) | {"leads_per_s": len(city) / seconds}
    pairs = {}
    for z, r in zip(rows, results, strict=True):
        if z["located"] and z["state"] in index.positions:
            pairs[(z["state"], z["city"])] = r.territory_id == z["state"]
    out["city_state_only"]["distinct_city_state_pairs"] = len(pairs)
    out["city_state_only"]["distinct_pairs_right_pct"] = 100.0 * sum(pairs.values()) / len(pairs)

    coords = [
        Lead(lead_id=f"00Q{i:015d}", latitude=z["lat"], longitude=z["lon"], postal_code=z["zip"], country="US")
        for i, z in enumerate(rows)
    ]
    results, seconds = timed_tag(fresh(), coords)
    out["coordinates_and_postal"] = score(rows, results, fresh()) | {"leads_per_s": len(coords) / seconds}
    return out


def bench_load() -> dict:
    data = ARTIFACT_PATH.read_bytes()
    times = []
    for _ in range(30):
        gc.collect()
        start = time.perf_counter()
        Gazetteer.from_bytes(data)
        times.append((time.perf_counter() - start) * 1000)
    shared = str(REPO / "layers" / "shared")
    code = (
        f"import sys, time; sys.path.insert(0, {shared!r})\n"
        "from territory_router.geography.gazetteer import Gazetteer\n"
        "t = time.perf_counter(); g = Gazetteer.packaged(); g.postal('94105'); g.city('Toronto', ('CA', 'ON'))\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    fresh = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(7)]
    header = Gazetteer.from_bytes(data).header
    return {
        "artifact_bytes": len(data),
        "zips": header["zips"],
        "cities": header["cities"],
        "sources": header["sources"],
        "in_process_ms": {"median": statistics.median(times), "p95": float(np.percentile(times, 95)), "min": min(times)},
        "fresh_process_first_load_ms": {"median": statistics.median(fresh), "max": max(fresh)},
        "what_is_timed": "Gazetteer.packaged(): read the file, check its sha256, zlib-decompress, map the arrays; "
        "fresh process: plus one ZIP and one city look-up",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = zip_table()
    result = {"load": bench_load(), "accuracy": bench_accuracy(rows)}
    load, acc = result["load"], result["accuracy"]
    print(f"gazetteer.bin: {load['artifact_bytes']:,} bytes, {load['zips']:,} ZIPs, {load['cities']:,} cities; "
          f"load {load['fresh_process_first_load_ms']['median']:.1f} ms fresh / {load['in_process_ms']['median']:.1f} ms "
          "in process (target <= 20 ms)")  # fmt: skip
    for name, target in (("postal_only", 99.5), ("city_state_only", 99.0), ("coordinates_and_postal", 99.95)):
        a = acc[name]
        print(f"{name}: {a['share_right_pct']:.3f} % of {a['located']:,} located ZIPs right (target >= {target} %), "
              f"{a['leads_per_s']:,.0f} leads/s; methods {a['methods']}; misses {a['miss_methods']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
