"""``territory-router reps list|set|ooo|upload|check|usable``: the active roster, workload vs capacity, quick edits,
counters and owners Salesforce refused.

Edits write a new roster version (``rosters/<version>.json`` + ``ROSTER/ACTIVE``); workload counters are separate
items and are never touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from territory_router_tools.cli.stack import StackNotFound, add_stack_arguments, resolve_stack


def register(subparsers) -> None:
    parser = subparsers.add_parser("reps", help="sales reps: load vs capacity, availability, roster edits")
    sub = parser.add_subparsers(dest="reps_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("list", help="reps of the active roster with open leads vs capacity")
    p.add_argument("--group", help="only members of this group")
    p.add_argument("--json", action="store_true")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("set", help="change a rep (new roster version; counters untouched)")
    p.add_argument("rep_id", metavar="REP_ID")
    p.add_argument("--capacity", type=int)
    p.add_argument("--weight", type=int)
    p.add_argument("--name")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_true", default=None)
    state.add_argument("--inactive", dest="active", action="store_false")
    p.add_argument("--skills", help="comma-separated; replaces the list")
    p.add_argument("--languages", help="comma-separated; replaces the list")
    p.add_argument("--hours", metavar="TZ,DAYS,START,END", help='e.g. "America/New_York,Mon-Fri,08:00,18:00" or "always"')
    p.add_argument("--manager", metavar="USER_OR_QUEUE_ID")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_set)

    p = sub.add_parser("ooo", help="out of office: add a range (dates are whole days in the rep's time zone)")
    p.add_argument("rep_id", metavar="REP_ID")
    p.add_argument("--from", dest="start", metavar="DATE|DATETIME")
    p.add_argument("--until", dest="end", metavar="DATE|DATETIME", help="last day (dates) or end instant")
    p.add_argument("--note", default="")
    p.add_argument("--clear", action="store_true", help="remove every out-of-office range")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_ooo)

    p = sub.add_parser("check", help="counters vs the leads they count (scans the leads table), and owners "
                                     "Salesforce refused")
    p.add_argument("--json", action="store_true")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("usable", help="an owner Salesforce refused (inactive user, queue without Leads) is fixed: "
                                      "let routing use it again")
    p.add_argument("owner_id", metavar="USER_OR_QUEUE_ID")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_usable)

    p = sub.add_parser("upload", help="upload a roster file (.json/.csv) to roster/ on the stack")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--process", action="store_true", help="also validate and activate it from here, print the outcome")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_upload)


def _store(args: argparse.Namespace):
    from territory_router.adapters.lead_store import DynamoLeadStore

    stack = resolve_stack(args)
    return DynamoLeadStore.on_tables(
        stack.client("dynamodb"),
        stack.name("LeadsTable"),
        stack.name("RoutingTable"),
        s3_client=stack.client("s3"),
        bucket=stack.resources.get("TerritoryBucket"),
    )


def _fail(message: str, code: int = 1) -> int:
    print(f"territory-router: {message}", file=sys.stderr)
    return code


# ------------------------------------------------------------------------------------------------ list


def rep_rows(roster, loads: dict, now: datetime, group: str | None = None) -> list[dict[str, Any]]:
    from territory_router.assignment.eligibility import RepLoad, skip_reason

    rows = []
    for rep in roster.reps.values():
        groups = roster.groups_of_rep(rep.rep_id)
        if group and group not in groups:
            continue
        load = loads.get(rep.rep_id) or RepLoad()
        reason = skip_reason(rep, now=now, needed=(), load=load)
        rows.append(
            {
                "rep_id": rep.rep_id,
                "name": rep.name,
                "groups": groups,
                "open_leads": load.open_leads,
                "capacity": rep.capacity,
                "assigned_total": load.assigned_total,
                "weight": rep.weight,
                "available": reason is None,
                "status": reason or "available",
                "hours": rep.working_hours.describe() if rep.working_hours else "always",
                "skills": list(rep.skills),
                "languages": list(rep.languages),
            }
        )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'REP':20}{'NAME':22}{'LOAD':>9}  {'TOTAL':>6}  {'GROUPS':24}STATUS"]
    for r in rows:
        pct = f"{r['open_leads']}/{r['capacity']}"
        bar = "█" * min(10, round(10 * r["open_leads"] / r["capacity"])) if r["capacity"] else ""
        lines.append(
            f"{r['rep_id']:20}{(r['name'] or '')[:21]:22}{pct:>9}  {r['assigned_total']:>6}  "
            f"{','.join(r['groups'])[:23]:24}{r['status']} {bar}".rstrip()
        )
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    from territory_router.assignment.ports import NoActiveRoster

    try:
        store = _store(args)
        roster = store.active_roster(refresh=True)
    except (StackNotFound, NoActiveRoster) as exc:
        return _fail(str(exc), 2)
    loads = store.loads(roster.reps)
    rows = rep_rows(roster, loads, datetime.now(UTC), args.group)
    if args.json:
        print(json.dumps({"roster_version": roster.version, "reps": rows}, indent=2))
    else:
        print(f"roster {roster.version}: {len(roster.reps)} reps, {len(roster.groups)} groups")
        print(format_rows(rows))
    return 0


# ------------------------------------------------------------------------------------------------ edits


def edit_rep(store, rep_id: str, change: Callable[[dict[str, Any]], None], *, now: datetime) -> tuple[str, list]:
    """Apply ``change`` to the rep's roster entry and activate the result as a new roster version."""
    from territory_router.assignment.roster import Rep, Roster, roster_change_warnings
    from territory_router.domain.ids import to_18_from_text

    roster = store.active_roster(refresh=True)
    rid = to_18_from_text(rep_id)
    if rid not in roster.reps:
        raise KeyError(f"{rid} is not in the active roster {roster.version}")
    data = roster.reps[rid].model_dump(mode="json")
    change(data)
    rep = Rep.model_validate(data)
    reps = dict(roster.reps)
    reps[rid] = rep
    new = Roster.model_validate({**roster.model_dump(mode="json"), "reps": {k: v.model_dump(mode="json") for k, v in reps.items()}})
    new = new.model_copy(update={"version": f"r-{new.content_hash()}"})
    loads = store.loads([rid])
    warnings = roster_change_warnings(roster, new, {k: v.open_leads for k, v in loads.items()})
    version = store.rosters.activate_roster(new, now=now, source_key=f"cli:reps:{rid}", warnings=warnings)
    return version, warnings


