"""LeadRerouteFunction orchestration: re-read the due leads from Salesforce, run the SLA re-route, announce it.

The rule itself (re-route or escalate, one atomic change per lead) is ``territory_router.assignment.reroute``. When
a Salesforce connection is configured (``WritebackEnabled=true``: the credentials secret is set) the handler passes
a ``SalesforceScreen``: before anything moves, it reads every due lead back with one SOQL query per 200 ids
(``lifecycle.STATE_FIELDS``) and judges it with ``lifecycle.classify_current`` (the lifecycle rule set: initial
statuses, closed markers):

* worked in Salesforce (status moved on, an activity logged since the assignment, taken over) -> ATTENDED;
* converted or closed -> CLOSED; absent from the answer (deleted) -> DELETED;
* nobody touched it -> REROUTE (the SLA rules decide);
* the query for its batch failed (unreachable, API limit, credentials refused) -> UNVERIFIED: the lead stays as
  it is and comes back in the next run. A re-route is never decided blind.

Without a connection (``WritebackEnabled=false``) there is no screen and the run trusts its own record, as it
always did: nothing is written to Salesforce either, so there is nothing to take from anyone there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from territory_router.adapters.events import EventPublisher
from territory_router.assignment.ports import LeadRecord, LeadRoutingStore
from territory_router.assignment.reroute import (
    SCREEN_ATTENDED,
    SCREEN_CLOSED,
    SCREEN_DELETED,
    SCREEN_REROUTE,
    SCREEN_UNVERIFIED,
    Screen,
    reroute_due_leads,
)
from territory_router.domain.ids import to_18
from territory_router.domain.messages import (
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    DETAIL_LEAD_ESCALATED,
    DETAIL_LEAD_REROUTED,
)
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError
from territory_router.salesforce.lifecycle import STATE_FIELDS, Action, classify_current
from territory_router.salesforce.soql import MAX_IDS_PER_QUERY, LeadReader, chunks

log = logging.getLogger(__name__)

_OUTCOME = {
    Action.ATTENDED: SCREEN_ATTENDED,
    Action.CLOSED: SCREEN_CLOSED,
    Action.DELETED: SCREEN_DELETED,
    Action.NONE: SCREEN_REROUTE,
}


@dataclass
class SalesforceScreen:
    """Reads the due leads back from Salesforce and says, per lead, whether it may be re-routed.

    ``reader`` returns a ``LeadReader`` (built lazily: the secret is read only when leads are due); ``reset`` is
    called after an authentication failure so the next run builds a client from the (corrected) secret.
    """

    reader: Callable[[], LeadReader]
    integration_user_id: str | None = None
    reset: Callable[[], None] | None = None
    initial_statuses: Collection[str] | None = None
    closed_status_markers: Collection[str] | None = None
    batch_size: int = MAX_IDS_PER_QUERY
    failures: list[dict[str, str]] = field(default_factory=list)  # one per batch that could not be read

    def __call__(self, leads: list[LeadRecord]) -> dict[str, tuple[str, str]]:
        by_id = {to_18(lead.lead_id): lead for lead in leads}
        verdicts: dict[str, tuple[str, str]] = {}
        for batch in chunks(list(by_id), self.batch_size):
            try:
                records = self.reader().get_leads(batch, STATE_FIELDS)
            except Exception as exc:  # noqa: BLE001 - whatever stops the read, this batch must not move blind
                code = exc.code if isinstance(exc, SalesforceError) else type(exc).__name__
                reason = f"Salesforce could not be read ({code}): not re-routed blind; next run tries again"
                self.failures.append({"code": str(code), "message": str(exc)[:300], "leads": str(len(batch))})
                log.error("re-read before re-route failed; this batch is not re-routed",
                          extra={"code": code, "leads": len(batch), "error": str(exc)[:300]})
                if isinstance(exc, SalesforceAuthError) and self.reset is not None:
                    self.reset()
                verdicts.update({lead_id: (SCREEN_UNVERIFIED, reason) for lead_id in batch})
                continue
            for lead_id in batch:
                ours = by_id[lead_id]
                decision = classify_current(
                    records.get(lead_id),
                    our_owner_id=ours.owner_id,
                    assigned_at=ours.assigned_at,
                    earlier_owner_ids=ours.earlier_owners,
                    integration_user_id=self.integration_user_id,
                    initial_statuses=self.initial_statuses,
                    closed_status_markers=self.closed_status_markers,
                )
                verdicts[lead_id] = (_OUTCOME.get(decision.action, SCREEN_REROUTE), decision.reason)
        return {lead.lead_id: verdicts[to_18(lead.lead_id)] for lead in leads}


class RerouteSummary(TypedDict):
    """What a re-route run did (the LeadRerouteFunction's return value)."""

    rerouted: int
    escalated: int
    skipped: int
    attended_in_salesforce: int
    closed_in_salesforce: int
    blocked_salesforce_unreadable: int
    items_read: int
    announce_failures: int


def reroute_and_announce(
    *, store: LeadRoutingStore, events: EventPublisher, now: datetime, max_reroutes: int, screen: Screen | None = None
) -> RerouteSummary:
    """Run the re-route (``screen``: a :class:`SalesforceScreen` or None) and announce what it did.

    ``LeadRerouted``/``LeadEscalated`` for the owners it changed; ``LeadAttended``/``LeadClosed`` for the leads
    Salesforce showed worked, closed or deleted (reports count the first touch from them).
    """
    report = reroute_due_leads(store=store, now=now, max_reroutes=max_reroutes, screen=screen)
    entries = [(d.lead_id, DETAIL_LEAD_REROUTED, d.model_dump(mode="json")) for d in report.rerouted]
    entries += [(d.lead_id, DETAIL_LEAD_ESCALATED, d.model_dump(mode="json")) for d in report.escalated]
    entries += [(d.lead_id, DETAIL_LEAD_ATTENDED, d.model_dump(mode="json")) for d in report.attended]
    entries += [(d.lead_id, DETAIL_LEAD_CLOSED, d.model_dump(mode="json")) for d in report.closed]
    failed = events.publish(entries)
    return RerouteSummary(
        rerouted=len(report.rerouted),
        escalated=len(report.escalated),
        skipped=len(report.skipped),
        attended_in_salesforce=len(report.attended),
        closed_in_salesforce=len(report.closed),
        blocked_salesforce_unreadable=len(report.blocked),
        items_read=report.items_read,
        announce_failures=len(failed),
    )
