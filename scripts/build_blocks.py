"""Build the compact building-block artifact the upload function compiles block CSVs with.

    .venv/bin/python scripts/build_blocks.py [--counties PATH] [--states PATH]

Reads the US Census 2017 county boundaries (us-atlas, ISC; ``/work/shared/data/us_counties.geojson`` or the copy
in tests/data) and the state names (data/us_states.geojson), and writes
``layers/shared/territory_router/data/us_blocks.bin``: every county's polygons with its 5-digit FIPS code, name
and state (USPS code), coordinates rounded to 1e-6° (about 0.1 m: every shared border stays shared, so adjacent
counties still dissolve without slivers), delta-encoded and zlib-compressed. States are the union of their
counties (same topology), so no second geometry ships. Every located US ZIP of data/gazetteer.bin (read with the
gazetteer's own reader) is attached to the county its centroid falls in, or, for a centroid in no county (offshore),
to the nearest county of its state (for the postal fallback of county and state territories). Format:
``territories/blocks.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
import shapely.ops  # noqa: E402

from territory_router.geography.distance import haversine_km  # noqa: E402
from territory_router.geography.gazetteer import NO_LOCATION, Gazetteer  # noqa: E402
from territory_router.geography.gazetteer import SCALE as SCALE_GAZ  # noqa: E402
from territory_router.geography.regions import US_STATES  # noqa: E402
from territory_router.territories.blocks import write_artifact  # noqa: E402

DATA = REPO / "layers" / "shared" / "territory_router" / "data"
SHARED = Path("/work/shared/data/us_counties.geojson")
TESTS_COPY = REPO / "tests" / "data" / "us_counties.geojson"


def zip_counties(rows, gazetteer: Gazetteer) -> tuple[dict[str, str], dict[str, float]]:
    """Every located US ZIP of the gazetteer -> the county its centroid falls in (point in polygon). A centroid in no
    county (offshore, on an islet the 1:10m boundaries leave out) goes to the nearest county of the ZIP's own
    state. Returns the mapping and a few figures for the build log."""
    polygons = []
    owners = []
    for fips, _name, _usps, parts in rows:
        for polygon in parts:
            if len(polygon[0]) >= 4:
                polygons.append(shapely.Polygon(polygon[0], polygon[1:]))
                owners.append(fips)
    owners_arr = np.array(owners)
    tree = shapely.STRtree(polygons)
    located = np.flatnonzero(gazetteer.zip_lat != NO_LOCATION)
    lon = gazetteer.zip_lon[located] / SCALE_GAZ
    lat = gazetteer.zip_lat[located] / SCALE_GAZ
    points = shapely.points(np.column_stack([lon, lat]))
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    first = np.full(len(points), -1)
    order = np.lexsort((poly_idx, point_idx))  # on a shared border: the polygon listed first
    for p, g in zip(point_idx[order][::-1].tolist(), poly_idx[order][::-1].tolist(), strict=True):
        first[p] = g
    out: dict[str, str] = {}
    nearest_km: list[float] = []
    state_of = {fips: usps for fips, _name, usps, _parts in rows}
    other_state = 0
    for k, gi in enumerate(located.tolist()):
        code = f"{int(gazetteer.zips[gi]):05d}"
        usps = gazetteer.states[int(gazetteer.zip_state[gi])][1]
        if first[k] >= 0:
            fips = str(owners_arr[first[k]])
            other_state += state_of[fips] != usps
        else:
            candidates = [j for j, owner in enumerate(owners) if state_of[owner] == usps]
            if not candidates:
                continue  # Palau, the Marshall Islands, an APO: no US county there
            sub = [polygons[j] for j in candidates]
            distances = shapely.distance(np.array(sub, dtype=object), points[k])
            j = candidates[int(np.argmin(distances))]
            fips = owners[j]
            near = shapely.ops.nearest_points(polygons[j], points[k])[0]
            nearest_km.append(haversine_km(lon[k], lat[k], near.x, near.y))
        out[code] = fips
    figures = {
        "located_zips": len(located),
        "by_nearest_county": len(nearest_km),
        "nearest_max_km": round(max(nearest_km, default=0.0), 1),
        "centroid_in_another_state": int(other_state),
    }
    return out, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counties", type=Path, default=SHARED if SHARED.exists() else TESTS_COPY)
    parser.add_argument("--states", type=Path, default=DATA / "us_states.geojson")
    parser.add_argument("--gazetteer", type=Path, default=DATA / "gazetteer.bin", help="the ZIP centroids")
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
    gazetteer = Gazetteer.from_bytes(args.gazetteer.read_bytes())
    zips, figures = zip_counties(rows, gazetteer)
    source = {
        "gazetteer_sha256": hashlib.sha256(args.gazetteer.read_bytes()).hexdigest(),
        "zipcodes": gazetteer.header["sources"]["zipcodes"]["version"],
        **figures,
    }
    data = write_artifact(
        rows, state_fips={v: k for k, v in usps.items()}, state_names=state_names, zips=zips, zip_source=source
    )
    args.out.write_bytes(data)
    print(f"{args.out.relative_to(REPO)}: {len(rows)} counties, {len(usps)} states, {len(zips):,} ZIPs "
          f"({figures}), {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