def _run_edit(args: argparse.Namespace, change: Callable[[dict[str, Any]], None]) -> int:
    from pydantic import ValidationError

    from territory_router.assignment.ports import NoActiveRoster

    try:
        store = _store(args)
        version, warnings = edit_rep(store, args.rep_id, change, now=datetime.now(UTC))
    except (StackNotFound, NoActiveRoster, KeyError) as exc:
        return _fail(str(exc).strip("'\""))
    except (ValidationError, ValueError) as exc:
        return _fail(f"invalid change: {exc}", 2)
    for w in warnings:
        print(f"warning: {w['reason']}", file=sys.stderr)
    print(f"active roster: {version} (workload counters unchanged)")
    return 0


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def cmd_set(args: argparse.Namespace) -> int:
    def change(d: dict[str, Any]) -> None:
        for attr in ("capacity", "weight", "name"):
            if getattr(args, attr) is not None:
                d[attr] = getattr(args, attr)
        if args.active is not None:
            d["active"] = args.active
        if args.skills is not None:
            d["skills"] = _split(args.skills)
        if args.languages is not None:
            d["languages"] = _split(args.languages)
        if args.manager is not None:
            d["manager_id"] = args.manager or None
        if args.hours is not None:
            if args.hours.strip().lower() in {"always", "24x7", "none"}:
                d["working_hours"] = None
            else:
                parts = _split(args.hours)
                if len(parts) != 4:
                    raise ValueError('--hours needs "TZ,DAYS,START,END"')
                d["working_hours"] = dict(zip(("tz", "days", "start", "end"), parts, strict=True))

    return _run_edit(args, change)


