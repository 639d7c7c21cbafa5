"""What one change of a lead item (a LeadsTable stream record's old and new image) adds to the daily aggregates.

Pure: the images come in as plain values (``adapters.dynamo.from_item`` turns a stream record's typed images into
them); no boto3, no I/O. The facts are the same ones the app-bus events announce, recognised from the lead's
routing attributes as the lead store writes them (``adapters/lead_store.py``, ``adapters/lead_repository.py``):

=========================================  =================================================================
change of the item (old -> new)            fact (the app event that announces it)
=========================================  =================================================================
status none/RECEIVED/TAGGED -> ASSIGNED    ``LeadAssigned`` (time to assign from ``received_at``)
status none/RECEIVED/TAGGED -> KEPT_OWNER  ``LeadKept``
ASSIGNED/KEPT_OWNER -> ESCALATED           ``LeadEscalated`` (the old owner missed the SLA)
open -> open, ``reroute_count`` went up    ``LeadRerouted`` after a missed SLA
open -> open, ``rerouted_at`` changed,     ``LeadRerouted`` with reason ``GEOCODED`` (moved by a late geocode)
  ``reroute_count`` did not
open -> same status, another ``owner_id``  ``LeadReassigned`` (Salesforce refused the owner)
ASSIGNED/ESCALATED/KEPT_OWNER -> ATTENDED  ``LeadAttended`` (time to first touch, late or not)
``counted_rep_id`` released, status        ``LeadClosed`` (as announced today: only when a rep's counter was
  CLOSED/DELETED                           released)
=========================================  =================================================================

Anything else (tagging, a refined stamp, the writeback's claim and result, an item that is not a lead) adds
nothing. The increments themselves are ``reporting.aggregates``'s, fed with the detail the event would carry, so
the two rules cannot drift apart (tests/unit/reporting/test_lead_changes.py compares them transition by transition).

Only the routing attributes are read: ``status``, ``owner_id``, ``owner_kind``, ``counted_rep_id``,
``territory_id``, ``territory_name``, ``tag_method``, ``tag_precision``, ``received_at``, ``assigned_at``,
``sla_due_at``, ``reroute_count``, ``rerouted_at``, ``released_at``, ``fallback``, ``kept_owner``,
``reroute_reason``. Never the lead's PII (``lead``) or the decision trail (``decision``): they may live elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from territory_router.domain.messages import (
    DETAIL_LEAD_ASSIGNED,
    DETAIL_LEAD_ATTENDED,
    DETAIL_LEAD_CLOSED,
    DETAIL_LEAD_ESCALATED,
    DETAIL_LEAD_KEPT,
    DETAIL_LEAD_REASSIGNED,
    DETAIL_LEAD_REROUTED,
    REASON_GEOCODED,
)
from territory_router.reporting.aggregates import AggregateDelta, delta_for_event

RECEIVED, TAGGED, ASSIGNED, KEPT_OWNER = "RECEIVED", "TAGGED", "ASSIGNED", "KEPT_OWNER"
ATTENDED, ESCALATED, CLOSED, DELETED = "ATTENDED", "ESCALATED", "CLOSED", "DELETED"
_UNASSIGNED = (None, RECEIVED, TAGGED)
_WAITING = (ASSIGNED, KEPT_OWNER)
_OPEN = (ASSIGNED, ESCALATED, KEPT_OWNER)
_GONE = (CLOSED, DELETED)

# The statuses whose records can carry a fact: the event source mapping's FilterCriteria lets only these through
# (template.yaml, ReportAggregatesFunction); RECEIVED and TAGGED items never count.
COUNTED_STATUSES = (ASSIGNED, KEPT_OWNER, ESCALATED, ATTENDED, CLOSED, DELETED)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> str | None:
    """An ISO time as stored, or ``sla_due_at``'s epoch seconds, as an ISO string for the event detail."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value), UTC).isoformat()
    return str(value)


def _assignment(item: Mapping[str, Any], *, previous_owner_id: str | None = None,
                reroute_reason: str | None = None) -> dict[str, Any]:
    """The ``LeadAssigned``-shaped detail of the item's current owner (what ``detail_of`` would announce)."""
    return {
        "lead_id": item.get("lead_id"),
        "owner_id": item.get("owner_id"),
        "owner_kind": item.get("owner_kind") or "USER",
        "territory_id": item.get("territory_id"),
        "territory_name": item.get("territory_name"),
        "tag_method": item.get("tag_method"),
        "tag_precision": item.get("tag_precision") or None,
        "assigned_at": item.get("assigned_at"),
        "sla_due_at": _time(item.get("sla_due_at")),
        "reroute_count": _int(item.get("reroute_count")),
        "previous_owner_id": previous_owner_id,
        "fallback": bool(item.get("fallback")),
        "kept_owner": bool(item.get("kept_owner")),
        "reroute_reason": reroute_reason,
        "received_at": item.get("received_at"),
    }


def _lifecycle(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The ``LeadAttended``/``LeadClosed`` detail: the lead as it was (owner, territory, SLA) and when it changed."""
    return {
        "lead_id": new.get("lead_id"),
        "status": new.get("status"),
        "owner_id": old.get("owner_id"),
        "territory_id": old.get("territory_id"),
        "assigned_at": old.get("assigned_at"),
        "sla_due_at": _time(old.get("sla_due_at")),
        "at": new.get("released_at") or new.get("updated_at"),
    }


def facts_of_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """``(detail-type, detail)`` of every fact this change of a lead item announces (usually none or one)."""
    if not new or not new.get("status") or not new.get("lead_id"):
        return []  # a removed item, or not a lead item
    old = old or {}
    was, now = old.get("status"), new.get("status")
    if was in _UNASSIGNED and now in _WAITING and new.get("owner_id"):
        return [(DETAIL_LEAD_KEPT if now == KEPT_OWNER else DETAIL_LEAD_ASSIGNED, _assignment(new))]
    if was in _WAITING and now == ESCALATED and new.get("owner_id"):
        return [(DETAIL_LEAD_ESCALATED, _assignment(new, previous_owner_id=old.get("owner_id")))]
    if was in _OPEN and now == ATTENDED:
        return [(DETAIL_LEAD_ATTENDED, _lifecycle(old, new))]
    if now in _GONE and old.get("counted_rep_id") and not new.get("counted_rep_id"):
        return [(DETAIL_LEAD_CLOSED, _lifecycle(old, new))]
    if was in _WAITING and now == ASSIGNED and new.get("owner_id"):
        if _int(new.get("reroute_count")) > _int(old.get("reroute_count")):
            return [(DETAIL_LEAD_REROUTED, _assignment(new, previous_owner_id=old.get("owner_id")))]
        if new.get("rerouted_at") and new.get("rerouted_at") != old.get("rerouted_at"):
            return [(DETAIL_LEAD_REROUTED, _assignment(new, previous_owner_id=old.get("owner_id"),
                                                       reroute_reason=REASON_GEOCODED))]
    if was == now and was in _OPEN and new.get("owner_id") and new.get("owner_id") != old.get("owner_id"):
        return [(DETAIL_LEAD_REASSIGNED, _assignment(new, previous_owner_id=old.get("owner_id")))]
    return []


def deltas_for_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[AggregateDelta]:
    """The aggregate increments of one change of a lead item (``NotAnAppEvent`` if its attributes are unusable)."""
    return [delta_for_event(detail_type, detail) for detail_type, detail in facts_of_change(old, new)]
