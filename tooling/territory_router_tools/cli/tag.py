"""``territory-router tag``: what-if tagging of a Salesforce Data Loader lead export against territory files.

    territory-router tag --territories regions.geojson [more files...] leads.csv [-o tagged.csv]
                         [--tolerance-km 25] [--catch-all UNASSIGNED]

The CSV uses Lead API names as column headers (``Id, Latitude, Longitude, Street, City, State, PostalCode,
Country``; any may be missing, headers are matched case-insensitively, other columns are passed through).
The output is the same rows with ``TerritoryId, TerritoryName, TagMethod, TagPrecision, TagNote`` added
(replaced when already there). ``TagPrecision`` says how precisely the lead was located (``ROOFTOP``,
``POSTAL_CODE``, ``CITY``, ``STATE``, ``COUNTRY``, ``NONE``): leads without coordinates are placed by the offline
gazetteer (ZIP or city centroid). A ``GeocodeAccuracy`` column (Salesforce's) is read when present. Everything runs locally: no AWS account is needed.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from territory_router.domain.leads import Lead

OUTPUT_COLUMNS = ("TerritoryId", "TerritoryName", "TagMethod", "TagPrecision", "TagNote")
CHUNK = 5_000
_FIELDS = {  # Lead API name (lower case) -> Lead attribute
    "street": "street",
    "city": "city",
    "state": "state",
    "postalcode": "postal_code",
    "country": "country",
}
_PLACEHOLDER_ID = "000000000000000AAA"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tag",
        help="tag a lead CSV (Salesforce Data Loader export) against territory files, locally",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--territories", nargs="+", required=True, metavar="FILE", type=Path, help="territory files (one set)"
    )
    parser.add_argument(
        "leads",
        type=Path,
        nargs="?",
        metavar="LEADS.csv",
        help="lead CSV with Lead API column names (when it comes right after --territories, the last path "
        "given there is taken as the leads file)",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="OUT.csv", help="output CSV (default: stdout)")
    parser.add_argument(
        "--tolerance-km", type=float, default=25.0, help="NEAREST tolerance in km (default: %(default)s)"
    )
    parser.add_argument("--catch-all", metavar="ID", help="catch-all territory id for leads nothing matches")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    parser.set_defaults(func=run)


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _lead(row: dict[str, str], columns: dict[str, str]) -> Lead:
    """A Lead from one CSV row (``columns``: lower-case API name -> the header as written)."""

    def get(api: str) -> str | None:
        header = columns.get(api)
        value = row.get(header) if header else None
        return value if value not in (None, "") else None

    lead_id = (get("id") or "").strip()
    values: dict[str, Any] = {attr: get(api) for api, attr in _FIELDS.items()}
    values["latitude"] = _float(get("latitude"))
    values["longitude"] = _float(get("longitude"))
    # The id plays no part in tagging; rows without a Salesforce-shaped id still get tagged.
    values["lead_id"] = lead_id if 15 <= len(lead_id) <= 18 else _PLACEHOLDER_ID
    accuracy = get("geocodeaccuracy")
    if accuracy:
        values["sf_fields"] = {"GeocodeAccuracy": accuracy.strip()}
    return Lead(**values)


def _chunks(rows: list[dict[str, str]], size: int) -> Iterable[tuple[int, list[dict[str, str]]]]:
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def _load_tagger(files: list[Path], tolerance_km: float, catch_all: str | None, err: TextIO):
    from territory_router.tagging.index import TerritoryIndex, compile_index
    from territory_router.tagging.triage import Tagger, TaggingConfig
    from territory_router.territories.report import ValidationOptions
    from territory_router.territories.validate import validate_files

    report = validate_files(
        [(path.name, path.read_bytes()) for path in files],
        ValidationOptions(find_gaps=False),  # the catch-all may be a queue id outside the files
    )
    if not report.valid or report.territory_set is None:
        print(f"territory files rejected: {report.summary()}", file=err)
        for issue in report.errors[:50]:
            print(f"  {issue.territory}: {issue.reason}", file=err)
        return None
    for issue in report.warnings[:20]:
        print(f"warning: {issue.territory}: {issue.reason}", file=err)
    index = TerritoryIndex.from_bytes(compile_index(report.territory_set))
    return Tagger(index, TaggingConfig(nearest_tolerance_km=tolerance_km, catch_all_territory_id=catch_all))


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    quiet = getattr(args, "quiet", False)
    territories = list(args.territories)
    leads_path = args.leads
    if leads_path is None:  # "--territories a.geojson b.kml leads.csv": nargs="+" swallowed the leads file
        if len(territories) < 2:
            print("territory-router tag: give the territory files and a LEADS.csv", file=err)
            return 2
        leads_path = territories.pop()
    for path in [*territories, leads_path]:
        if not path.is_file():
            print(f"territory-router tag: no such file: {path}", file=err)
            return 2
    if args.tolerance_km < 0:
        print("territory-router tag: --tolerance-km must be >= 0", file=err)
        return 2
    tagger = _load_tagger(territories, args.tolerance_km, args.catch_all, err)
    if tagger is None:
        return 1

    with leads_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    columns = {name.strip().lower(): name for name in header}
    out_header = header + [c for c in OUTPUT_COLUMNS if c not in header]

    started = time.perf_counter()
    methods: Counter[str] = Counter()
    precisions: Counter[str] = Counter()
    total = len(rows)
    for start, chunk in _chunks(rows, CHUNK):
        results = tagger.tag_many([_lead(row, columns) for row in chunk])
        for row, result in zip(chunk, results, strict=True):
            row["TerritoryId"] = result.territory_id or ""
            row["TerritoryName"] = result.territory_name or ""
            row["TagMethod"] = result.method.value
            row["TagPrecision"] = result.precision.value
            row["TagNote"] = result.note
            methods[result.method.value] += 1
            precisions[result.precision.value] += 1
        if not quiet and total > CHUNK:
            print(f"tagged {min(start + CHUNK, total):,}/{total:,} leads", file=err)

    if args.output:
        with args.output.open("w", newline="", encoding="utf-8") as out:
            _write(out, out_header, rows)
    else:
        buffer = io.StringIO()
        _write(buffer, out_header, rows)
        sys.stdout.write(buffer.getvalue())
    if not quiet:
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{m} {n:,}" for m, n in sorted(methods.items()))
        located = ", ".join(f"{p} {n:,}" for p, n in sorted(precisions.items()))
        print(f"{total:,} leads tagged in {elapsed:.2f} s: {summary or 'none'}; precision: {located or 'none'}", file=err)
    return 0


def _write(out: TextIO, header: list[str], rows: list[dict[str, str]]) -> None:
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
