"""A lead history (Salesforce Data Loader export) located on the building blocks.

Columns are matched case-insensitively by their Lead API names: ``Id``, ``Latitude``, ``Longitude``,
``PostalCode`` (``lat``/``lon``/``lng``/``zip``/``postal_code`` work too). A lead is located by its coordinates
when it has them, else by its ZIP code's centroid (the ZIP sample shipped for the demo: every 10th US ZIP), else by
the centre of its 3-digit ZIP area (the mean of the sample's ZIPs with that prefix: approximate, reported as such).
Leads that none of these place are counted as unlocated.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from territory_router.geography.postal import normalise_postal_code


class LeadFileError(ValueError):
    """The lead file cannot be read (one line, for the CLI)."""


@dataclass
class LeadHistory:
    ids: list[str]
    lonlat: np.ndarray  # (N, 2), NaN where the lead could not be placed
    how: list[str]  # "coordinates" | "zip" | "zip3" | "unlocated"
    skipped_rows: int = 0
    counts: Counter = field(default_factory=Counter)

    @property
    def located(self) -> np.ndarray:
        return ~np.isnan(self.lonlat[:, 0])


def _zip_centroids() -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    from territory_router_tools.demo.leads import load_zips

    by_zip: dict[str, tuple[float, float]] = {}
    by_zip3: dict[str, list[tuple[float, float]]] = {}
    for z in load_zips():
        if z.lat == 0 and z.lon == 0:  # APO/FPO: no place
            continue
        by_zip[z.code] = (z.lon, z.lat)
        by_zip3.setdefault(z.code[:3], []).append((z.lon, z.lat))
    return by_zip, {k: tuple(np.mean(v, axis=0)) for k, v in by_zip3.items()}


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
    by_zip, by_zip3 = _zip_centroids() if postal_col else ({}, {})
    ids: list[str] = []
    points: list[tuple[float, float]] = []
    how: list[str] = []
    for n, row in enumerate(reader, start=1):
        lat = _float(row.get(lat_col)) if lat_col else None
        lon = _float(row.get(lon_col)) if lon_col else None
        ids.append(((row.get(id_col) or "").strip() if id_col else "") or f"row {n}")
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
            points.append((lon, lat))
            how.append("coordinates")
            continue
        code = normalise_postal_code(row.get(postal_col), "US") if postal_col else None
        if code and code in by_zip:
            points.append(by_zip[code])
            how.append("zip")
        elif code and code[:3] in by_zip3:
            points.append(by_zip3[code[:3]])
            how.append("zip3")
        else:
            points.append((np.nan, np.nan))
            how.append("unlocated")
    if not ids:
        raise LeadFileError(f"{name} has a header but no leads")
    return LeadHistory(ids, np.array(points, dtype=float).reshape(-1, 2), how, counts=Counter(how))
