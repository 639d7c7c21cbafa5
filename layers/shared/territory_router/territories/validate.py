"""Turn uploaded files into a usable ``TerritorySet``, or explain, feature by feature, why not.

Each feature is checked on its raw coordinates first (so the admin hears "ring 2 is not closed" rather than a
generic GEOS message), then as a shapely geometry. What can be repaired safely is repaired and reported as a
WARNING; anything else is an ERROR and the whole upload is rejected (the live set stays in place).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from territory_router.domain.territory import Territory, TerritorySet
from territory_router.geography.postal import normalise_postal_code
from territory_router.geography.regions import parse_country, parse_region
from territory_router.territories import geo
from territory_router.territories.formats import FormatError, RawFeature, parse_file
from territory_router.territories.report import Issue, Severity, ValidationOptions, ValidationReport

UPLOAD = "(upload)"  # the "territory" named by issues about the upload as a whole


class _Checker:
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


def precedence_key(territory: Territory) -> tuple[Any, ...]:
    """Sort key of overlap precedence: explicit priority (lower first; none last), smallest area, then id."""
    area = territory.area_km2 if territory.area_km2 is not None else math.inf
    priority = territory.priority
    return (priority is None, priority if priority is not None else 0, area, territory.territory_id)


def order_territories(territories: Sequence[Territory]) -> tuple[Territory, ...]:
    return tuple(sorted(territories, key=precedence_key))


# --------------------------------------------------------------------------------------------------- geometry


def _fmt_point(p: Sequence[float]) -> str:
    return f"[{p[0]:.5f}, {p[1]:.5f}]"


def _ring_array(ring: Any) -> np.ndarray | None:
    """(N,2) float array of a raw ring, or None if it is not a list of numeric positions."""
    if not isinstance(ring, (list, tuple)):
        return None
    out = []
    for pos in ring:
        if not isinstance(pos, (list, tuple)) or len(pos) < 2:
            return None
        x, y = pos[0], pos[1]
        if (
            isinstance(x, bool)
            or isinstance(y, bool)
            or not isinstance(x, (int, float))
            or not isinstance(y, (int, float))
        ):
            return None
        out.append((float(x), float(y)))
    return np.array(out, dtype=float).reshape(-1, 2)


def _parts_of(geometry: dict[str, Any], check: _Checker) -> list[list[Any]] | None:
    """The polygons (each a list of raw rings) of a GeoJSON-like geometry, or None after an ERROR."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "GeometryCollection":
        members = geometry.get("geometries") or []
        parts: list[list[Any]] = []
        others = set()
        for member in members:
            if isinstance(member, dict) and member.get("type") in ("Polygon", "MultiPolygon"):
                sub = _parts_of(member, check)
                if sub is None:
                    return None
                parts.extend(sub)
            elif isinstance(member, dict):
                others.add(str(member.get("type")))
        if others and parts:
            check.warn(
                f"ignored non-polygon members of the GeometryCollection ({', '.join(sorted(others))})",
                "ignored_members",
            )
        if not parts:
            check.error("empty geometry: the GeometryCollection holds no Polygon", "empty_geometry")
            return None
        return parts
    if kind not in ("Polygon", "MultiPolygon"):
        check.error(
            f"geometry is a {kind}, not a Polygon or MultiPolygon (a territory needs an area)", "not_polygon"
        )
        return None
    if coords is None or (isinstance(coords, list) and not coords):
        check.error("empty geometry: no coordinates", "empty_geometry")
        return None
    if not isinstance(coords, list):
        check.error("malformed coordinates: expected nested lists of [lon, lat]", "malformed_coordinates")
        return None
    return [coords] if kind == "Polygon" else coords


