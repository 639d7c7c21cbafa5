"""Build the compact building-block artifact the upload function compiles block CSVs with.

    .venv/bin/python scripts/build_blocks.py [--counties PATH] [--states PATH]

Reads the US Census 2017 county boundaries (us-atlas, ISC; ``/work/shared/data/us_counties.geojson`` or the copy
in tests/data) and the state names (data/us_states.geojson), and writes
``layers/shared/territory_router/data/us_blocks.bin``: every county's polygons with its 5-digit FIPS code, name
and state (USPS code), coordinates rounded to 1e-6° (about 0.1 m: every shared border stays shared, so adjacent
counties still dissolve without slivers), delta-encoded and zlib-compressed. States are the union of their
counties (same topology), so no second geometry ships. Format: ``territories/blocks.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

from territory_router.tagging.regions import US_STATES  # noqa: E402
from territory_router.territories.blocks import write_artifact  # noqa: E402

DATA = REPO / "layers" / "shared" / "territory_router" / "data"
SHARED = Path("/work/shared/data/us_counties.geojson")
TESTS_COPY = REPO / "tests" / "data" / "us_counties.geojson"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counties", type=Path, default=SHARED if SHARED.exists() else TESTS_COPY)
    parser.add_argument("--states", type=Path, default=DATA / "us_states.geojson")
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
    data = write_artifact(rows, state_fips={v: k for k, v in usps.items()}, state_names=state_names)
    args.out.write_bytes(data)
    print(f"{args.out.relative_to(REPO)}: {len(rows)} counties, {len(usps)} states, {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
