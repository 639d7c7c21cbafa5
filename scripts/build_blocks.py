"""Build the compact building-block artifact the upload function compiles block CSVs with.

    .venv/bin/python scripts/build_blocks.py [--counties PATH] [--states PATH]

Reads the US Census 2017 county boundaries (us-atlas, ISC; ``/work/shared/data/us_counties.geojson`` or the copy
in tests/data) and the state names (tooling data/us_states.geojson), and writes
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
from territory_router.territories.blocks import BlockCatalog, write_artifact  # noqa: E402

DATA = REPO / "layers" / "shared" / "territory_router" / "data"
TOOLS_DATA = REPO / "tooling" / "territory_router_tools" / "data"
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


ZIP3_SIMPLIFY = 0.03  # coverage_simplify tolerance (square root of the smallest triangle area kept, in degrees)


def zip3_areas(cat, gazetteer: Gazetteer) -> tuple[list[tuple[str, list[str], object]], dict]:
    """Approximate 3-digit ZIP areas: per state, the Voronoi cells of its located ZIP centroids (the ZIPs the
    catalog puts in its counties), clipped to the state (the union of its counties) and dissolved per prefix. The
    pieces of every state are then noded together (so neighbours share identical edges: a clean coverage) and
    simplified as a coverage. These are approximations of USPS areas, not official boundaries."""
    located = np.flatnonzero(gazetteer.zip_lat != NO_LOCATION)
    by_state: dict[str, dict[tuple[float, float], list[str]]] = {}
    for i in located.tolist():
        code = f"{int(gazetteer.zips[i]):05d}"
        fips = cat.county_of_zip(code)
        if fips is None:
            continue
        point = (int(gazetteer.zip_lon[i]) / SCALE_GAZ, int(gazetteer.zip_lat[i]) / SCALE_GAZ)
        by_state.setdefault(cat.counties[fips].state, {}).setdefault(point, []).append(code[:3])
    pieces: dict[str, list] = {}
    zips_in: dict[str, dict[str, int]] = {}
    shared_points = 0
    for usps, points in sorted(by_state.items()):
        outline = cat.state_geometry(usps)
        keys = list(points)
        # several ZIPs on one centroid (PO boxes at their post office): the cell goes to the prefix most of them have
        owners = [max(sorted(set(v)), key=v.count) for v in points.values()]
        shared_points += sum(1 for v in points.values() if len(set(v)) > 1)
        for v in points.values():
            for prefix in v:
                zips_in.setdefault(prefix, {}).setdefault(usps, 0)
                zips_in[prefix][usps] += 1
        if len(keys) == 1:
            cells = [outline]
        else:
            frame = shapely.box(*outline.bounds).buffer(1.0)
            cells = list(shapely.voronoi_polygons(shapely.MultiPoint(keys), extend_to=frame, ordered=True).geoms)
        clipped = shapely.intersection(np.array(cells, dtype=object), outline)
        by_prefix: dict[str, list] = {}
        for prefix, cell in zip(owners, clipped, strict=True):
            by_prefix.setdefault(prefix, []).append(cell)
        for prefix, cells_of_prefix in by_prefix.items():
            pieces.setdefault(prefix, []).append(shapely.union_all(cells_of_prefix))
    prefixes = sorted(pieces)
    raw = np.array([shapely.union_all(pieces[p]) for p in prefixes], dtype=object)
    # node every edge once and hand each face to the area holding it: identical shared edges across state lines
    faces = list(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(raw)))).geoms)
    inside, owner = shapely.STRtree(raw).query(shapely.point_on_surface(np.array(faces, dtype=object)), predicate="within")
    by_owner: dict[int, list] = {}
    for f, o in zip(inside.tolist(), owner.tolist(), strict=True):
        by_owner.setdefault(o, []).append(faces[f])
    coverage = np.array([shapely.coverage_union_all(by_owner[i]) for i in range(len(prefixes))], dtype=object)
    simple = shapely.coverage_simplify(coverage, ZIP3_SIMPLIFY)
    rows = []
    for prefix, geometry in zip(prefixes, simple, strict=True):
        states = sorted(zips_in[prefix], key=lambda s: (-zips_in[prefix][s], s))
        rows.append((prefix, states, geometry))
    figures = {
        "zip3_areas": len(rows),
        "zip3_vertices": int(shapely.get_num_coordinates(simple).sum()),
        "zip3_coverage_valid": bool(shapely.coverage_is_valid(simple)),
        "zip3_centroids_shared_by_prefixes": shared_points,
        "zip3_simplify": ZIP3_SIMPLIFY,
    }
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counties", type=Path, default=SHARED if SHARED.exists() else TESTS_COPY)
    parser.add_argument("--states", type=Path, default=TOOLS_DATA / "us_states.geojson")
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
    kwargs = {"state_fips": {v: k for k, v in usps.items()}, "state_names": state_names, "zips": zips}
    # the ZIP3 areas are clipped to the states exactly as the runtime decodes them: from a first pass's artifact
    catalog = BlockCatalog.from_bytes(write_artifact(rows, **kwargs))
    zip3, zip3_figures = zip3_areas(catalog, gazetteer)
    figures.update(zip3_figures)
    source.update(zip3_figures)
    data = write_artifact(rows, **kwargs, zip_source=source, zip3=zip3)
    args.out.write_bytes(data)
    print(f"{args.out.relative_to(REPO)}: {len(rows)} counties, {len(usps)} states, {len(zips):,} ZIPs "
          f"({figures}), {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
