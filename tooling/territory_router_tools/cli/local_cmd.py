"""``territory-router local up``: the whole stack on an embedded AWS (moto server on loopback)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from territory_router_tools.cli.stack import DEFAULT_STACK_FILE


def _parameters(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            raise SystemExit(f"--parameter expects KEY=VALUE, got {value!r}")
        out[key] = val
    return out


def cmd_up(args: argparse.Namespace) -> int:
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.local.template import TemplateError

    try:
        stack = LocalStack(
            args.template,
            region=args.region,
            parameter_overrides=_parameters(args.parameter),
            schedule_every_s=args.schedule_every,
        )
    except (TemplateError, OSError) as exc:
        print(f"territory-router local up: {exc}", file=sys.stderr)
        return 2
    stopped = threading.Event()

    def _stop(signum, frame):  # noqa: ARG001
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stack.start()
    try:
        line = stack.ready_line()
        if args.stack_file:
            args.stack_file.parent.mkdir(parents=True, exist_ok=True)
            args.stack_file.write_text(line + "\n")
        print(line, flush=True)
        print(
            f"local stack ready at {stack.endpoint}; functions: {', '.join(stack.functions)}. Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )
        stopped.wait()
    finally:
        stack.stop()
        if args.stack_file and args.stack_file.exists():
            try:
                if json.loads(args.stack_file.read_text()).get("endpoint") == stack.endpoint:
                    args.stack_file.unlink()
            except (OSError, ValueError):
                pass
    return 0


def register(subparsers) -> None:
    local = subparsers.add_parser("local", help="run the stack on an embedded AWS (moto) on this machine")
    sub = local.add_subparsers(dest="local_command", metavar="ACTION")
    up = sub.add_parser("up", help="start the local stack; prints one JSON ready line and runs until Ctrl-C")
    up.add_argument("--template", type=Path, default=None, help="template.yaml (default: found from here)")
    up.add_argument("--region", default="us-east-1")
    up.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter override")
    up.add_argument(
        "--schedule-every", type=float, default=None, metavar="SECONDS", help="fire schedules this often (default: their rate)"
    )
    up.add_argument(
        "--stack-file", type=Path, default=DEFAULT_STACK_FILE, help=f"where to write the ready line (default {DEFAULT_STACK_FILE})"
    )
    up.set_defaults(func=cmd_up)
    local.set_defaults(func=lambda args: (local.print_help(), 2)[1])
