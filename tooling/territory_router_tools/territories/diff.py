"""What changes between two territory sets: territories added/removed/changed and leads that would move."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.strtree import STRtree

from territory_router.domain.territory import Territory
from territory_router.territories import geo

# Geometry changes smaller than this (km², symmetric difference) are re-digitising noise, not changes.
MIN_CHANGE_KM2 = 0.01


@dataclass(frozen=True, slots=True)
class LeadPoint:
    lead_id: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class TerritoryChange:
    territory_id: str
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"territory_id": self.territory_id, "changes": list(self.changes)}


@dataclass(frozen=True, slots=True)
class LeadMove:
    lead_id: str
    lon: float
    lat: float
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "lon": self.lon, "lat": self.lat, "old": self.old, "new": self.new}


@dataclass
class TerritoryDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[TerritoryChange] = field(default_factory=list)
    lead_moves: list[LeadMove] | None = None
    leads_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "added": self.added,
            "removed": self.removed,
            "changed": [c.to_dict() for c in self.changed],
        }
        if self.lead_moves is not None:
            out["leads_checked"] = self.leads_checked
            out["lead_moves"] = [m.to_dict() for m in self.lead_moves]
        return out

    def format_text(self, *, max_items: int = 50) -> str:
        lines = [
            f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"
            + (
                f"; {len(self.lead_moves)} of {self.leads_checked} leads would change territory"
                if self.lead_moves is not None
                else ""
            )
        ]
        for title, ids in (("Added", self.added), ("Removed", self.removed)):
            if ids:
                more = f", ... and {len(ids) - max_items} more" if len(ids) > max_items else ""
                lines.append(f"\n{title} ({len(ids)}): " + ", ".join(ids[:max_items]) + more)
        if self.changed:
            lines.append(f"\nChanged ({len(self.changed)}):")
            for change in self.changed[:max_items]:
                lines.append(f"  - {change.territory_id}: " + "; ".join(change.changes))
        if self.lead_moves:
            lines.append(f"\nLeads that would move ({len(self.lead_moves)}):")
            for move in self.lead_moves[:max_items]:
                lines.append(
                    f"  - {move.lead_id} ({move.lat:.5f}, {move.lon:.5f}): {move.old or '-'} -> {move.new or '-'}"
                )
        return "\n".join(lines)


def _describe_changes(old: Territory, new: Territory, min_change_km2: float) -> list[str]:
    out = []
    if old.name != new.name:
        out.append(f"name {old.name!r} -> {new.name!r}")
    if old.priority != new.priority:
        out.append(f"priority {old.priority} -> {new.priority}")
    if (old.geometry is None) != (new.geometry is None):
        out.append("polygon added" if new.geometry is not None else "polygon removed")
    elif (
        old.geometry is not None
        and new.geometry is not None
        and not old.geometry.equals_exact(new.geometry, 0)
    ):
        gained = geo.area_km2(geo.polygonal_part(new.geometry.difference(old.geometry)))
        lost = geo.area_km2(geo.polygonal_part(old.geometry.difference(new.geometry)))
        if gained >= min_change_km2 or lost >= min_change_km2:
            out.append(f"area +{gained:,.2f} km² / -{lost:,.2f} km²")
    for attr, label in (("postal_codes", "postal codes"), ("regions", "regions")):
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            out.append(f"{label} +{len(after - before)} / -{len(before - after)}")
    if old.metadata != new.metadata:
        keys = sorted(
            k for k in set(old.metadata) | set(new.metadata) if old.metadata.get(k) != new.metadata.get(k)
        )
        out.append("metadata " + ", ".join(map(str, keys)))
    return out


def locate(territories: Sequence[Territory], points: Sequence[LeadPoint]) -> list[str | None]:
    """The winning polygon territory of each point (first in precedence order containing it), or None."""
    polys = [t for t in territories if t.geometry is not None]
    if not polys or not points:
        return [None] * len(points)
    tree = STRtree([t.geometry for t in polys])
    pts = shapely.points(np.array([(p.lon, p.lat) for p in points], dtype=float))
    point_idx, poly_idx = tree.query(pts, predicate="intersects")
    best = np.full(len(points), len(polys), dtype=int)
    np.minimum.at(best, point_idx, poly_idx)
    return [polys[b].territory_id if b < len(polys) else None for b in best]


def diff_sets(
    old: Sequence[Territory],
    new: Sequence[Territory],
    *,
    leads: Sequence[LeadPoint] | None = None,
    min_change_km2: float = MIN_CHANGE_KM2,
) -> TerritoryDiff:
    """Compare two sets (each in precedence order). With ``leads``, list the leads whose territory changes."""
    old_by, new_by = {t.territory_id: t for t in old}, {t.territory_id: t for t in new}
    result = TerritoryDiff(
        added=sorted(set(new_by) - set(old_by)),
        removed=sorted(set(old_by) - set(new_by)),
    )
    for tid in sorted(set(old_by) & set(new_by)):
        changes = _describe_changes(old_by[tid], new_by[tid], min_change_km2)
        if changes:
            result.changed.append(TerritoryChange(tid, tuple(changes)))
    if leads is not None:
        before, after = locate(old, leads), locate(new, leads)
        result.leads_checked = len(leads)
        result.lead_moves = [
            LeadMove(p.lead_id, p.lon, p.lat, b, a)
            for p, b, a in zip(leads, before, after, strict=True)
            if b != a
        ]
    return result


def read_leads_csv(data: bytes) -> tuple[list[LeadPoint], int]:
    """Leads from a CSV with ``Id``, ``Latitude``, ``Longitude`` columns (Salesforce report export).

    Returns the points and the number of rows skipped (no or bad coordinates).
    """
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or [] if c}
    id_col = next((columns[k] for k in ("id", "lead_id", "leadid", "lead id") if k in columns), None)
    lat_col = next((columns[k] for k in ("latitude", "lat") if k in columns), None)
    lon_col = next((columns[k] for k in ("longitude", "lon", "lng") if k in columns), None)
    if lat_col is None or lon_col is None:
        raise ValueError(f"leads CSV needs Latitude and Longitude columns (found: {', '.join(columns)})")
    points: list[LeadPoint] = []
    skipped = 0
    for n, row in enumerate(reader, start=1):
        try:
            lat, lon = float(row[lat_col]), float(row[lon_col])
        except (TypeError, ValueError):
            skipped += 1
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            skipped += 1
            continue
        lead_id = (row.get(id_col) or "").strip() if id_col else ""
        points.append(LeadPoint(lead_id or f"row {n}", lon, lat))
    return points, skipped
