"""Read a stack (local or AWS) and write the report files: report.html, report.json, territories.csv, reps.csv,
daily.csv. ``stack`` is anything with ``client(service)`` and ``resources`` (logical id -> physical name): the CLI's
``Stack`` or the embedded ``LocalStack``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from territory_router_tools.reporting.model import ReportModel, build_report, csv_files, days_between, to_json
from territory_router_tools.reporting.render import render_report_html

DEFAULT_DAYS = 7
DEMO_OUTPUT = Path("demo-output")


def default_range(today: date, start: date | None = None, end: date | None = None) -> tuple[date, date]:
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    return start, end


def report_store(stack: Any):
    from territory_router_tools.adapters.report_store import ReportStore

    r = stack.resources
    return ReportStore(
        stack.client("dynamodb"), r["RoutingTable"], s3_client=stack.client("s3"), bucket=r.get("TerritoryBucket"),
        leads_table=r.get("LeadsTable", ""),
    )


def load_report(stack: Any, start: date, end: date, *, now: datetime | None = None) -> ReportModel:
    store = report_store(stack)
    days = days_between(start, end)
    version, territories = store.active_territories()
    return build_report(
        store.aggregate_items(days), start=start, end=end, territories=territories, reps=store.reps(),
        generated_at=now or datetime.now(UTC), territory_version=version,
    )


def write_report(model: ReportModel, out_dir: Path) -> Path:
    """Write the five files into ``out_dir`` (created); returns the HTML file's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "report.html"
    page.write_text(render_report_html(model), encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(to_json(model), indent=2), encoding="utf-8")
    for name, text in csv_files(model).items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return page


def write_stack_report(stack: Any, out_dir: Path, start: date | None = None, end: date | None = None) -> Path:
    now = datetime.now(UTC)
    start, end = default_range(now.date(), start, end)
    return write_report(load_report(stack, start, end, now=now), out_dir)


def write_demo_report(stack: Any, out_dir: Path = DEMO_OUTPUT) -> Path:
    """The report of the demo's run: the last week up to tomorrow (the demo's re-route runs happen hours ahead)."""
    now = datetime.now(UTC)
    end = (now + timedelta(hours=4)).date()
    start = end - timedelta(days=DEFAULT_DAYS - 1)
    return write_report(load_report(stack, start, end, now=now), out_dir).resolve()
