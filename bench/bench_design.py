"""Territory design benchmark: 12 territories from the 3,231 US counties for a lead history drawn from real ZIP
centroids, the way ``territory-router territories propose --blocks counties --k 12`` does it, then ``--keep`` after
the lead history changes.

    .venv/bin/python bench/bench_design.py [--leads 20000] [--k 12] [--seed 7] [--json OUT]
    .venv/bin/python bench/bench_design.py --write-leads leads.csv   # just the lead history (docs' worked example)

Leads: ``--leads`` draws (with replacement) from the shipped ZIP centroids (every 10th US ZIP, data/us_zip_sample.csv),
one in ten with only its PostalCode (located by the ZIP centroid), as a Data Loader export. Stages timed with
``time.perf_counter`` in one process, from reading the CSV to the validated block CSV and its balance report.
Checks: every territory contiguous (one piece per land mass over shared borders), CV of leads per territory.
Keep: the same history with leads in Texas and Florida doubled (a market that grew), repaired from the proposal.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ZIPS = REPO / "tooling/territory_router_tools/data/us_zip_sample.csv"


def lead_history(n: int, seed: int, surge: tuple[str, ...] = ()) -> bytes:
    rows = [r for r in csv.DictReader(io.StringIO(ZIPS.read_text())) if r["state"] not in ("AA", "AE", "AP") and r["lat"]]
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Id", "Latitude", "Longitude", "PostalCode"])
    for i in range(n):
        z = rng.choice(rows)
        for copy in range(2 if z["state"] in surge else 1):
            lead_id = f"00Q{i:09d}{copy}AAAAA"
            if rng.random() < 0.1:
                writer.writerow([lead_id, "", "", z["zip_code"]])
            else:
                writer.writerow([lead_id, z["lat"], z["lon"], z["zip_code"]])
    return out.getvalue().encode()


def blocks_artifact(report, graph, assignment, ids) -> dict:
    """The building-block artifact the upload function ships (size, load time) and what its ZIPs buy: every located
    US ZIP as a postal-only lead against the proposal, tagged without the gazetteer's centroids (so only the postal
    keys the counties answer for can place it), must land in the territory of its county."""
    from territory_router.domain.leads import Lead
    from territory_router.tagging.index import TerritoryIndex, compile_index
    from territory_router.tagging.triage import Tagger, TaggingConfig
    from territory_router.territories.blocks import ARTIFACT, BlockCatalog, catalog

    data = (REPO / "layers/shared/territory_router/data" / ARTIFACT).read_bytes()
    loads = []
    for _ in range(5):
        t = time.perf_counter()
        BlockCatalog.from_bytes(data)
        loads.append(time.perf_counter() - t)
    cat = catalog()
    index_bytes = compile_index(report.territory_set)
    territory_of_county = {graph.ids[n]: ids[int(t)] for n, t in enumerate(assignment)}
    codes = [f"{int(z):05d}" for z in cat.zip_numbers]
    expected = [territory_of_county.get(cat.county_of_zip(c)) for c in codes]
    leads = [Lead(lead_id=f"00Q{n:012d}AAA", postal_code=c) for n, c in enumerate(codes)]
    index_loads = []
    for _ in range(5):
        t = time.perf_counter()
        TerritoryIndex.from_bytes(index_bytes)
        index_loads.append(time.perf_counter() - t)
    t = time.perf_counter()
    tags = Tagger(TerritoryIndex.from_bytes(index_bytes), TaggingConfig(use_gazetteer=False)).tag_many(leads)
    tag_s = time.perf_counter() - t
    right = sum(1 for tag, want in zip(tags, expected, strict=True) if want is not None and tag.territory_id == want)
    postal_keys = sum(len(t.postal_codes) for t in report.territories)
    return {
        "bytes": len(data),
        "load_ms_median": round(1000 * float(np.median(loads)), 1),
        "zips": len(codes),
        "postal_only_zips_in_their_county_territory": right,
        "postal_only_zips_with_a_county_territory": sum(1 for w in expected if w is not None),
        "postal_only_tag_s": round(tag_s, 2),
        "postal_keys_in_proposal": postal_keys,
        "zip3_keys_in_proposal": sum(1 for t in report.territories for _, c in t.postal_codes if len(c) == 3),
        "compiled_index_bytes": len(index_bytes),
        "compiled_index_load_ms_median": round(1000 * float(np.median(index_loads)), 1),
    }


def zip3_proposal(history, k: int, seed: int) -> dict:
    """The same lead history on the approximate 3-digit ZIP areas (``--blocks zip3``), and how well the areas hold
    their own ZIPs (the share of located ZIP centroids inside their prefix's area)."""
    import shapely

    from territory_router.geography.gazetteer import NO_LOCATION, SCALE, default_gazetteer
    from territory_router.territories.blocks import catalog
    from territory_router.territories.validate import validate_files
    from territory_router_tools.design import propose as design
    from territory_router_tools.design.balance import balance, cv
    from territory_router_tools.design.graph import build_graph

    t0 = time.perf_counter()
    decode_t = time.perf_counter()
    areas = catalog().zip3_areas
    decode_s = time.perf_counter() - decode_t
    graph = build_graph("zip3")
    graph.count_leads(history.lonlat, history.postal)
    t = time.perf_counter()
    assignment, eps = design.propose(graph, k, seed=seed)
    partition_s = time.perf_counter() - t
    ids, names = design.names_for(graph, assignment, k)
    report = validate_files([("zip3.csv", design.to_block_csv(graph, assignment, ids, names))])
    result = balance(list(report.territories), history, graph)
    seconds = time.perf_counter() - t0
    loads = np.bincount(assignment, weights=graph.leads, minlength=k)
    contiguity = [graph.pieces(np.flatnonzero(assignment == i).tolist()) for i in range(k)]
    gaz = default_gazetteer()
    ok = np.flatnonzero(gaz.zip_lat != NO_LOCATION)
    points = shapely.points(gaz.zip_lon[ok] / SCALE, gaz.zip_lat[ok] / SCALE)
    inside = 0
    for number, point in zip(gaz.zips[ok].tolist(), points, strict=True):
        area = areas.get(f"{number:05d}"[:3])
        inside += bool(area is not None and area.covers(point))
    return {
        "areas": len(areas),
        "decode_ms": round(1000 * decode_s, 1),
        "zip_centroids_in_their_area": inside,
        "zip_centroids": len(ok),
        "epsilon": eps,
        "cv_leads_per_territory": round(cv(loads), 4),
        "cv_balance_report": round(result.cv, 4),
        "min_max_leads": [int(loads.min()), int(loads.max())],
        "contiguous_territories": sum(1 for p, m in contiguity if p == m),
        "valid": report.valid,
        "partition_s": round(partition_s, 2),
        "seconds": round(seconds, 2),
    }


def run(leads: int, k: int, seed: int) -> dict:
    from territory_router.territories.blocks import catalog
    from territory_router.territories.validate import validate_files
    from territory_router_tools.design import propose as design
    from territory_router_tools.design.balance import balance, cv, territory_blocks
    from territory_router_tools.design.graph import build_graph
    from territory_router_tools.design.leads import read_lead_history
    from territory_router_tools.territories.diff import LeadPoint, diff_sets

    data = lead_history(leads, seed)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    catalog()
    times["load_blocks_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    history = read_lead_history(data)
    times["read_leads_s"] = time.perf_counter() - t
    t = time.perf_counter()
    graph = build_graph("counties")
    times["block_graph_s"] = time.perf_counter() - t
    t = time.perf_counter()
    graph.count_leads(history.lonlat, history.postal)
    times["leads_to_blocks_s"] = time.perf_counter() - t
    t = time.perf_counter()
    assignment, eps = design.propose(graph, k, seed=seed)
    times["gerrychain_partition_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ids, names = design.names_for(graph, assignment, k)
    block_csv = design.to_block_csv(graph, assignment, ids, names)
    report = validate_files([("proposal.csv", block_csv)])
    times["compile_and_validate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = balance(list(report.territories), history, graph)
    times["balance_report_s"] = time.perf_counter() - t
    total_s = time.perf_counter() - t0
    loads = np.bincount(assignment, weights=graph.leads, minlength=k)
    contiguity = [graph.pieces(np.flatnonzero(assignment == i).tolist()) for i in range(k)]
    artifact = blocks_artifact(report, graph, assignment, ids)
    zip3 = zip3_proposal(history, k, seed)

    # keep: the market grows in Texas and Florida; move as few blocks as possible
    grown = read_lead_history(lead_history(leads, seed, surge=("TX", "FL")))
    graph.count_leads(grown.lonlat, grown.postal)
    start = territory_blocks(graph, list(report.territories))
    t = time.perf_counter()
    repaired = design.repair(graph, start, k, target_cv=0.05)
    keep_s = time.perf_counter() - t
    keep_ids = [t.territory_id for t in report.territories]
    keep_names = [t.name for t in report.territories]
    kept = validate_files([("kept.csv", design.to_block_csv(graph, repaired, keep_ids, keep_names))])
    points = [LeadPoint(grown.ids[i], *grown.lonlat[i]) for i in np.flatnonzero(grown.located)]
    diff = diff_sets(list(report.territories), list(kept.territories), leads=points)
    keep_contiguity = [graph.pieces(np.flatnonzero(repaired == i).tolist()) for i in range(k)]
    return {
        "blocks": len(graph.ids),
        "counties_in_data": len(catalog().counties),
        "k": k,
        "leads": leads,
        "located_by": dict(history.counts),
        "leads_in_blocks": int(loads.sum()),
        "epsilon": eps,
        "cv_leads_per_territory": round(cv(loads), 4),
        "cv_balance_report": round(result.cv, 4),
        "min_max_leads": [int(loads.min()), int(loads.max())],
        "contiguous_territories": sum(1 for p, m in contiguity if p == m),
        "territories_on_several_land_masses": sum(1 for _, m in contiguity if m > 1),
        "land_masses": int(graph.land_mass.max()) + 1,
        "valid": report.valid,
        "overlaps": len(report.overlaps),
        "gaps": len(report.gaps),
        "seconds": round(total_s, 2),
        "stages_s": {key: round(v, 3) for key, v in times.items()},
        "blocks_artifact": artifact,
        "zip3": zip3,
        "keep": {
            "scenario": "the same history with every Texas and Florida lead doubled",
            "cv_before": round(cv(np.bincount(start, weights=graph.leads, minlength=k)), 4),
            "cv_after": round(cv(np.bincount(repaired, weights=graph.leads, minlength=k)), 4),
            "blocks_moved": int((repaired != start).sum()),
            "leads_changing_territory": len(diff.lead_moves or []),
            "leads_checked": diff.leads_checked,
            "contiguous_territories": sum(1 for p, m in keep_contiguity if p == m),
            "seconds": round(keep_s, 2),
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write-leads", type=Path, metavar="LEADS.csv",
                        help="only write the lead history (a Data Loader-shaped export) and stop")  # fmt: skip
    args = parser.parse_args(argv)
    if args.write_leads:
        args.write_leads.write_bytes(lead_history(args.leads, args.seed))
        return 0
    result = run(args.leads, args.k, args.seed)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
