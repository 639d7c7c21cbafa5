"""``territory-router territories balance|propose|edit``: territory design from building blocks (admin tooling).

Registered under ``territories`` by ``cli/territories.py``. The design package (and its extra: gerrychain,
networkx) is imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

PROG = "territory-router"


class CommandError(Exception):
    """A one-line error for the user."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "balance",
        help="how balanced a territory set is for a lead history (leads, share, per rep, compactness, contiguity)",
    )
    p.add_argument("territories", type=Path, metavar="TERRITORIES", help="territory file (any format upload takes)")
    p.add_argument("leads", type=Path, metavar="LEADS.csv", help="Data Loader lead export (coordinates and/or PostalCode)")
    p.add_argument("--reps", type=Path, metavar="ROSTER", help="roster (.json/.csv): score leads per rep in each group")
    p.add_argument("--blocks", choices=("counties", "states", "zip3"),
                   help="blocks used to judge contiguity (default: zip3 for a set made of ZIP3 blocks, else counties)")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_balance))

    p = sub.add_parser("propose", help="propose N balanced, contiguous territories from building blocks")
    p.add_argument("leads", type=Path, metavar="LEADS.csv")
    p.add_argument("--blocks", default="counties", choices=("counties", "states", "zip3"),
                   help="building blocks: counties (default), states, or zip3 (approximate 3-digit ZIP areas)")  # fmt: skip
    p.add_argument("--k", type=int, required=True, metavar="N", help="number of territories")
    p.add_argument("--within", metavar="CO,UT,...", help="only blocks in these states (USPS codes)")
    p.add_argument("--keep", type=Path, metavar="EXISTING",
                   help="start from this territory set and move as few blocks as possible")  # fmt: skip
    p.add_argument("--max-cv", type=float, default=0.05, metavar="X",
                   help="with --keep: stop once the CV of leads per territory is at most X (default 0.05)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed of the proposal (default 0)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="PROPOSAL.csv", help="block CSV to write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_propose))

    p = sub.add_parser("edit", help="write a self-contained HTML map editor for a territory set")
    p.add_argument("territories", type=Path, metavar="TERRITORIES")
    p.add_argument("--leads", type=Path, metavar="LEADS.csv")
    p.add_argument("--reps", type=Path, metavar="ROSTER")
    p.add_argument("--blocks", choices=("counties", "states", "zip3"),
                   help="blocks to edit (default: zip3 for a set made of ZIP3 blocks, else counties)")  # fmt: skip
    p.add_argument("--within", metavar="CO,UT,...", help="only blocks in these states (default: the states the set touches)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="EDITOR.html")
    p.set_defaults(func=_guard(cmd_edit))


def _guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            from territory_router_tools.design.graph import DesignError
            from territory_router_tools.design.leads import LeadFileError
        except ImportError as exc:
            print(f"{PROG}: territory design needs the design extra: pip install 'territory-router[design]' ({exc.name} "
                  "is missing)", file=sys.stderr)  # fmt: skip
            return 2
        try:
            return func(args)
        except (CommandError, DesignError, LeadFileError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2

    return run


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc


def _territories(path: Path):
    from territory_router.territories.report import ValidationOptions
    from territory_router.territories.validate import validate_files

    report = validate_files([(path.name, _read(path))], ValidationOptions(find_gaps=False))
    if not report.valid:
        first = report.errors[0]
        raise CommandError(
            f"{path} is rejected ({len(report.errors)} errors; first: {first.territory}: {first.reason}); "
            f"see territory-router territories validate {path}"
        )
    return list(report.territories)


def _history(path: Path):
    from territory_router_tools.design.leads import read_lead_history

    return read_lead_history(_read(path), path.name)


def _roster(path: Path | None):
    if path is None:
        return None
    from territory_router.assignment.roster import parse_roster

    result = parse_roster(path.name, _read(path), default_fallback_owner="00G000000000000AAA")
    if not result.valid:
        first = result.errors[0]
        raise CommandError(f"{path} is not a valid roster: {next(iter(first.values()))}: {first.get('reason', '')}")
    return result.roster


def _blocks_of(territories, requested: str | None) -> str:
    """The block kind to work on: the one asked for, else ZIP3 areas for a set whose blocks are ZIP3 areas."""
    if requested:
        return requested
    kinds = {key.partition(":")[0] for t in territories for key in t.metadata.get("blocks", ())}
    return "zip3" if "zip3" in kinds and not kinds & {"county", "state"} else "counties"


def _within(value: str | None) -> list[str] | None:
    return [s for s in value.split(",") if s.strip()] if value else None


def cmd_balance(args: argparse.Namespace) -> int:
    from territory_router_tools.design.balance import balance
    from territory_router_tools.design.graph import build_graph

    territories = _territories(args.territories)
    history = _history(args.leads)
    report = balance(territories, history, build_graph(_blocks_of(territories, args.blocks)), _roster(args.reps))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_text())
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    import numpy as np

    from territory_router.territories.validate import validate_files
    from territory_router_tools.design import propose as design
    from territory_router_tools.design.balance import balance, cv, territory_blocks
    from territory_router_tools.design.graph import build_graph

    started = time.perf_counter()
    if args.k < 1:
        raise CommandError("--k must be at least 1")
    history = _history(args.leads)
    graph = build_graph(args.blocks, _within(args.within))
    graph.count_leads(history.lonlat, history.postal)
    summary: dict[str, Any] = {"blocks": len(graph.ids), "block_type": graph.kind}
    old = None
    if args.keep:
        old = _territories(args.keep)
        start = territory_blocks(graph, old)
        k = len(old)
        if args.k != k:
            raise CommandError(f"--k {args.k} but {args.keep} has {k} territories (--keep keeps them all)")
        assignment = design.repair(graph, start, k, target_cv=args.max_cv)
        ids, names = [t.territory_id for t in old], [t.name for t in old]
        moved = int(np.count_nonzero(assignment != start))
        summary["blocks_moved"] = moved
        summary["cv_before"] = round(cv(np.bincount(np.maximum(start, 0), weights=graph.leads * (start >= 0), minlength=k)), 4)
    else:
        assignment, eps = design.propose(graph, args.k, seed=args.seed)
        ids, names = design.names_for(graph, assignment, args.k)
        summary["epsilon"] = eps
    data = design.to_block_csv(graph, assignment, ids, names)
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    report = validate_files([(args.output.name, data)])
    if not report.valid:  # pragma: no cover - a proposal is built from valid blocks
        raise CommandError(f"the proposal does not validate: {report.errors[0].reason}")
    result = balance(list(report.territories), history, graph)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["balance"] = result.to_dict()
    lines = [f"wrote {args.output}: {len(ids)} territories from {len(graph.ids):,} {graph.kind} blocks "
             f"in {summary['seconds']:.1f} s"]  # fmt: skip
    if old is not None:
        from territory_router_tools.territories.diff import LeadPoint, diff_sets

        points = [LeadPoint(history.ids[i], *history.lonlat[i]) for i in np.flatnonzero(history.located)]
        diff = diff_sets(old, list(report.territories), leads=points)
        summary["leads_changing_territory"] = len(diff.lead_moves or [])
        summary["leads_checked"] = diff.leads_checked
        lines.append(
            f"kept {args.keep}: {summary['blocks_moved']:,} of {len(graph.ids):,} blocks moved; "
            f"{summary['leads_changing_territory']:,} of {diff.leads_checked:,} leads would change territory; "
            f"CV {summary['cv_before']:.3f} -> {result.cv:.3f}"
        )
        if result.cv > args.max_cv:
            lines.append(f"note: the CV target {args.max_cv} was not reached without cutting a territory in two")
    lines.append(result.format_text())
    print(json.dumps(summary, indent=2) if args.json else "\n".join(lines))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from territory_router_tools.design.editor import render_editor

    territories = _territories(args.territories)
    history = _history(args.leads) if args.leads else None
    page = render_editor(
        territories, history=history, roster=_roster(args.reps), blocks=_blocks_of(territories, args.blocks),
        within=_within(args.within),
        title=f"Territory editor: {args.territories.name}",
    )  # fmt: skip
    try:
        args.output.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    print(f"wrote {args.output} ({len(page) / 1e6:.1f} MB): open it in a browser, move blocks, export the block CSV")
    return 0