def check_geometry(
    geometry: dict[str, Any], check: _Checker, options: ValidationOptions
) -> BaseGeometry | None:
    """Validate and (safely) repair one raw geometry. Issues go to ``check``; returns None after an ERROR."""
    parts = _parts_of(geometry, check)
    if parts is None:
        return None

    # 1. structure: every ring a list of numeric positions
    arrays: list[list[np.ndarray]] = []
    for p_index, part in enumerate(parts, start=1):
        if not isinstance(part, list):
            check.error(
                f"malformed coordinates in polygon {p_index}: expected a list of rings",
                "malformed_coordinates",
            )
            return None
        rings = []
        for r_index, ring in enumerate(part, start=1):
            arr = _ring_array(ring)
            if arr is None:
                check.error(
                    f"malformed coordinates in polygon {p_index} ring {r_index}: expected a list of [lon, lat] numbers",
                    "malformed_coordinates",
                )
                return None
            rings.append(arr)
        arrays.append(rings)
    flat = [r for rings in arrays for r in rings if len(r)]
    if not flat:
        check.error("empty geometry: no coordinates", "empty_geometry")
        return None
    allpts = np.concatenate(flat)

    # 2. numbers: finite, in range, not swapped
    if not np.isfinite(allpts).all():
        check.error("coordinates contain NaN or infinity", "non_finite")
        return None
    lon, lat = allpts[:, 0], allpts[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        if (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all():
            bad = allpts[np.argmax(np.abs(lat))]
            check.error(
                f"latitude/longitude look swapped: {_fmt_point(bad)} has |latitude| > 90 but would be valid as "
                "[lat, lon]; GeoJSON and KML order is [longitude, latitude]",
                "swapped_lat_lon",
            )
        else:
            idx = int(np.argmax(np.maximum(np.abs(lon) - 180, np.abs(lat) - 90)))
            check.error(
                f"coordinates out of range: {_fmt_point(allpts[idx])} (longitude must be within ±180, "
                "latitude within ±90; is the file in a projected coordinate system instead of WGS84?)",
                "out_of_range",
            )
        return None

    # Swapped but still in range (e.g. New York as [40.7, -74.0]): the polygon lands in the Southern Ocean or
    # Antarctica, where no sales territory lives, while [lat, lon] would be a real place.
    if (lat < -60).all() and (np.abs(lon) <= 90).all():
        check.error(
            f"latitude/longitude look swapped: every point is south of 60°S (e.g. {_fmt_point(allpts[0])}), "
            "but read as [lat, lon] they would be at "
            f"lat {allpts[0][0]:.3f}, lon {allpts[0][1]:.3f}; GeoJSON and KML order is [longitude, latitude]",
            "swapped_lat_lon",
        )
        return None

    # 3. antimeridian: consecutive points more than 180° apart in longitude
    for p_index, rings in enumerate(arrays, start=1):
        for r_index, ring in enumerate(rings, start=1):
            if len(ring) > 1:
                jumps = np.abs(np.diff(ring[:, 0]))
                if (jumps > 180).any():
                    j = int(np.argmax(jumps))
                    check.error(
                        f"polygon {p_index} ring {r_index} crosses the antimeridian (longitude jumps "
                        f"{jumps[j]:.1f}° between {_fmt_point(ring[j])} and {_fmt_point(ring[j + 1])}); "
                        "split it at ±180° into a MultiPolygon",
                        "antimeridian",
                    )
                    return None

    # 4. rings: closed, enough distinct points; drop degenerate parts when something remains
    polygons: list[Polygon] = []
    many = len(arrays) > 1
    for p_index, rings in enumerate(arrays, start=1):
        where = f"polygon {p_index} " if many else ""
        shell: np.ndarray | None = None
        holes: list[np.ndarray] = []
        for r_index, ring in enumerate(rings, start=1):
            what = f"{where}{'outer ring' if r_index == 1 else f'hole {r_index - 1}'}"
            if len(ring) and not np.array_equal(ring[0], ring[-1]):
                check.warn(
                    f"{what} is not closed (first point {_fmt_point(ring[0])} != last point "
                    f"{_fmt_point(ring[-1])}); closed it",
                    "unclosed_ring",
                )
                ring = np.vstack([ring, ring[:1]])
            distinct = _distinct_count(ring)
            if distinct < 3:
                if r_index == 1:
                    shell = None
                    reason = (
                        f"{what} has too few points ({distinct} distinct, a ring needs at least 3 distinct "
                        "points and 4 positions)"
                    )
                    if many:
                        check.warn(f"{reason}; dropped that degenerate part", "degenerate_ring")
                    else:
                        check.error(reason, "too_few_points")
                        return None
                    break
                check.warn(
                    f"{what} has too few points ({distinct} distinct); dropped that hole", "degenerate_ring"
                )
                continue
            if r_index == 1:
                shell = ring
            else:
                holes.append(ring)
        if shell is not None:
            polygons.append(Polygon(shell, holes))
    if not polygons:
        check.error("too few points: every ring of the geometry is degenerate", "too_few_points")
        return None
    shape: BaseGeometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)

    # 5. topology: self-intersections, bad holes... repaired with make_valid when allowed
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        if not options.repair:
            check.error(f"invalid geometry: {_readable_reason(reason)}", "invalid_geometry")
            return None
        repaired = geo.polygonal_part(shapely.make_valid(shape))
        if repaired is None or repaired.is_empty or repaired.area == 0:
            check.error(
                f"invalid geometry: {_readable_reason(reason)}, and repairing it leaves no area",
                "invalid_geometry",
            )
            return None
        check.warn(
            f"invalid geometry: {_readable_reason(reason)}; repaired with make_valid "
            f"(area {geo.area_km2(repaired):,.1f} km²)",
            "repaired_geometry",
        )
        shape = repaired
    if shape.area == 0:
        check.error("empty geometry: the polygon has no area", "empty_geometry")
        return None
    return shape


def _distinct_count(ring: np.ndarray) -> int:
    if len(ring) == 0:
        return 0
    return len(np.unique(ring, axis=0))


def _readable_reason(reason: str) -> str:
    """GEOS reasons with lon/lat made explicit: "Self-intersection[-75.1 39.6]" -> "self-intersection at ..."."""
    text, _, rest = reason.partition("[")
    text = text.strip()
    if rest:
        coords = rest.rstrip("]").split()
        if len(coords) >= 2:
            try:
                return f"{text.lower()} at lon {float(coords[0]):.5f}, lat {float(coords[1]):.5f}"
            except ValueError:
                pass
    return text.lower()


# --------------------------------------------------------------------------------------------------- features


def _priority(value: Any, check: _Checker) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        check.error(f"priority {value!r} is not an integer", "bad_priority")
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        check.error(
            f"priority {value!r} is not an integer (lower wins when territories overlap)", "bad_priority"
        )
        return None
    if not number.is_integer():
        check.error(
            f"priority {value!r} is not an integer (lower wins when territories overlap)", "bad_priority"
        )
        return None
    return int(number)


def build_territory(raw: RawFeature, options: ValidationOptions) -> tuple[Territory | None, list[Issue]]:
    """One raw feature -> a Territory (or None) and what was found on the way."""
    check = _Checker(raw.display)
    if not raw.territory_id:
        check.error(
            "no territory id: set the territory_id property (or the GeoJSON Feature id / KML placemark name)",
            "missing_id",
        )
    priority = _priority(raw.priority, check)
    geometry = None
    if raw.geometry is not None:
        geometry = check_geometry(raw.geometry, check, options)

    postal: set[tuple[str, str]] = set()
    for country, code in raw.postal_codes:
        cc = (country or options.default_country).strip().upper()
        normal = normalise_postal_code(code, cc)
        if normal is None:
            check.error(f"postal code {code!r} is not a valid {cc} postal code", "bad_postal_code")
        else:
            postal.add((cc, normal))
    regions: set[tuple[str, str | None]] = set()
    for value in raw.regions:
        region = parse_region(value, default_country=options.default_country)
        if region is None:
            check.error(f"region {value!r} is not a region code such as 'US-CA' or 'CA-ON'", "bad_region")
        else:
            regions.add(region)
    for value in raw.countries:
        country = parse_country(value)
        if country is None:
            check.error(
                f"country {value!r} is not an ISO 3166 alpha-2 code such as 'US' or 'CA'", "bad_country"
            )
        else:
            regions.add(country)

    metadata = dict(raw.metadata)
    if raw.blocks:
        from territory_router.territories.blocks import compile_blocks

        compiled = compile_blocks(raw.blocks)
        for reason, code in compiled.errors:
            check.error(reason, code)
        for reason, code in compiled.warnings:
            check.warn(reason, code)
        geometry = compiled.geometry
        regions |= compiled.regions
        postal |= compiled.postal_codes
        metadata["blocks"] = compiled.keys
        if not compiled.keys and not compiled.errors:
            check.error("no building blocks", "empty_geometry")
    elif raw.geometry is None and not raw.postal_codes and not raw.regions and not raw.countries:
        check.error("empty geometry: no polygon, postal codes or regions", "empty_geometry")
    if check.failed:
        return None, check.issues
    territory = Territory(
        territory_id=raw.territory_id or "",
        name=raw.name or raw.territory_id or "",
        priority=priority,
        geometry=geometry,
        postal_codes=frozenset(postal),
        regions=frozenset(regions),
        area_km2=round(geo.area_km2(geometry), 6) if geometry is not None else None,
        metadata=metadata,
    )
    return territory, check.issues


# --------------------------------------------------------------------------------------------------- files


def _too_large(name: str, size: int, limit: int) -> Issue:
    return Issue(
        name,
        f"file too large: {size / 1e6:.1f} MB, the limit is {limit / 1e6:.0f} MB (MAX_FILE_BYTES); "
        "split the set or simplify the polygons",
        "file_too_large",
    )


def too_large_report(name: str, size: int, limit: int) -> ValidationReport:
    """The report of a file refused by size alone (without reading it)."""
    return _finish([], [_too_large(name, size, limit)], [name], {"bytes": size}, ValidationOptions(), [], [])


def validate_files(
    files: Sequence[tuple[str, bytes]], options: ValidationOptions | None = None
) -> ValidationReport:
    """Validate uploaded files (``(name, bytes)``) as ONE territory set."""
    from territory_router.territories.gaps import find_gaps
    from territory_router.territories.overlaps import find_overlaps

    opts = options or ValidationOptions()
    issues: list[Issue] = []
    raws: list[RawFeature] = []
    sources: list[str] = []
    for name, data in files:
        sources.append(name)
        if len(data) > opts.max_file_bytes:
            issues.append(_too_large(name, len(data), opts.max_file_bytes))
            continue
        try:
            parsed = parse_file(
                name, data, max_bytes=opts.max_file_bytes, default_country=opts.default_country
            )
        except FormatError as exc:
            issues.append(Issue(name, str(exc), exc.code))
            continue
        issues.extend(parsed.issues)
        raws.extend(parsed.features)

    stats: dict[str, Any] = {"features": len(raws), "vertices": sum(r.vertices for r in raws)}
    if len(raws) > opts.max_features:
        issues.append(
            Issue(
                UPLOAD,
                f"too many features: {len(raws):,}, the limit is {opts.max_features:,} (MAX_FEATURES)",
                "too_many_features",
            )
        )
        return _finish([], issues, sources, stats, opts, [], [])
    if stats["vertices"] > opts.max_vertices:
        issues.append(
            Issue(
                UPLOAD,
                f"too many vertices: {stats['vertices']:,}, the limit is {opts.max_vertices:,} (MAX_VERTICES); "
                "simplify the polygons",
                "too_many_vertices",
            )
        )
        return _finish([], issues, sources, stats, opts, [], [])

    territories: list[Territory] = []
    first_seen: dict[str, str] = {}
    for raw in raws:
        if raw.territory_id and raw.territory_id in first_seen:
            issues.append(
                Issue(
                    raw.territory_id,
                    f"duplicate territory id {raw.territory_id!r}: {raw.label} repeats {first_seen[raw.territory_id]}",
                    "duplicate_id",
                )
            )
            continue
        if raw.territory_id:
            first_seen[raw.territory_id] = raw.label
        territory, found = build_territory(raw, opts)
        issues.extend(found)
        if territory is not None:
            territories.append(territory)

    ordered = order_territories(territories)
    overlaps = find_overlaps(ordered, leads=opts.leads, min_area_km2=opts.min_overlap_km2)
    block_based = {t.territory_id for t in ordered if "blocks" in t.metadata}
    if block_based:
        # Between two block territories the overlap is exactly the blocks both list: reported per block.
        from territory_router.territories.blocks import block_overlaps
        from territory_router.territories.blocks import catalog as block_catalog
        from territory_router.territories.overlaps import leads_array

        # ZIPs a county or state block answers for are derived from its counties: a county listed twice is already
        # one overlap, and so is a ZIP3 area listed twice (per block below); only ZIPs listed as zip blocks, and ZIP3
        # prefixes without an area, are worth their own postal overlap.
        areas = block_catalog().zip3_states
        explicit = {
            f"US-{key.partition(':')[2]}"
            for t in ordered
            for key in t.metadata.get("blocks", ())
            if key.startswith("zip:") or (key.startswith("zip3:") and key[5:] not in areas)
        }
        # County blocks against ZIP3 areas do not line up block by block: their overlap stays a shared area.
        area_kinds = {
            t.territory_id: {"zip3" if k.startswith("zip3:") else "county" for k in t.metadata.get("blocks", ())
                             if not k.startswith("zip:")}
            for t in ordered if t.territory_id in block_based
        }  # fmt: skip
        overlaps = [
            o
            for o in overlaps
            if not (o.a in block_based and o.b in block_based)
            or (o.postal_codes and explicit.intersection(o.postal_codes))
            or (not o.postal_codes and len(area_kinds[o.a] | area_kinds[o.b]) > 1)
        ]
        overlaps = block_overlaps(ordered, leads_array(opts.leads)) + overlaps
    if opts.strict_overlap_km2 is not None:
        for ov in overlaps:
            if ov.area_km2 > opts.strict_overlap_km2:
                issues.append(
                    Issue(
                        ov.a,
                        f"overlaps {ov.b} by {ov.area_km2:,.2f} km², above the strict limit of "
                        f"{opts.strict_overlap_km2:g} km²",
                        "overlap",
                    )
                )
    gaps = (
        find_gaps(
            ordered,
            coverage=opts.coverage,
            leads=opts.leads,
            limit=opts.max_gaps,
            min_area_km2=opts.min_gap_km2,
        )
        if opts.find_gaps and (opts.coverage is not None or len(block_based) < len(ordered))
        else []
    )
    if block_based and opts.find_gaps:
        # Block territories: every county of a state the set touches that nobody lists, one gap per block.
        from territory_router.territories.blocks import block_gaps
        from territory_router.territories.overlaps import leads_array

        gaps = block_gaps(ordered, leads_array(opts.leads)) + gaps
    return _finish(list(ordered), issues, sources, stats, opts, overlaps, gaps)


def _finish(territories, issues, sources, stats, opts, overlaps, gaps) -> ValidationReport:
    errors = [i for i in issues if i.severity is Severity.ERROR]
    warnings = [i for i in issues if i.severity is Severity.WARNING]
    if not territories and not errors:
        errors.append(Issue(UPLOAD, "no territories found in the upload", "no_territories"))
    valid = not errors
    ordered = tuple(territories)
    if (
        opts.catch_all_territory_id
        and valid
        and opts.catch_all_territory_id not in {t.territory_id for t in ordered}
    ):
        errors.append(
            Issue(
                UPLOAD,
                f"catch-all territory {opts.catch_all_territory_id!r} is not in the set",
                "missing_catch_all",
            )
        )
        valid = False
    territory_set = (
        TerritorySet(
            territories=ordered,
            catch_all_territory_id=opts.catch_all_territory_id,
            metadata={"sources": list(sources)},
        )
        if valid
        else None
    )
    stats = dict(stats, territories=len(ordered))
    return ValidationReport(
        valid=valid,
        territory_set=territory_set,
        errors=errors,
        warnings=warnings,
        overlaps=list(overlaps),
        gaps=list(gaps),
        territories=ordered,
        sources=tuple(sources),
        stats=stats,
    )


def load_coverage(name: str, data: bytes) -> BaseGeometry:
    """A coverage boundary (any polygon file we can read) as one lon/lat geometry; ValueError if unusable."""
    try:
        parsed = parse_file(name, data)
    except FormatError as exc:
        raise ValueError(str(exc)) from exc
    shapes = []
    for raw in parsed.features:
        if raw.geometry is None:
            continue
        check = _Checker(raw.display)
        shape = check_geometry(raw.geometry, check, ValidationOptions())
        if shape is None:
            reasons = "; ".join(i.reason for i in check.issues if i.severity is Severity.ERROR)
            raise ValueError(f"coverage {name}: {raw.display}: {reasons}")
        shapes.append(shape)
    if not shapes:
        raise ValueError(f"coverage {name} holds no polygon")
    return shapely.union_all(shapes)
