"""Writeback: ``LeadAssigned``/``LeadRerouted``/``LeadEscalated`` events → Salesforce owner and territory fields.

Each assignment is written back once: a claim on the lead record (WritebackLedger) filters duplicates before
Salesforce is called, and the Collections API updates up to 200 leads per call. Transient failures are retried
through SQS; permanent ones go to the writeback DLQ with Salesforce's error code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territory_router.adapters.lead_repository import WritebackLedger
from territory_router.domain.messages import LeadAssignedDetail

log = logging.getLogger(__name__)


class PoisonWriteback(ValueError):
    pass


def assignment_key(detail: LeadAssignedDetail) -> str:
    """One key per assignment: the same decision delivered twice has the same key.

    ``assigned_at`` counts in whole seconds: the first announcement carries the assignment's clock reading, a
    redelivered message re-announces the decision stored on the lead (ISO seconds), and both must be one key.
    """
    at = detail.assigned_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f"{detail.owner_id}@{at.astimezone(UTC).replace(microsecond=0).isoformat()}#{detail.reroute_count}"


def parse_event_body(body: str) -> LeadAssignedDetail:
    try:
        event = json.loads(body)
        return LeadAssignedDetail.model_validate(event["detail"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonWriteback(f"not an app-bus assignment event: {type(exc).__name__}") from exc


@dataclass
class WritebackBatchResult:
    written: list[str] = field(default_factory=list)  # message ids
    skipped_duplicates: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # message ids to report as batch item failures
    permanent: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, lead id, error code)
    limit_info: Any = None


def _latest(entries: Sequence[tuple[str, LeadAssignedDetail, str]]) -> LeadAssignedDetail:
    """The latest decision of one lead in a batch. A later stamp-only refinement never hides an owner change that
    Salesforce has not received yet: its stamp is carried onto that decision instead."""
    def order(e):
        return (e[1].assigned_at, e[1].reroute_count)

    owners = [e for e in entries if not e[1].stamp_only]
    if not owners:
        return max(entries, key=order)[1]
    best = max(owners, key=order)[1]
    stamps = [e[1] for e in entries if e[1].stamp_only and e[1].assigned_at >= best.assigned_at]
    if not stamps:
        return best
    stamp = max(stamps, key=lambda d: d.assigned_at)
    return best.model_copy(update={k: getattr(stamp, k) for k in ("territory_id", "territory_name", "tag_method", "tag_precision")})


def write_back_batch(
    items: Sequence[tuple[str, LeadAssignedDetail]],
    *,
    ledger: WritebackLedger,
    write: Callable[[Sequence[LeadAssignedDetail]], Any],
    now: datetime,
) -> WritebackBatchResult:
    """Claim, write, and settle each ``(message_id, detail)``. ``write`` is ``salesforce.writeback.write_back``."""
    result = WritebackBatchResult()
    claimed: dict[str, list[tuple[str, LeadAssignedDetail, str]]] = {}
    for message_id, detail in items:
        key = assignment_key(detail)
        # Only while the lead still has this owner: a stale event never overwrites a newer owner.
        if ledger.claim(detail.lead_id, key, now=now, owner_id=detail.owner_id):
            claimed.setdefault(detail.lead_id, []).append((message_id, detail, key))
        else:
            result.skipped_duplicates.append(message_id)
    if not claimed:
        return result
    # The latest decision per lead is what Salesforce should show.
    latest = {lead_id: _latest(entries) for lead_id, entries in claimed.items()}
    try:
        outcome = write(list(latest.values()))
    except Exception:
        for entries in claimed.values():
            for message_id, detail, key in entries:
                ledger.release(detail.lead_id, key)
                result.retry.append(message_id)
        log.exception("Salesforce writeback call failed; the batch will be retried")
        return result
    result.limit_info = getattr(outcome, "limit_info", None)
    succeeded = set(getattr(outcome, "succeeded", []))
    transient = {getattr(f, "lead_id", f): f for f in getattr(outcome, "transient", [])}
    permanent = {getattr(f, "lead_id", f): f for f in getattr(outcome, "permanent", [])}
    for lead_id, entries in claimed.items():
        for message_id, _detail, key in entries:
            if lead_id in succeeded:
                ledger.done(lead_id, key)
                result.written.append(message_id)
            elif lead_id in permanent:
                code = str(getattr(permanent[lead_id], "error_code", "UNKNOWN"))
                ledger.done(lead_id, key, error_code=code)
                result.permanent.append((message_id, lead_id, code))
            else:  # transient, or not mentioned by Salesforce: retry
                ledger.release(lead_id, key)
                result.retry.append(message_id)
                if lead_id not in transient:
                    log.warning("Salesforce returned no result for a lead; retrying", extra={"lead_id": lead_id})
    return result
