"""``territory-router leads explain LEAD_ID``: why a lead went to its owner (the stored decision trail)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from territory_router_tools.cli.stack import StackNotFound, add_stack_arguments, resolve_stack


def register(subparsers) -> None:
    parser = subparsers.add_parser("leads", help="inspect leads: owner, SLA and why this rep")
    sub = parser.add_subparsers(dest="leads_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("explain", help="why the lead went to its owner (the decision trail)")
    p.add_argument("lead_id", metavar="LEAD_ID", help="Salesforce lead id (15 or 18 characters)")
    p.add_argument("--json", action="store_true", help="print the stored lead record (without PII) as JSON")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_explain)


_PII = {"first_name", "last_name", "email", "phone", "street"}
_PRECISION_TEXT = {
    "ROOFTOP": "the lead's own coordinates",
    "POSTAL_CODE": "its postal code (centroid or a territory's postal list)",
    "CITY": "its city (centroid)",
    "STATE": "its state/province only",
    "COUNTRY": "its country only",
    "NONE": "nothing (catch-all or untagged)",
}


def _when(epoch: Any) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


def explain_text(item: dict[str, Any], now: datetime | None = None) -> str:
    """A lead record as a sales manager reads it."""
    from territory_router.assignment.engine import format_trail

    now = now or datetime.now(UTC)
    lines = [f"Lead {item['lead_id']}  status {item.get('status', '?')}  version {item.get('version', '?')}"]
    owner = item.get("owner_id")
    if owner:
        name = f" {item['owner_name']}" if item.get("owner_name") else ""
        kind = item.get("owner_kind", "USER").lower()
        extra = " (fallback)" if item.get("fallback") else ""
        if item.get("kept_owner"):
            extra += " (kept: the lead was created with this owner, a rep of the roster; we never changed OwnerId)"
        lines.append(f"Owner: {owner}{name} [{kind}]{extra}, group {item.get('group_id') or '-'}, since {item.get('assigned_at', '-')}")
    else:
        lines.append("Owner: none yet")
    territory = item.get("territory_id") or "-"
    tname = f" ({item['territory_name']})" if item.get("territory_name") else ""
    method = f" by {item['tag_method']}" if item.get("tag_method") else ""
    note = f": {item['tag_note']}" if item.get("tag_note") else ""
    lines.append(f"Territory: {territory}{tname}{method}{note}")
    if item.get("tag_method"):
        from territory_router.domain.leads import default_precision

        precision = item.get("tag_precision") or default_precision(item["tag_method"]).value
        lines.append(f"Located by: {_PRECISION_TEXT.get(precision, precision)} (precision {precision})")
    due = item.get("sla_due_at")
    if due is None and item.get("kept_owner") and item.get("status") == "KEPT_OWNER":
        lines.append("SLA: none (the group does not re-route leads that kept their owner)")
    if due is not None:
        state = "waiting for a first touch" if item.get("reroute_shard") else "not re-routed (attended, closed or queue-owned)"
        late = " - LATE" if item.get("reroute_shard") and int(due) <= now.timestamp() else ""
        lines.append(f"SLA due: {_when(due)} ({state}){late}")
    if item.get("reroute_count"):
        lines.append(f"Re-routed {item['reroute_count']} time(s); previous owners: {', '.join(item.get('previous_owners') or [])}")
    if item.get("counted_rep_id"):
        lines.append(f"Counts toward the open leads of {item['counted_rep_id']}")
    if item.get("release_reason"):
        lines.append(f"Released {item.get('released_at', '')}: {item['release_reason']}")
    trail = item.get("decision") or {}
    if trail:
        lines.append("")
        lines.append("Why this owner:")
        lines += ["  " + line for line in format_trail(trail).splitlines()]
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    from territory_router.adapters.lead_detail import read_full
    from territory_router.domain.ids import to_18_from_text

    try:
        lead_id = to_18_from_text(args.lead_id) if len(args.lead_id.strip()) == 15 else args.lead_id.strip()
        to_18_from_text(lead_id)
    except ValueError as exc:
        print(f"territory-router: {exc}", file=sys.stderr)
        return 2
    try:
        stack = resolve_stack(args)
        table = stack.name("LeadsTable")
        # the hot item and its detail item (the lead's PII and the decision trail: adapters/lead_detail.py)
        item = read_full(stack.client("dynamodb"), table, lead_id)
    except StackNotFound as exc:
        print(f"territory-router: {exc}", file=sys.stderr)
        return 2
    if item is None:
        print(f"territory-router: lead {lead_id} is not in {table}", file=sys.stderr)
        return 1
    if args.json:
        safe = dict(item)
        if isinstance(safe.get("lead"), dict):
            safe["lead"] = {k: v for k, v in safe["lead"].items() if k not in _PII}
        print(json.dumps(safe, indent=2, sort_keys=True, default=str))
    else:
        print(explain_text(item))
    return 0
