"""``territory-router dlq list|redrive``: what the pipeline set aside, why, and sending it back once fixed.

    territory-router dlq list                       # every DLQ: id, stage, code, reason, receives, age, preview
    territory-router dlq list --queue intake --json
    territory-router dlq redrive --queue writeback --code UNABLE_TO_LOCK_ROW --max 50

Previews never show personal data (emails, phones, streets and names are redacted); ``--json`` prints the same
fields, never the bodies. ``redrive`` sends each message to the queue whose RedrivePolicy targets the DLQ (or
``<Stage>Queue``) and then deletes it from the DLQ.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from territory_router_tools.cli.stack import StackNotFound, add_stack_arguments, resolve_stack


def register(subparsers) -> None:
    parser = subparsers.add_parser("dlq", help="dead-letter queues: inspect and redrive set-aside messages")
    sub = parser.add_subparsers(dest="dlq_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("list", help="messages in the dead-letter queues, with the reason each was set aside")
    p.add_argument("--queue", metavar="NAME", help="one DLQ: IntakeDLQ, or a stage name (intake, tagging, ...)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N messages per queue")
    p.add_argument("--json", action="store_true", help="one JSON document (no message bodies, redacted previews)")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("redrive", help="send DLQ messages back to their source queue (send, then delete)")
    p.add_argument("--queue", metavar="NAME", help="one DLQ (default: every DLQ)")
    p.add_argument("--max", dest="max_messages", type=int, default=None, metavar="N", help="at most N messages per queue")
    p.add_argument("--code", dest="error_code", metavar="ERROR_CODE", help="only messages with this error code")
    p.add_argument("--json", action="store_true")
    add_stack_arguments(p)
    p.set_defaults(func=cmd_redrive)


def _fail(message: str, code: int = 1) -> int:
    print(f"territory-router: {message}", file=sys.stderr)
    return code


def _queues(args: argparse.Namespace):
    from territory_router_tools.adapters.dlq import DeadLetterQueues

    stack = resolve_stack(args)
    dlqs = DeadLetterQueues(stack.client("sqs"), stack.resources, replay=_stream_replay(stack))
    return dlqs, dlqs.resolve(getattr(args, "queue", None))


def _stream_replay(stack):
    """Counts an AggregatesDLQ message's stream batch again (read back from the LeadsTable stream)."""

    def replay(batch: dict) -> int:
        from territory_router.adapters.aggregates_store import AggregatesStore
        from territory_router_tools.adapters.stream_replay import replay_stream_batch

        store = AggregatesStore(stack.client("dynamodb"), stack.resources["RoutingTable"])
        return replay_stream_batch(stack.client("dynamodbstreams"), store, batch)

    return replay


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def cmd_list(args: argparse.Namespace) -> int:
    from territory_router_tools.adapters.dlq import DeadLetterError

    try:
        dlqs, chosen = _queues(args)
        now = datetime.now(UTC)
        found: dict[str, list[dict[str, Any]]] = {
            lid: [d.summary(now) for d in dlqs.peek(lid, args.limit)] for lid in chosen
        }
    except (StackNotFound, DeadLetterError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"queues": {lid: {"messages": rows, "count": len(rows)} for lid, rows in found.items()}},
                         indent=2, ensure_ascii=False))
        return 0
    total = sum(len(rows) for rows in found.values())
    print(", ".join(f"{lid} {len(rows)}" for lid, rows in found.items()) + f"  (total {total})")
    for lid, rows in found.items():
        if not rows:
            continue
        print()
        print(f"{lid}")
        print(f"  {'message id':<38}{'stage':<11}{'code':<22}{'recv':>5}{'age':>6}  reason")
        for row in rows:
            print(f"  {row['message_id']:<38}{row['stage']:<11}{(row['error_code'] or '-'):<22}"
                  f"{row['receive_count']:>5}{_age(row['age_s']):>6}  {row['error_reason'] or ''}")
            print(f"  {'':<38}{'preview: ' + row['preview']}")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from territory_router_tools.adapters.dlq import DeadLetterError

    if args.max_messages is not None and args.max_messages < 1:
        return _fail("--max must be at least 1", 2)
    try:
        dlqs, chosen = _queues(args)
        results = [dlqs.redrive(lid, max_messages=args.max_messages, error_code=args.error_code) for lid in chosen]
    except (StackNotFound, DeadLetterError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"redriven": [
            {"queue": r.queue, "target": r.target, "moved": r.moved, "kept": len(r.kept), "failed": r.failed,
             "errors": r.errors}
            for r in results
        ]}, indent=2))
    else:
        for r in results:
            line = f"{r.queue} → {r.target}: {len(r.moved)} sent back, {len(r.kept)} kept"
            if r.failed:
                line += f", {len(r.failed)} FAILED (still in the DLQ)"
            print(line)
            for error in r.errors:
                print(f"  {error}")
    return 1 if any(r.failed for r in results) else 0
