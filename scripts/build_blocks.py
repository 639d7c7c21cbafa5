"""Build the compact building-block artifact the upload function compiles block CSVs with.

    .venv/bin/python scripts/build_blocks.py [--counties PATH] [--states PATH]

Reads the US Census 2017 county boundaries (us-atlas, ISC; ``/work/shared/data/us_counties.geojson`` or the copy
in tests/data) and the state names (data/us_states.geojson), and writes
``layers/shared/territory_router/data/us_blocks.bin``: every county's polygons with its 5-digit FIPS code, name
and state (USPS code), coordinates rounded to 1e-6° (about 0.1 m: every shared border stays shared, so adjacent
counties still dissolve without slivers), delta-encoded and zlib-compressed. States are the union of their
counties (same topology), so no second geometry ships. The ZIPs of data/us_zip_sample.csv are attached to the
county their centroid falls in (for the postal fallback of county and state territories). Format:
``territories/blocks.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

from territory_router.geography.regions import US_STATES  # noqa: E402
from territory_router.territories.blocks import write_artifact  # noqa: E402

DATA = REPO / "layers" / "shared" / "territory_router" / "data"
TOOLS_DATA = REPO / "tooling" / "territory_router_tools" / "data"
SHARED = Path("/work/shared/data/us_counties.geojson")
TESTS_COPY = REPO / "tests" / "data" / "us_counties.geojson"


def zip_counties(rows) -> dict[str, list[str]]:
    """The ZIPs of the shipped ZIP sample (every 10th US ZIP, zipcodes package, MIT) by the county their centroid
    falls in: block territories list them (and the ZIP3 prefixes wholly inside them) for the postal fallback."""
    import csv

    import shapely

    polygons = []
    owners = []
    for fips, _name, _usps, parts in rows:
        for polygon in parts:
            if len(polygon[0]) >= 4:
                polygons.append(shapely.Polygon(polygon[0], polygon[1:]))
                owners.append(fips)
    tree = shapely.STRtree(polygons)
    out: dict[str, list[str]] = {}
    with (TOOLS_DATA / "us_zip_sample.csv").open() as handle:
        for z in csv.DictReader(handle):
            lat, lon = float(z["lat"] or 0), float(z["lon"] or 0)
            if lat == 0 and lon == 0:
                continue
            hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
            if len(hits):
                out.setdefault(owners[int(min(hits))], []).append(z["zip_code"])
    return {fips: sorted(codes) for fips, codes in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counties", type=Path, default=SHARED if SHARED.exists() else TESTS_COPY)
    parser.add_argument("--states", type=Path, default=TOOLS_DATA / "us_states.geojson")
    parser.add_argument("--out", type=Path, default=DATA / "us_blocks.bin")
    args = parser.parse_args(argv)

    by_name = {name: code for code, name in US_STATES.items()}
    states = json.loads(args.states.read_text())
    usps = {f["id"]: by_name[f["properties"]["name"]] for f in states["features"]}
    state_names = {usps[f["id"]]: f["properties"]["name"] for f in states["features"]}
    counties = json.loads(args.counties.read_text())["features"]
    rows = []
    for feature in counties:
        fips = str(feature["id"])
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        rows.append((fips, feature["properties"]["name"], usps[fips[:2]], polygons))
    zips = zip_counties(rows)
    data = write_artifact(rows, state_fips={v: k for k, v in usps.items()}, state_names=state_names, zips=zips)
    args.out.write_bytes(data)
    print(f"{args.out.relative_to(REPO)}: {len(rows)} counties, {len(usps)} states, {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
