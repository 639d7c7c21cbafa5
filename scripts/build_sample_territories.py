"""Build the demo's sales-region territories from the real Census state boundaries.

    .venv/bin/python scripts/build_sample_territories.py

Writes tooling/territory_router_tools/data/sample_territories.geojson: US states dissolved into nine sales
regions (not simplified, so neighbours share exact borders; coordinates rounded to 1e-4°), each with the USPS codes of its states in ``regions`` so leads that carry
only a state still find their territory. Source data: data/ATTRIBUTION.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

DATA = Path(__file__).resolve().parents[1] / "tooling" / "territory_router_tools" / "data"

STATE_CODES = {
    "Alabama": "AL", "Alaska": "AK", "American Samoa": "AS", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Florida": "FL",
    "Georgia": "GA", "Guam": "GU", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
    "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Commonwealth of the Northern Mariana Islands": "MP", "Ohio": "OH",
    "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA", "Puerto Rico": "PR", "Rhode Island": "RI",
    "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "United States Virgin Islands": "VI",
}

REGIONS = {
    "WEST": ("West", ["CA", "OR", "WA", "NV"]),
    "MOUNTAIN": ("Mountain", ["AZ", "CO", "ID", "MT", "NM", "UT", "WY"]),
    "MIDWEST": ("Midwest", ["IL", "IN", "IA", "KS", "MI", "MN", "MO", "NE", "ND", "OH", "SD", "WI"]),
    "SOUTH_CENTRAL": ("South Central", ["TX", "OK", "AR", "LA"]),
    "SOUTHEAST": ("Southeast", ["AL", "FL", "GA", "KY", "MS", "NC", "SC", "TN"]),
    "MID_ATLANTIC": ("Mid-Atlantic", ["DE", "DC", "MD", "NJ", "PA", "VA", "WV"]),
    "NORTHEAST": ("Northeast", ["CT", "ME", "MA", "NH", "NY", "RI", "VT"]),
    "PACIFIC": ("Pacific", ["AK", "HI", "AS", "GU", "MP"]),
    "PUERTO_RICO": ("Puerto Rico & USVI", ["PR", "VI"]),
}


def main() -> None:
    states = json.loads((DATA / "us_states.geojson").read_text())
    by_code = {}
    for feature in states["features"]:
        geom = shapely.make_valid(shape(feature["geometry"]))
        by_code[STATE_CODES[feature["properties"]["name"]]] = geom
    features = []
    for territory_id, (name, codes) in REGIONS.items():
        merged = shapely.union_all([by_code[c] for c in codes])
        merged = shapely.make_valid(merged)
        polys = [g for g in getattr(merged, "geoms", [merged]) if g.geom_type == "Polygon" and not g.is_empty]
        merged = shapely.MultiPolygon(polys)
        features.append(
            {
                "type": "Feature",
                "id": territory_id,
                "properties": {
                    "territory_id": territory_id,
                    "name": name,
                    "regions": [f"US-{c}" for c in codes],
                    "sla_minutes": 60,
                },
                "geometry": json.loads(json.dumps(mapping(shapely.set_precision(merged, 1e-4)))),
            }
        )
    out = {"type": "FeatureCollection", "name": "Sample sales regions (US Census 2017 states)", "features": features}
    path = DATA / "sample_territories.geojson"
    path.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB, {len(features)} territories)")


if __name__ == "__main__":
    main()
