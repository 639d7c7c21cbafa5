"""``territory-router territories ...``: validate and diff territory files locally; manage versions on a stack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from territory_router_tools.cli.stack import StackNotFound, add_stack_arguments, resolve_stack


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "territories",
        help="validate, compare and activate territory sets",
        description="Territory files: GeoJSON, KML/KMZ, zipped shapefile, postal-code or regions CSV.",
    )
    sub = parser.add_subparsers(dest="territories_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("validate", help="check files as one territory set (exit 0 usable, 1 rejected)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--map", type=Path, metavar="OUT.html", help="write the HTML map of the set")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument(
        "--strict-overlap-km2",
        type=float,
        default=None,
        metavar="X",
        help="reject overlaps larger than X km²",
    )
    p.add_argument(
        "--coverage", type=Path, metavar="FILE", help="boundary that should be covered (gaps inside it)"
    )
    p.add_argument("--leads", type=Path, metavar="LEADS.csv", help="CSV with Id, Latitude, Longitude")
    p.add_argument("--default-country", default="US", help="country of postal codes without one (default US)")
    p.add_argument(
        "--no-repair", action="store_true", help="reject invalid geometries instead of repairing them"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("diff", help="what changes from OLD to NEW (and which leads would move)")
    p.add_argument("old", type=Path, metavar="OLD")
    p.add_argument("new", type=Path, metavar="NEW")
    p.add_argument("--leads", type=Path, metavar="LEADS.csv", help="CSV with Id, Latitude, Longitude")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("list", help="versions stored on the stack (newest first)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    add_stack_arguments(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("activate", help="make a stored version the live territory set")
    p.add_argument("version", metavar="VERSION")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_activate)

    p = sub.add_parser("rollback", help="go back to the version active before the current one")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser(
        "upload", help="upload a file to territories/ on the stack (the upload function takes over)"
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument(
        "--process",
        action="store_true",
        help="also validate/compile/store it from here (when the stack has no S3 trigger), and print the outcome",
    )
    p.add_argument("--no-activate", action="store_true", help="with --process: store but do not activate")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_upload)

    from territory_router_tools.cli import design

    design.register(sub)  # balance, propose, edit


# ------------------------------------------------------------------------------------------------ local


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"territory-router: cannot read {path}: {exc.strerror}") from exc


def _leads(path: Path | None):
    if path is None:
        return None
    from territory_router_tools.territories.diff import read_leads_csv

    try:
        points, skipped = read_leads_csv(_read(path))
    except ValueError as exc:
        raise SystemExit(f"territory-router: {path}: {exc}") from exc
    if skipped:
        print(f"note: {skipped} leads in {path} have no usable coordinates and are ignored", file=sys.stderr)
    return points


def cmd_validate(args: argparse.Namespace) -> int:
    from territory_router.territories.report import ValidationOptions
    from territory_router.territories.validate import load_coverage, validate_files

    coverage = None
    if args.coverage:
        try:
            coverage = load_coverage(args.coverage.name, _read(args.coverage))
        except ValueError as exc:
            print(f"territory-router: {exc}", file=sys.stderr)
            return 2
    points = _leads(args.leads)
    options = ValidationOptions(
        strict_overlap_km2=args.strict_overlap_km2,
        coverage=coverage,
        leads=tuple((p.lon, p.lat) for p in points) if points is not None else None,
        default_country=args.default_country.upper(),
        repair=not args.no_repair,
    )
    report = validate_files([(f.name, _read(f)) for f in args.files], options)
    if args.map:
        from territory_router.territories.mapping import render_map_html

        html = render_map_html(
            report,
            leads=options.leads,
            title="Territories: " + ", ".join(f.name for f in args.files),
        )
        args.map.write_text(html, encoding="utf-8")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
        if args.map:
            print(f"\nmap: {args.map}")
    return 0 if report.valid else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from territory_router.territories.report import ValidationOptions
    from territory_router.territories.validate import validate_files
    from territory_router_tools.territories.diff import diff_sets

    options = ValidationOptions(find_gaps=False)
    reports = {}
    for label, path in (("OLD", args.old), ("NEW", args.new)):
        reports[label] = validate_files([(path.name, _read(path))], options)
        if not reports[label].valid:
            print(
                f"note: {label} {path} would be rejected ({len(reports[label].errors)} errors); "
                "comparing the territories that passed their checks",
                file=sys.stderr,
            )
    diff = diff_sets(reports["OLD"].territories, reports["NEW"].territories, leads=_leads(args.leads))
    if args.json:
        print(json.dumps(diff.to_dict(), indent=2))
    else:
        print(diff.format_text())
    return 0


# ------------------------------------------------------------------------------------------------ stack


def _store(args: argparse.Namespace):
    from territory_router.adapters.territory_store import TerritoryStore

    stack = resolve_stack(args)
    return TerritoryStore(
        stack.client("s3"),
        stack.client("dynamodb"),
        stack.name("TerritoryBucket"),
        stack.name("RoutingTable"),
    )


def _stack_command(func):
    def run(args: argparse.Namespace) -> int:
        from territory_router.adapters.territory_store import TerritoryStoreError

        try:
            return func(args)
        except (StackNotFound, TerritoryStoreError) as exc:
            print(f"territory-router: {exc}", file=sys.stderr)
            return 1

    return run


@_stack_command
def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    versions = store.list_versions(limit=args.limit)
    active = store.get_active()
    if args.json:
        print(
            json.dumps(
                {"active": active.version if active else None, "versions": [v.to_dict() for v in versions]},
                indent=2,
            )
        )
        return 0
    if not versions:
        print("no territory set versions yet")
        return 0
    print(f"{'':2}{'VERSION':28}{'STATUS':12}{'TERR.':>6}{'ERR':>5}{'WARN':>6}  SOURCE")
    for v in versions:
        mark = "*" if active and v.version == active.version else ""
        print(
            f"{mark:2}{v.version:28}{v.status:12}{v.territories:>6}{v.error_count:>5}{v.warning_count:>6}  {v.source_key}"
        )
    return 0


@_stack_command
def cmd_activate(args: argparse.Namespace) -> int:
    pointer = _store(args).activate(args.version)
    print(f"active territory set: {pointer.version} ({pointer.index_key})")
    return 0


@_stack_command
def cmd_rollback(args: argparse.Namespace) -> int:
    pointer = _store(args).rollback()
    print(f"rolled back; active territory set: {pointer.version} ({pointer.index_key})")
    return 0


@_stack_command
def cmd_upload(args: argparse.Namespace) -> int:
    store = _store(args)
    key = f"territories/{args.file.name}"
    store.s3.put_object(Bucket=store.bucket, Key=key, Body=_read(args.file))
    print(f"uploaded s3://{store.bucket}/{key}")
    if not args.process:
        return 0
    from territory_router.services.territory_upload import process_territory_upload

    outcome = process_territory_upload(store.bucket, key, store=store, auto_activate=not args.no_activate)
    print(json.dumps(outcome.to_dict(), indent=2))
    return 0 if outcome.valid else 1
