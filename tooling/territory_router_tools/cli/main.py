"""``territory-router`` command line. Each sub-command group lives in its own module with ``register()``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from territory_router_tools.cli.errors import CliParser, describe_failure

# Modules that add sub-commands: each exposes ``register(subparsers)``; the parsers they add set ``func``
# (``func(args) -> int`` exit code).
COMMAND_MODULES = (
    "territory_router_tools.cli.local_cmd",
    "territory_router_tools.cli.demo_cmd",
    "territory_router_tools.cli.territories",
    "territory_router_tools.cli.tag",
    "territory_router_tools.cli.reps",
    "territory_router_tools.cli.leads",
    "territory_router_tools.cli.dlq",
    "territory_router_tools.cli.report",
    "territory_router_tools.cli.backfill",
    "territory_router_tools.cli.salesforce_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="territory-router",
        description="Territory management and lead assignment for Salesforce on AWS Lambda.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not part of this build
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr and a non-zero exit, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("territory-router: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the command line's last line of defence: one line, exit 1
        if os.environ.get("TERRITORY_ROUTER_DEBUG"):
            traceback.print_exc()
        print(f"territory-router: {describe_failure(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
