"""RosterUploadFunction orchestration: validate an uploaded roster and make it active, or reject it.

A rejected upload keeps the active roster; its reasons are recorded in ``ROSTER/VERSION#rejected-<time>`` and
written next to the upload as ``reports/roster/<file>.json``. Workload counters are never touched: reps who leave
with open leads keep them (a warning says how many) until they are attended, closed or re-routed.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territory_router.adapters.lead_store import DynamoLeadStore
from territory_router.assignment.roster import Roster, parse_roster, roster_change_warnings

MAX_ROSTER_BYTES = 5 * 1024 * 1024


@dataclass
class RosterUploadOutcome:
    accepted: bool
    version: str | None
    source_key: str
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    report_key: str | None = None
    reps: int = 0
    groups: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "version": self.version,
            "source_key": self.source_key,
            "reps": self.reps,
            "groups": self.groups,
            "errors": self.errors,
            "warnings": self.warnings,
            "report_key": self.report_key,
        }


def activate(
    roster: Roster, *, store: DynamoLeadStore, now: datetime, source_key: str, warnings: list[dict[str, str]]
) -> list[dict[str, str]]:
    """Make ``roster`` active, adding warnings about reps who leave with open leads. Returns all warnings."""
    old = store.active_roster_or_none(refresh=True)
    if old is not None:
        loads = store.loads(old.reps)
        warnings = warnings + roster_change_warnings(old, roster, {k: v.open_leads for k, v in loads.items()})
    store.rosters.activate_roster(roster, now=now, source_key=source_key, warnings=warnings)
    return warnings


def process_roster_upload(
    bucket: str, key: str, *, store: DynamoLeadStore, s3_client: Any, now: datetime | None = None
) -> RosterUploadOutcome:
    """Parse ``s3://bucket/key`` and activate it, or reject it with reasons (the active roster stays)."""
    now = now or datetime.now(UTC)
    head = s3_client.head_object(Bucket=bucket, Key=key)
    if int(head.get("ContentLength", 0)) > MAX_ROSTER_BYTES:
        errors = [{"roster": key, "reason": f"file larger than {MAX_ROSTER_BYTES} bytes"}]
        outcome = RosterUploadOutcome(False, None, key, errors)
    else:
        data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        result = parse_roster(posixpath.basename(key), data)
        if result.valid and result.roster is not None:
            warnings = activate(result.roster, store=store, now=now, source_key=key, warnings=result.warnings)
            outcome = RosterUploadOutcome(
                True, result.roster.version, key, [], warnings,
                reps=len(result.roster.reps), groups=len(result.roster.groups),
            )
        else:
            outcome = RosterUploadOutcome(False, None, key, result.errors, result.warnings)
    if not outcome.accepted:
        outcome.version = store.rosters.record_rejected_roster(
            now=now, source_key=key, errors=outcome.errors, warnings=outcome.warnings
        )
    report_key = f"reports/roster/{posixpath.basename(key)}.json"
    s3_client.put_object(
        Bucket=bucket,
        Key=report_key,
        Body=json.dumps(outcome.to_dict(), indent=2).encode(),
        ContentType="application/json",
    )
    outcome.report_key = report_key
    return outcome