def cmd_ooo(args: argparse.Namespace) -> int:
    if not args.clear and not (args.start and args.end):
        return _fail("give --from and --until, or --clear", 2)

    def change(d: dict[str, Any]) -> None:
        if args.clear:
            d["out_of_office"] = []
        else:
            d["out_of_office"] = [*d.get("out_of_office", []), {"start": args.start, "end": args.end, "note": args.note}]

    return _run_edit(args, change)


def cmd_upload(args: argparse.Namespace) -> int:
    if not args.file.exists():
        return _fail(f"{args.file} does not exist", 2)
    try:
        store = _store(args)
    except StackNotFound as exc:
        return _fail(str(exc), 2)
    bucket, s3 = store.rosters.bucket, store.rosters.s3
    if not bucket:
        return _fail("the stack has no TerritoryBucket", 2)
    key = f"roster/{args.file.name}"
    s3.put_object(Bucket=bucket, Key=key, Body=args.file.read_bytes())
    print(f"uploaded s3://{bucket}/{key}")
    if args.process:
        from territory_router.services.roster_upload import process_roster_upload

        outcome = process_roster_upload(bucket, key, store=store, s3_client=s3)
        print(json.dumps(outcome.to_dict(), indent=2))
        return 0 if outcome.accepted else 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when every counter equals the number of leads naming that rep in ``counted_rep_id`` and Salesforce
    refused no owner; refused owners are listed with the reason (routing skips them until ``reps usable``)."""
    try:
        store = _store(args)
    except StackNotFound as exc:
        return _fail(str(exc), 2)
    counted = store.count_counted_leads()
    roster = store.active_roster_or_none(refresh=True)
    reps = set(counted) | set(roster.reps if roster else ())
    loads = store.loads(sorted(reps))
    rows = []
    for rep in sorted(reps):
        counter = loads[rep].open_leads if rep in loads else 0
        rows.append({"rep_id": rep, "counter": counter, "counted_leads": counted.get(rep, 0)})
    drift = [r for r in rows if r["counter"] != r["counted_leads"]]
    unusable = [{"owner_id": owner, **info} for owner, info in sorted(store.unusable_owners().items())]
    if args.json:
        print(json.dumps({"ok": not drift and not unusable, "reps": rows, "unusable_owners": unusable}, indent=2))
    else:
        for r in drift:
            print(f"{r['rep_id']}: counter {r['counter']} but {r['counted_leads']} counted lead(s)")
        print(f"{len(rows)} reps checked, {len(drift)} with a difference")
        for u in unusable:
            name = roster.reps[u["owner_id"]].label if roster and u["owner_id"] in roster.reps else u["owner_id"]
            print(f"unusable owner {name}: {u.get('reason') or u.get('code')} (since {u.get('at')}, lead "
                  f"{u.get('lead_id') or '?'}); routing skips it. Fix it in Salesforce, then "
                  f"`territory-router reps usable {u['owner_id']}`")
        if unusable:
            print(f"{len(unusable)} owner(s) refused by Salesforce")
    return 1 if drift or unusable else 0


def cmd_usable(args: argparse.Namespace) -> int:
    from territory_router.domain.ids import to_18_from_text

    try:
        store = _store(args)
        owner = to_18_from_text(args.owner_id)
    except StackNotFound as exc:
        return _fail(str(exc), 2)
    except ValueError as exc:
        return _fail(str(exc), 2)
    if not store.clear_unusable(owner):
        print(f"{owner} was not marked unusable")
        return 0
    print(f"{owner} is usable again: routing may choose it")
    return 0
