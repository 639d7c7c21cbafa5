"""What validation says about an uploaded territory set: issues, overlaps, gaps and the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry

from territory_router.domain.territory import Territory, TerritorySet

# Limits of one upload. Files above them are refused before parsing (size) or after (features, vertices).
MAX_FILE_BYTES = 50_000_000  # 50 MB
MAX_FEATURES = 20_000
MAX_VERTICES = 5_000_000

# Intersections smaller than this are shared borders or digitising noise, not overlaps.
MIN_OVERLAP_KM2 = 0.01
# Uncovered areas smaller than this are not listed as gaps.
MIN_GAP_KM2 = 0.01


class Severity(StrEnum):
    ERROR = "ERROR"  # the feature (and therefore the upload) is rejected
    WARNING = "WARNING"  # repaired or worth a look; the set is still usable


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about one territory (or one file when the file itself is unusable)."""

    territory: str
    reason: str
    code: str = ""
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "territory": self.territory,
            "reason": self.reason,
            "code": self.code,
            "severity": str(self.severity),
        }


class Checker:
    """The issues found on one feature (or file), labelled with it; ``failed`` once any is an ERROR."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.issues: list[Issue] = []

    def error(self, reason: str, code: str) -> None:
        self.issues.append(Issue(self.label, reason, code, Severity.ERROR))

    def warn(self, reason: str, code: str) -> None:
        self.issues.append(Issue(self.label, reason, code, Severity.WARNING))

    @property
    def failed(self) -> bool:
        return any(i.severity is Severity.ERROR for i in self.issues)


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two territories covering the same ground. ``winner`` is the one that gets the leads there."""

    a: str
    b: str
    area_km2: float
    winner: str
    resolution: str
    centroid: list[float] | None = None  # [lon, lat]
    bbox: list[float] | None = None
    leads: int | None = None  # leads inside the overlap, when leads were given
    postal_codes: tuple[str, ...] = ()  # postal codes listed by both (for postal-code territories)
    regions: tuple[str, ...] = ()  # regions listed by both
    block: str | None = None  # the building block (county, state) listed by both, for block territories
    geometry: BaseGeometry | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "a": self.a,
            "b": self.b,
            "area_km2": round(self.area_km2, 3),
            "winner": self.winner,
            "resolution": self.resolution,
        }
        if self.centroid is not None:
            out["centroid"] = self.centroid
        if self.bbox is not None:
            out["bbox"] = self.bbox
        if self.leads is not None:
            out["leads"] = self.leads
        if self.postal_codes:
            out["postal_codes"] = list(self.postal_codes)
        if self.regions:
            out["regions"] = list(self.regions)
        if self.block:
            out["block"] = self.block
        return out


@dataclass(frozen=True, slots=True)
class Gap:
    """Ground inside the coverage boundary (or enclosed by territories) that no territory covers."""

    area_km2: float
    centroid: list[float]  # [lon, lat]
    bbox: list[float]  # [min lon, min lat, max lon, max lat]
    leads: int | None = None
    block: str | None = None  # the building block no territory lists (block territories)
    geometry: BaseGeometry | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "area_km2": round(self.area_km2, 3),
            "centroid": self.centroid,
            "bbox": self.bbox,
        }
        if self.leads is not None:
            out["leads"] = self.leads
        if self.block:
            out["block"] = self.block
        return out


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """How strict validation is. ``leads`` are ``(lon, lat)`` points used to count leads in overlaps/gaps."""

    # Reject any overlap larger than this (km²); None = allow overlaps and resolve them by precedence.
    strict_overlap_km2: float | None = None
    # lon/lat boundary that should be fully covered; gaps are measured inside it.
    coverage: BaseGeometry | None = None
    leads: tuple[tuple[float, float], ...] | None = None
    default_country: str = "US"
    repair: bool = True  # repair invalid geometries with make_valid (WARNING) instead of rejecting them
    find_gaps: bool = True
    max_gaps: int = 20
    min_overlap_km2: float = MIN_OVERLAP_KM2
    min_gap_km2: float = MIN_GAP_KM2
    max_file_bytes: int = MAX_FILE_BYTES
    max_features: int = MAX_FEATURES
    max_vertices: int = MAX_VERTICES
    catch_all_territory_id: str | None = None


@dataclass
class ValidationReport:
    """The verdict on an upload. ``territory_set`` is set only when the upload is usable (``valid``)."""

    valid: bool
    territory_set: TerritorySet | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    # Every territory that passed its own checks, in precedence order (also when the upload is rejected,
    # so a map/diff of a rejected upload can still be drawn).
    territories: tuple[Territory, ...] = ()
    sources: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``territories validate --json`` shape, also stored as ``reports/<version>.json``."""
        return {
            "valid": self.valid,
            "territories": len(self.territories),
            "sources": list(self.sources),
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "overlaps": [o.to_dict() for o in self.overlaps],
            "gaps": [g.to_dict() for g in self.gaps],
            "stats": self.stats,
        }

    def summary(self) -> str:
        verdict = "VALID" if self.valid else "REJECTED"
        return (
            f"{verdict}: {len(self.territories)} territories, {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings, {len(self.overlaps)} overlaps, {len(self.gaps)} gaps"
        )

    def format_text(self, *, max_items: int = 50) -> str:
        """A readable report for people (the CLI without ``--json``)."""
        lines = [self.summary()]
        if self.sources:
            lines.append("files: " + ", ".join(self.sources))
        for title, issues in (("Errors", self.errors), ("Warnings", self.warnings)):
            if issues:
                lines.append(f"\n{title} ({len(issues)}):")
                for issue in issues[:max_items]:
                    code = f" [{issue.code}]" if issue.code else ""
                    lines.append(f"  - {issue.territory}: {issue.reason}{code}")
                if len(issues) > max_items:
                    lines.append(f"  ... and {len(issues) - max_items} more")
        if self.overlaps:
            lines.append(f"\nOverlaps ({len(self.overlaps)}):")
            for ov in self.overlaps[:max_items]:
                extra = _leads_text(ov.leads)
                if ov.block:
                    lines.append(f"  - {ov.a} / {ov.b}: both list {ov.block}{extra} -> {ov.resolution}")
                elif ov.postal_codes or ov.regions:
                    what = ", ".join((*ov.postal_codes, *ov.regions)[:5])
                    lines.append(f"  - {ov.a} / {ov.b}: shared {what}{extra} -> {ov.resolution}")
                else:
                    lines.append(f"  - {ov.a} / {ov.b}: {ov.area_km2:,.2f} km²{extra} -> {ov.resolution}")
            if len(self.overlaps) > max_items:
                lines.append(f"  ... and {len(self.overlaps) - max_items} more")
        if self.gaps:
            lines.append(f"\nLargest gaps ({len(self.gaps)}):")
            for gap in self.gaps[:max_items]:
                extra = _leads_text(gap.leads)
                where = f"{gap.block}: " if gap.block else ""
                lines.append(
                    f"  - {where}{gap.area_km2:,.2f} km² around lon {gap.centroid[0]}, lat {gap.centroid[1]}{extra}"
                )
            if len(self.gaps) > max_items:
                lines.append(f"  ... and {len(self.gaps) - max_items} more")
        return "\n".join(lines)


def _leads_text(count: int | None) -> str:
    if count is None:
        return ""
    return f", {count} lead{'' if count == 1 else 's'}"
