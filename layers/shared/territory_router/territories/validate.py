"""Turn uploaded files into a usable ``TerritorySet``, or explain, feature by feature, why not.

Each feature's geometry is checked by ``territories.geometry_checks`` (raw coordinates first, so the admin hears
"ring 2 is not closed" rather than a generic GEOS message, then the shapely geometry); here its id, priority,
postal codes, regions and blocks are checked and the set is put together (precedence, overlaps, gaps). What can be
repaired safely is repaired and reported as a WARNING; anything else is an ERROR and the whole upload is rejected
(the live set stays in place).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from territory_router.domain.territory import Territory, TerritorySet
from territory_router.geography.postal import normalise_postal_code
from territory_router.geography.regions import parse_country, parse_region
from territory_router.territories import geo
from territory_router.territories.formats import FormatError, RawFeature, parse_file
from territory_router.territories.geometry_checks import check_geometry
from territory_router.territories.report import Checker, Issue, Severity, ValidationOptions, ValidationReport

UPLOAD = "(upload)"  # the "territory" named by issues about the upload as a whole


def precedence_key(territory: Territory) -> tuple[Any, ...]:
    """Sort key of overlap precedence: explicit priority (lower first; none last), smallest area, then id."""
    area = territory.area_km2 if territory.area_km2 is not None else math.inf
    priority = territory.priority
    return (priority is None, priority if priority is not None else 0, area, territory.territory_id)


def order_territories(territories: Sequence[Territory]) -> tuple[Territory, ...]:
    return tuple(sorted(territories, key=precedence_key))


# --------------------------------------------------------------------------------------------------- features


def _priority(value: Any, check: Checker) -> int | None:
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
    check = Checker(raw.display)
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
        check = Checker(raw.display)
        shape = check_geometry(raw.geometry, check, ValidationOptions())
        if shape is None:
            reasons = "; ".join(i.reason for i in check.issues if i.severity is Severity.ERROR)
            raise ValueError(f"coverage {name}: {raw.display}: {reasons}")
        shapes.append(shape)
    if not shapes:
        raise ValueError(f"coverage {name} holds no polygon")
    return shapely.union_all(shapes)
