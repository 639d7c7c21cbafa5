"""``territory-router report [--from DATE] [--to DATE] --out DIR``: performance by territory as HTML, CSV and JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from territory_router_tools.cli.stack import StackNotFound, add_stack_arguments, resolve_stack


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="performance by territory: a self-contained HTML report (map, charts) plus CSV and JSON",
        description="Reads the daily aggregates (one DynamoDB Query per day), the active territory set and the "
        "roster, and writes report.html, report.json, territories.csv, reps.csv and daily.csv into --out.",
    )
    p.add_argument("--from", dest="start", type=_date, metavar="DATE", help="first UTC day (default: 6 days before --to)")
    p.add_argument("--to", dest="end", type=_date, metavar="DATE", help="last UTC day (default: today)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the files into (created)")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from territory_router_tools.reporting.run import write_stack_report

    try:
        stack = resolve_stack(args)
        page = write_stack_report(stack, args.out, args.start, args.end)
    except (StackNotFound, ValueError) as exc:
        print(f"territory-router: {exc}", file=sys.stderr)
        return 1
    print(f"report: {page}")
    return 0
