"""Gap events: fetch the leads a ``GAP_*`` event names and turn it into the change it stands for.

Salesforce sends a gap event instead of a change event when it cannot build one (the event would exceed 1 MB,
some field-type conversions, an internal error, changes made outside the application servers). It carries the
record ids and the change type, never the fields: "retrieve the Salesforce record using the record ID value"
(Change Data Capture Developer Guide, Gap Events; docs/salesforce.md, "Gap events").

``resolve_gaps(changes, reader=...)`` reads every lead named by the gap events of one message (one SOQL query per
200 ids) and replaces each gap change with:

* the lead is gone (absent from the answer) -> ``DELETE`` (release it if we routed it);
* ``GAP_CREATE`` / ``GAP_UNDELETE`` (or a ``GAP_DELETE`` whose lead is back) of a lead Salesforce shows open and
  untouched -> ``CREATE`` / ``UNDELETE`` with the ``Lead`` the parser's own field mapping builds from the record:
  intake takes it in exactly as from a CDC CREATE (idempotent: a lead already taken in is not taken in twice);
* otherwise (``GAP_UPDATE``, or a lead someone already works) -> an ``UPDATE`` that carries Salesforce's current
  state (``lifecycle.STATE_FIELDS``) with ``gap=True``: intake judges it with ``lifecycle.classify_current``, the
  same rules as the re-read before a re-route, because a gap update says *that* the lead changed, not *what*.

``GAP_OVERFLOW`` names no record: intake asks for a reconciliation run instead (``services.reconciliation``).
When Salesforce cannot be read, ``resolve_gaps`` raises (``SalesforceError``) and the caller fails the SQS
message: it is retried, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from territory_router.domain.ids import to_18
from territory_router.salesforce.events import RECORD_FIELDS, ChangeKind, LeadChange, lead_from_record
from territory_router.salesforce.lifecycle import STATE_FIELDS, routable_now
from territory_router.salesforce.soql import LeadReader

_CREATE_LIKE = {"GAP_CREATE": ChangeKind.CREATE, "GAP_UNDELETE": ChangeKind.UNDELETE, "GAP_DELETE": ChangeKind.UNDELETE}


def gap_fields(extra_fields: Iterable[str] = (), routing_status_field: str | None = "Routing_Status__c") -> list[str]:
    """What a gap refetch selects: the CDC CREATE fields, the state fields, the routing status, your extras."""
    names = [*RECORD_FIELDS, *STATE_FIELDS, *([routing_status_field] if routing_status_field else []), *extra_fields]
    return list(dict.fromkeys(names))


def needs_refetch(changes: Iterable[LeadChange]) -> bool:
    return any(c.kind is ChangeKind.GAP and c.lead_id is not None for c in changes)


def resolve_gaps(
    changes: list[LeadChange],
    *,
    reader: LeadReader,
    extra_fields: Iterable[str] = (),
    routing_status_field: str | None = "Routing_Status__c",
) -> list[LeadChange]:
    """``changes`` with every gap change that names a lead replaced by the change it stands for (order kept)."""
    gap_ids = [c.lead_id for c in changes if c.kind is ChangeKind.GAP and c.lead_id is not None]
    if not gap_ids:
        return changes
    records = reader.get_leads(gap_ids, gap_fields(extra_fields, routing_status_field))
    resolved: list[LeadChange] = []
    for change in changes:
        if change.kind is not ChangeKind.GAP or change.lead_id is None:
            resolved.append(change)
            continue
        record = records.get(to_18(change.lead_id))
        if record is None:
            resolved.append(change.model_copy(update={"kind": ChangeKind.DELETE, "lead": None, "changed_fields": {}}))
            continue
        kind = _CREATE_LIKE.get(change.change_type)
        if kind is not None and routable_now(record, routing_status_field=routing_status_field)[0]:
            lead = lead_from_record(record, org_id=change.org_id)
            resolved.append(change.model_copy(update={"kind": kind, "lead": lead, "changed_fields": {}}))
            continue
        state = {name: record.get(name) for name in (*STATE_FIELDS, *([routing_status_field] if routing_status_field else []))}
        resolved.append(change.model_copy(update={"kind": ChangeKind.UPDATE, "lead": None, "changed_fields": state}))
    return resolved
