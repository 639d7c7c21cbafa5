"""A lead history (Salesforce Data Loader export) located on the building blocks.

Columns are matched case-insensitively by their Lead API names: ``Id``, ``Latitude``, ``Longitude``,
``PostalCode`` (``lat``/``lon``/``lng``/``zip``/``postal_code`` work too). A lead is located by its coordinates
when it has them, else by its ZIP code's centroid (the offline gazetteer the tagger uses: every US ZIP), else by the
centre of its 3-digit ZIP area (the mean of the gazetteer's ZIPs with that prefix: approximate, reported as such).
Leads that none of these place are counted as unlocated.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from territory_router.geography.gazetteer import NO_LOCATION, SCALE, default_gazetteer
from territory_router.geography.postal import normalise_postal_code


class LeadFileError(ValueError):
    """The lead file cannot be read (one line, for the CLI)."""


@dataclass
class LeadHistory:
    ids: list[str]
    lonlat: np.ndarray  # (N, 2), NaN where the lead could not be placed
    how: list[str]  # "coordinates" | "zip" | "zip3" | "unlocated"
    postal: list[str | None] = field(default_factory=list)  # the lead's US ZIP (normalised), None without one
    skipped_rows: int = 0
    counts: Counter = field(default_factory=Counter)

    @property
    def located(self) -> np.ndarray:
        return ~np.isnan(self.lonlat[:, 0])


@lru_cache(maxsize=1)
def _zip3_centres() -> dict[str, tuple[float, float]]:
    """ZIP3 prefix -> the mean (lon, lat) of the gazetteer's located ZIPs with that prefix."""
    gaz = default_gazetteer()
    ok = gaz.zip_lat != NO_LOCATION
    prefix = gaz.zips[ok] // 100
    lon, lat = gaz.zip_lon[ok] / SCALE, gaz.zip_lat[ok] / SCALE
    keys, inverse, counts = np.unique(prefix, return_inverse=True, return_counts=True)
    mean_lon = np.bincount(inverse, weights=lon) / counts
    mean_lat = np.bincount(inverse, weights=lat) / counts
    return {f"{int(k):03d}": (float(x), float(y)) for k, x, y in zip(keys, mean_lon, mean_lat, strict=True)}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def read_lead_history(data: bytes, name: str = "leads.csv") -> LeadHistory:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LeadFileError(f"{name} is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or [] if c}

    def col(*names: str) -> str | None:
        return next((columns[n] for n in names if n in columns), None)

    id_col = col("id", "lead_id", "leadid")
    lat_col, lon_col = col("latitude", "lat"), col("longitude", "lon", "lng")
    postal_col = col("postalcode", "postal_code", "zip", "zip_code", "zipcode")
    if (lat_col is None or lon_col is None) and postal_col is None:
        raise LeadFileError(
            f"{name} needs Latitude and Longitude columns or a PostalCode column (found: {', '.join(columns) or 'none'})"
        )
    gaz = default_gazetteer() if postal_col else None
    ids: list[str] = []
    points: list[tuple[float, float]] = []
    how: list[str] = []
    postal: list[str | None] = []
    for n, row in enumerate(reader, start=1):
        lat = _float(row.get(lat_col)) if lat_col else None
        lon = _float(row.get(lon_col)) if lon_col else None
        ids.append(((row.get(id_col) or "").strip() if id_col else "") or f"row {n}")
        code = normalise_postal_code(row.get(postal_col), "US") if postal_col else None
        postal.append(code)
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
            points.append((lon, lat))
            how.append("coordinates")
            continue
        place = gaz.postal(code) if gaz is not None and code else None
        if place is not None:
            points.append((place.longitude, place.latitude))
            how.append("zip")
        elif code and code[:3] in _zip3_centres():
            points.append(_zip3_centres()[code[:3]])
            how.append("zip3")
        else:
            points.append((np.nan, np.nan))
            how.append("unlocated")
    if not ids:
        raise LeadFileError(f"{name} has a header but no leads")
    return LeadHistory(ids, np.array(points, dtype=float).reshape(-1, 2), how, postal, counts=Counter(how))
