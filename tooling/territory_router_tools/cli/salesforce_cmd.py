"""``territory-router salesforce echo-filter``: keep our writeback's echo in Salesforce (a channel member filter).

    territory-router salesforce echo-filter --integration-user-id 005xx000000IntgAAC   # writes the filter
    territory-router salesforce echo-filter --check                                    # shows what is there
    territory-router salesforce echo-filter --remove

Writes ``filterExpression`` into the package's LeadChangeEvent channel member
(``infra/salesforce/force-app/main/default/platformEventChannelMembers/...LeadChangeEvent...``); deploy the package
afterwards (docs/salesforce.md, 1.6). The id is the integration user's (the stack's ``SalesforceIntegrationUserId``):
the filter keeps that user's Lead UPDATEs off the relay, so name the user the writeback runs as.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_PACKAGE = Path("infra/salesforce/force-app/main/default")


def register(subparsers) -> None:
    parser = subparsers.add_parser("salesforce", help="the Salesforce package: settings that depend on your org")
    sub = parser.add_subparsers(dest="salesforce_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    p = sub.add_parser("echo-filter", help="filter our own writeback's echo out of the Lead change channel")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--integration-user-id", metavar="005...", help="the user the writeback runs as")
    what.add_argument("--check", action="store_true", help="print the member's filter (exit 1 when there is none)")
    what.add_argument("--remove", action="store_true", help="take the filter off the member")
    p.add_argument("--package", type=Path, default=DEFAULT_PACKAGE, metavar="DIR",
                   help=f"the package's force-app/main/default folder (default: {DEFAULT_PACKAGE})")
    p.set_defaults(func=cmd_echo_filter)


def cmd_echo_filter(args: argparse.Namespace) -> int:
    from territory_router_tools.salesforce.channel_filter import (
        LEAD_MEMBER,
        FilterExpressionError,
        echo_filter_expression,
        member_filter,
        with_filter,
    )

    path = args.package / LEAD_MEMBER
    if not path.is_file():
        print(f"territory-router: no LeadChangeEvent channel member at {path} (run from the repository, or --package)",
              file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8")
    if args.check:
        current = member_filter(text)
        print(current or "no filter: our writeback's echo is relayed (and ignored by intake, counted EchoesNotFiltered)")
        return 0 if current else 1
    try:
        expression = None if args.remove else echo_filter_expression(args.integration_user_id)
    except FilterExpressionError as exc:
        print(f"territory-router: {exc}", file=sys.stderr)
        return 2
    path.write_text(with_filter(text, expression), encoding="utf-8")
    print(f"{path}: " + (f"filterExpression = {expression}" if expression else "filter removed"))
    print("deploy it: sf project deploy start --source-dir force-app --target-org <alias>   (in infra/salesforce)")
    return 0
