"""``territory-router backfill``: take in the open leads no event brought, from Salesforce or from a CSV.

    territory-router backfill --since 2026-01-01 [--dry-run] [--limit N] [--json]
    territory-router backfill --from-csv leads.csv [--dry-run] [--json]

``--since`` is for go-live: it runs the reconciliation query from DATE (UTC midnight, or a time such as
2026-01-01T09:00:00Z) to now, with the credentials in the stack's Salesforce secret, and sends every open,
untouched lead without a routing status that the stack never took in to its intake queue. ``--from-csv`` feeds a
Data Loader export of Lead the same way (headers are Lead API names, any case; ``Id`` is required, the address
fields route it): how you try your own leads on the local stack. Both send the messages the scheduled
reconciliation sends, so intake takes each lead in once, whichever way it arrives first; run it twice and the
second run sends nothing. ``--dry-run`` reads and counts, and sends nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from territory_router_tools.cli.progress import Progress
from territory_router_tools.cli.stack import add_stack_arguments, resolve_stack

SECRET_HELP = (
    "put the connected app's credentials in it (docs/deploy.md, 'After the first deploy'), or try your leads "
    "with --from-csv"
)


def _since(text: str) -> datetime:
    value = text.strip()
    try:
        parsed = (datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.min) if len(value) == 10
                  else datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (use YYYY-MM-DD, or a UTC time such as 2026-01-01T09:00:00Z)"
        ) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed > datetime.now(UTC):
        raise argparse.ArgumentTypeError(f"{text!r} is in the future: nothing was created or changed since then")
    return parsed.astimezone(UTC)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="take in the open leads no event brought: from Salesforce since a date (go-live), or from a CSV",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--since", type=_since, metavar="DATE", help="leads created or changed since DATE (UTC)")
    source.add_argument("--from-csv", type=Path, metavar="LEADS.csv", help="a Data Loader export of Lead")
    parser.add_argument("--dry-run", action="store_true", help="read and count; send nothing to intake")
    parser.add_argument("--limit", type=_positive, metavar="N", help="at most N leads read from Salesforce")
    parser.add_argument("--org-id", metavar="00D...", help="the stack's Salesforce org id (default: its SalesforceOrgId)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_stack_arguments(parser)
    parser.set_defaults(func=cmd_backfill)


# ----------------------------------------------------------------------------------------------- inputs


def _known_fields() -> dict[str, str]:
    from territory_router.salesforce.events import LEAD_FIELD_NAMES, RECORD_FIELDS
    from territory_router.salesforce.lifecycle import STATE_FIELDS

    names = {"Id", "Routing_Status__c", "SystemModstamp", "LastModifiedDate", *LEAD_FIELD_NAMES, *RECORD_FIELDS,
             *STATE_FIELDS}
    return {name.lower(): name for name in names}


def read_leads_csv(path: Path) -> tuple[list[dict[str, Any]], list[str], bool]:
    """(records by Lead API name, invalid rows with the reason, whether the file has a routing status column)."""
    from territory_router.domain.ids import LEAD_KEY_PREFIX, is_salesforce_id

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: save it as 'CSV UTF-8' (Data Loader writes UTF-8)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h for h in (reader.fieldnames or []) if h is not None]
    if not any(h.strip() for h in header):
        raise ValueError(f"{path} is empty: expected a Data Loader export of Lead with an Id column")
    known = _known_fields()
    columns = {h: known.get(h.strip().lower(), h.strip()) for h in header}
    if "Id" not in columns.values():
        shown = ", ".join(h.strip() for h in header[:8]) + (", ..." if len(header) > 8 else "")
        raise ValueError(f"{path} has no Id column (its columns: {shown}): export Lead with Id and the address fields")
    records: list[dict[str, Any]] = []
    invalid: list[str] = []
    for number, row in enumerate(reader, start=2):
        record = {columns[h]: (v.strip() or None) if isinstance(v, str) else v
                  for h, v in row.items() if h is not None and h in columns}
        lead_id = record.get("Id")
        if not (is_salesforce_id(lead_id) and lead_id.startswith(LEAD_KEY_PREFIX)):
            invalid.append(f"row {number}: Id {str(lead_id or '')[:20]!r} is not a Lead id ({LEAD_KEY_PREFIX}...)")
            continue
        records.append(record)
    return records, invalid, "Routing_Status__c" in columns.values()


def _salesforce(stack):
    from territory_router.adapters.salesforce_client import client_from_secret_value

    secret_id = stack.name("SalesforceCredentialsSecret")
    raw = stack.client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString") or "{}"
    try:
        secret = json.loads(raw)
    except ValueError:
        raise ValueError(f"the stack's Salesforce secret is not JSON: {SECRET_HELP}") from None
    fields = ("client_id", "client_secret", "my_domain_url")
    if not isinstance(secret, dict) or any(not secret.get(f) or "REPLACE_ME" in str(secret.get(f)) for f in fields):
        raise ValueError(f"the stack's Salesforce secret is not set (client_id, client_secret, my_domain_url): {SECRET_HELP}")
    return client_from_secret_value(secret, name="the stack's Salesforce secret",
                                    api_version=stack.parameter("SalesforceApiVersion"))


def _org_id(args: argparse.Namespace, stack, client=None) -> str:
    from territory_router.domain.ids import ORG_KEY_PREFIX, is_salesforce_id, to_18

    candidate = args.org_id or stack.parameter("SalesforceOrgId")
    if not candidate and client is not None:
        candidate = client.org_id  # the org of the credentials
    if not candidate:
        raise ValueError("cannot tell the stack's Salesforce org id: pass --org-id 00D...")
    if not (is_salesforce_id(candidate) and candidate.startswith(ORG_KEY_PREFIX)):
        raise ValueError(f"--org-id: not a Salesforce org id (00D..., 15 or 18 characters): {candidate[:20]!r}")
    return to_18(candidate)


# ----------------------------------------------------------------------------------------------- the command


def cmd_backfill(args: argparse.Namespace) -> int:
    from territory_router.adapters.lead_repository import LeadRepository
    from territory_router.adapters.queues import QueuePublisher
    from territory_router.salesforce.errors import SalesforceError
    from territory_router.services.reconciliation import feed_intake, find_unrouted, routable

    invalid: list[str] = []
    if args.from_csv is not None:  # the file first: a bad file is reported before anything is asked of a stack
        records, invalid, has_status = read_leads_csv(args.from_csv)
    stack = resolve_stack(args)
    summary: dict[str, Any] = {"dry_run": bool(args.dry_run)}
    if args.from_csv is not None:
        org_id = _org_id(args, stack)
        found = routable(records[: args.limit] if args.limit else records,
                         routing_status_field="Routing_Status__c" if has_status else None)
        summary.update(source=str(args.from_csv), invalid_rows=len(invalid))
    else:
        client = _salesforce(stack)
        reading = Progress("reading Salesforce: leads")
        try:
            org_id = _org_id(args, stack, client)
            found = find_unrouted(client, since=args.since, max_leads=args.limit,
                                  extra_fields=_extra_fields(stack), on_record=reading.update)
        except SalesforceError as exc:
            reading.close()
            print(f"territory-router: Salesforce refused the backfill query: {exc.code}: {exc}", file=sys.stderr)
            return 1
        reading.close()
        summary.update(source="salesforce", since=args.since.isoformat().replace("+00:00", "Z"))
    sending = Progress("checking and sending to intake: leads", total=len(found.records))
    feed = feed_intake(
        found.records,
        org_id=org_id,
        known=LeadRepository(stack.client("dynamodb"), stack.name("LeadsTable")),
        sender=None if args.dry_run else QueuePublisher(stack.client("sqs")),
        queue_url=stack.name("IntakeQueue"),
        now=datetime.now(UTC),
        on_sent=sending.update,
    )
    sending.close()
    summary.update(read=found.read, not_routable=dict(found.not_routable), truncated=found.truncated,
                   **feed.as_dict())
    _print_summary(summary, invalid, as_json=args.json)
    if feed.failed:
        print(f"territory-router: SQS did not take {len(feed.failed)} lead(s); run the same command again "
              "(leads already taken in are skipped)", file=sys.stderr)
        return 1
    if invalid:
        shown = "; ".join(invalid[:3]) + (f"; {len(invalid) - 3} more" if len(invalid) > 3 else "")
        print(f"territory-router: {len(invalid)} row(s) of {args.from_csv} were not sent: {shown}", file=sys.stderr)
        return 1
    return 0


def _extra_fields(stack) -> tuple[str, ...]:
    value = stack.parameter("SalesforceExtraLeadFields") or ""
    return tuple(f.strip() for f in value.split(",") if f.strip())


def _print_summary(summary: dict[str, Any], invalid: list[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**summary, "invalid": invalid}, indent=2, sort_keys=True))
        return
    source = f"Salesforce, leads changed since {summary['since']}" if summary["source"] == "salesforce" else summary["source"]
    sent = "would be sent to intake (dry run)" if summary["dry_run"] else "sent to intake"
    left = ", ".join(f"{why}: {n:,}" for why, n in sorted(summary["not_routable"].items()))
    lines = [
        f"backfill from {source}",
        f"  {summary['read']:>8,}  unrouted leads read" + ("  (stopped at --limit)" if summary["truncated"] else ""),
        f"  {sum(summary['not_routable'].values()):>8,}  left with their owner" + (f" ({left})" if left else ""),
        f"  {summary['already_known']:>8,}  already taken in (skipped)",
        f"  {summary['fed']:>8,}  {sent}",
    ]
    if summary["failed"]:
        lines.append(f"  {summary['failed']:>8,}  refused by SQS (run again)")
    if summary.get("invalid_rows"):
        lines.append(f"  {summary['invalid_rows']:>8,}  rows without a Lead id (not sent)")
    print("\n".join(lines))
