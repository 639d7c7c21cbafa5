"""``territory-router demo``: run the whole pipeline on the embedded AWS and print what happened."""

from __future__ import annotations

import argparse
import logging
import os


def cmd_demo(args: argparse.Namespace) -> int:
    # Handlers log JSON lines (powertools); the demo prints a summary instead.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    logging.getLogger().setLevel(logging.ERROR)
    from territory_router_tools.demo.run import run_demo

    run_demo(n_leads=args.leads, seed=args.seed)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="run the whole pipeline on an embedded AWS and print a summary")
    demo.add_argument("--leads", type=_positive, default=500, help="number of leads (default 500)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.set_defaults(func=cmd_demo)
