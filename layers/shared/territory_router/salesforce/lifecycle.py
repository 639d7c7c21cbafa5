"""What a Lead change in Salesforce means for a lead we routed (rules documented in docs/salesforce.md).

Pure rules over a parsed ``LeadChange``; the lifecycle service applies the action to the lead record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from territory_router.domain.ids import is_salesforce_id, same_id
from territory_router.salesforce.events import ChangeKind, LeadChange
from territory_router.salesforce.geocodes import location_changed
from territory_router.salesforce.writeback_rules import WritebackFieldMap

# Our writeback tags its calls (Sforce-Call-Options: client=...); CDC reports it in changeOrigin.
INTEGRATION_CLIENT_NAME = "TerritoryRouter"

# Salesforce maintains these on every save: they never mean anything by themselves.
SYSTEM_FIELDS = frozenset({
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "LastReferencedDate",
    "LastViewedDate",
})

# Lead.Status values that mean "nobody has worked this lead yet" (the defaults of the standard picklist).
DEFAULT_INITIAL_STATUSES = frozenset({"open - not contacted", "open", "new", ""})
# Substrings of Lead.Status values that end the lead's life in routing.
DEFAULT_CLOSED_STATUS_MARKERS = ("closed", "converted", "unqualified", "disqualified")
# Fields whose change shows a person acted on the lead.
ACTIVITY_FIELDS = frozenset({"LastActivityDate"})


class Action(StrEnum):
    ATTENDED = "ATTENDED"  # a person worked the lead: SLA met, stop re-routing, release the counter
    CLOSED = "CLOSED"  # converted / closed / unqualified: release the counter
    DELETED = "DELETED"  # deleted in Salesforce: release the counter
    GAP = "GAP"  # Salesforce lost the details: refetch the lead or report it
    GEOCODED = "GEOCODED"  # the lead's location changed (late Salesforce geocode, address edit): tag it again
    NONE = "NONE"  # nothing to do (our own echo, unrelated field changes, creates handled by intake)


class LifecycleAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Action
    lead_id: str | None
    reason: str
    owner_id: str | None = None  # the new owner, when a person changed it
    status: str | None = None  # the new Lead.Status, when it changed
    echo: bool = False  # True when recognised as our own writeback


def _is_closed(status: str | None, closed_markers: Collection[str]) -> bool:
    if not status:
        return False
    lowered = status.lower()
    return any(marker in lowered for marker in closed_markers)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def saved_by_integration(change: LeadChange, integration_user_id: str | None) -> bool:
    """A Lead UPDATE saved by our integration user: what the LeadChangeEvent channel member's echo filter keeps
    off the relay (docs/salesforce.md, section 1.6). One that arrives means the filter is missing or names another
    user; intake still recognises it (``classify_update``) and counts it (``EchoesNotFiltered``)."""
    return bool(
        change.kind is ChangeKind.UPDATE and not change.gap and integration_user_id and change.commit_user
        and is_salesforce_id(integration_user_id) and is_salesforce_id(change.commit_user)
        and same_id(change.commit_user, integration_user_id)
    )


def classify_update(
    change: LeadChange,
    *,
    integration_user_id: str | None,
    our_owner_id: str | None,
    field_map: WritebackFieldMap | None = None,
    initial_statuses: Collection[str] | None = None,
    closed_status_markers: Collection[str] | None = None,
    integration_client_name: str = INTEGRATION_CLIENT_NAME,
) -> LifecycleAction:
    """Classify one change of a lead we know.

    Order of the rules: DELETE → DELETED; GAP_* → GAP; CREATE/UNDELETE → NONE (intake's job); then for an
    UPDATE: converted or closed status → CLOSED; a change made by our integration (user or client tag) or
    limited to our own fields with the owner we set → NONE (echo); status moved on from an initial status →
    ATTENDED; owner changed by a person to someone else → ATTENDED; an activity logged → ATTENDED;
    the location changed (Latitude/Longitude, Address) → GEOCODED; anything else → NONE.
    """
    field_map = field_map or WritebackFieldMap()
    initial = {s.lower() for s in (initial_statuses if initial_statuses is not None else DEFAULT_INITIAL_STATUSES)}
    closed_markers = tuple(m.lower() for m in (closed_status_markers or DEFAULT_CLOSED_STATUS_MARKERS))
    lead_id = change.lead_id

    if change.kind is ChangeKind.DELETE:
        return LifecycleAction(action=Action.DELETED, lead_id=lead_id, reason="lead deleted in Salesforce")
    if change.kind is ChangeKind.GAP:
        return LifecycleAction(
            action=Action.GAP, lead_id=lead_id,
            reason=f"{change.change_type}: Salesforce could not send the change details; refetch the lead",
        )
    if change.kind is not ChangeKind.UPDATE:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id,
                               reason=f"{change.kind.value} is routed by intake, not by lifecycle rules")

    changed = {k: v for k, v in change.changed_fields.items() if k not in SYSTEM_FIELDS}
    if not changed:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id, reason="only system fields changed")

    status = changed.get("Status") if "Status" in changed else None
    status_text = status if isinstance(status, str) else None

    # 1. The end of the lead's life, whoever did it.
    if _truthy(changed.get("IsConverted")):
        return LifecycleAction(action=Action.CLOSED, lead_id=lead_id, reason="lead converted", status=status_text)
    if _is_closed(status_text, closed_markers):
        return LifecycleAction(action=Action.CLOSED, lead_id=lead_id,
                               reason="lead status is a closed status", status=status_text)

    # 2. Our own writeback coming back through CDC.
    by_integration_user = bool(
        integration_user_id and change.commit_user and is_salesforce_id(integration_user_id)
        and same_id(change.commit_user, integration_user_id)
    )
    by_integration_client = bool(
        change.change_origin and f"client={integration_client_name}".lower() in change.change_origin.lower()
    )
    router_fields = field_map.router_fields()
    only_router_fields = set(changed) <= router_fields
    new_owner = changed.get(field_map.owner) if field_map.owner in changed else None
    owner_is_ours = bool(
        isinstance(new_owner, str) and our_owner_id and is_salesforce_id(new_owner)
        and is_salesforce_id(our_owner_id) and same_id(new_owner, our_owner_id)
    )
    if only_router_fields and (by_integration_user or by_integration_client or owner_is_ours):
        return LifecycleAction(action=Action.NONE, lead_id=lead_id, echo=True,
                               reason="our own writeback (owner/territory fields) coming back")
    if only_router_fields and field_map.owner not in changed:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id,
                               reason="only routing fields changed, owner unchanged")
    if by_integration_user or by_integration_client:
        # The integration never works a lead: whatever else it changed is not a person's attention.
        return LifecycleAction(action=Action.NONE, lead_id=lead_id, echo=True,
                               reason="changed by the integration, not by a person")

    # 3. A person worked the lead.
    if "Status" in changed and (status_text or "").strip().lower() not in initial:
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id,
                               reason="lead status moved on from the initial status", status=status_text)
    if field_map.owner in changed and isinstance(new_owner, str) and not owner_is_ours:
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id, owner_id=new_owner,
                               reason="owner changed by a person")
    if any(changed.get(f) for f in ACTIVITY_FIELDS):
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id, reason="activity logged on the lead")

    # 4. Where the lead is changed (salesforce.geocodes): tag it again.
    if location_changed(changed):
        return LifecycleAction(action=Action.GEOCODED, lead_id=lead_id,
                               reason="the lead's location changed (Latitude/Longitude or Address)")

    return LifecycleAction(action=Action.NONE, lead_id=lead_id, reason="no routing-relevant field changed")


# Activity change types that can show a person's attention (a delete or a gap shows nothing).
_ACTIVITY_CHANGES = frozenset({"CREATE", "UPDATE", "UNDELETE"})


def classify_activity(
    change: LeadChange,
    *,
    integration_user_id: str | None,
    lead_owner_id: str | None,
    roster_people: Callable[[], Collection[str]] | Collection[str] = (),
    integration_client_name: str = INTEGRATION_CLIENT_NAME,
) -> LifecycleAction:
    """Is a Task/Event change attention on the lead it names (``change.lead_id`` = its ``WhoId``)?

    Change Data Capture never puts ``LastActivityDate`` in a ``LeadChangeEvent``; logging a call or an email creates
    a Task (or Event) whose ``WhoId`` is the lead, and that arrives as a ``TaskChangeEvent``/``EventChangeEvent``
    (https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_other_events.htm).
    Rules in order: a delete or gap → NONE; no lead named (a contact, or an update that does not carry ``WhoId``)
    → NONE; made by our integration (user or client tag) → NONE (echo); the activity's owner, creator or the
    user who saved it is the lead's owner → ATTENDED; one of them is someone the roster counts (its reps, their
    managers, escalation owners) → ATTENDED; anything else → NONE. ``roster_people`` may be a callable, asked
    only when the owner rule did not decide.
    """
    info = change.activity
    lead_id = change.lead_id
    if info is None or change.kind is not ChangeKind.ACTIVITY:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id, reason="not an activity change")
    entity = info.entity
    if change.change_type not in _ACTIVITY_CHANGES:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id,
                               reason=f"{entity} {change.change_type}: not attention")
    if lead_id is None:
        if info.who_id:
            return LifecycleAction(action=Action.NONE, lead_id=None,
                                   reason=f"{entity} on a record that is not a lead (WhoId {info.who_id[:3]}…)")
        return LifecycleAction(action=Action.NONE, lead_id=None,
                               reason=f"{entity} {change.change_type} names no lead (no WhoId in the event)")
    by_integration_user = bool(
        integration_user_id and change.commit_user and is_salesforce_id(integration_user_id)
        and same_id(change.commit_user, integration_user_id)
    )
    by_integration_client = bool(
        change.change_origin and f"client={integration_client_name}".lower() in change.change_origin.lower()
    )
    if by_integration_user or by_integration_client:
        return LifecycleAction(action=Action.NONE, lead_id=lead_id, echo=True,
                               reason=f"{entity} saved by the integration, not by a person")
    actors = [a for a in (info.owner_id, info.created_by, change.commit_user) if a and is_salesforce_id(a)]
    if integration_user_id and is_salesforce_id(integration_user_id):
        actors = [a for a in actors if not same_id(a, integration_user_id)]
    what = f"{entity}{f' ({info.subtype})' if info.subtype else ''} {info.activity_id}"
    if lead_owner_id and is_salesforce_id(lead_owner_id):
        for actor in actors:
            if same_id(actor, lead_owner_id):
                return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id, owner_id=None,
                                       reason=f"{what} logged on the lead by its owner {actor}")
    if actors:
        people = roster_people() if callable(roster_people) else roster_people
        known = {p[:15] for p in people if is_salesforce_id(p)}
        for actor in actors:
            if actor[:15] in known:
                return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id,
                                       reason=f"{what} logged on the lead by {actor}, someone the roster counts")
    return LifecycleAction(action=Action.NONE, lead_id=lead_id,
                           reason=f"{what} by someone who is neither the lead's owner nor in the roster")


# ---------------------------------------------------------------------------------------------------------
# Salesforce's current state of a lead (a SOQL read, not a change event)
# ---------------------------------------------------------------------------------------------------------

# The Lead fields the state rules read; every re-read asks for exactly these.
STATE_FIELDS = ("Status", "OwnerId", "IsConverted", "LastActivityDate", "LastModifiedById")
# A Date carries no time zone (an activity logged at 5 pm in California is already the next day in UTC): an
# activity dated up to this many days before the assignment's UTC day still counts as attention.
ACTIVITY_DATE_SLACK_DAYS = 1


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _ids_equal(a: Any, b: Any) -> bool:
    return is_salesforce_id(a) and is_salesforce_id(b) and same_id(a, b)


def classify_current(
    record: Mapping[str, Any] | None,
    *,
    our_owner_id: str | None,
    assigned_at: datetime | None,
    earlier_owner_ids: Collection[str] = (),
    integration_user_id: str | None = None,
    initial_statuses: Collection[str] | None = None,
    closed_status_markers: Collection[str] | None = None,
) -> LifecycleAction:
    """What Salesforce's current record of a lead we assigned says, read back with SOQL (fields ``STATE_FIELDS``).

    ``record`` is ``None`` when the lead is absent from the query's answer. Rules, first match wins:

    1. absent → **DELETED** (the Query resource does not return deleted records);
    2. ``IsConverted`` → **CLOSED**; a closed ``Status`` (same markers as ``classify_update``) → **CLOSED**;
    3. ``Status`` moved on from the initial statuses → **ATTENDED**;
    4. ``LastActivityDate`` on or after the assignment day (one day of slack: a Date has no time zone) →
       **ATTENDED** (a call, email or meeting was logged: CDC never sends this field);
    5. ``OwnerId`` is neither the owner we set nor one this lead had before with us (``earlier_owner_ids``: the
       owner it arrived with, previous owners; our writeback may simply not have landed yet) → **ATTENDED**: taken
       over (by a person when ``LastModifiedById`` is not the integration user);
    6. anything else → **NONE**: nobody worked it; the SLA rules decide.
    """
    initial = {s.lower() for s in (initial_statuses if initial_statuses is not None else DEFAULT_INITIAL_STATUSES)}
    closed_markers = tuple(m.lower() for m in (closed_status_markers or DEFAULT_CLOSED_STATUS_MARKERS))
    if record is None:
        return LifecycleAction(action=Action.DELETED, lead_id=None,
                               reason="not in Salesforce any more (deleted): a query no longer returns it")
    lead_id = record.get("Id") if is_salesforce_id(record.get("Id")) else None
    status = record.get("Status") if isinstance(record.get("Status"), str) else None
    if _truthy(record.get("IsConverted")):
        return LifecycleAction(action=Action.CLOSED, lead_id=lead_id, reason="converted in Salesforce", status=status)
    if _is_closed(status, closed_markers):
        return LifecycleAction(action=Action.CLOSED, lead_id=lead_id,
                               reason=f"Salesforce shows a closed status ({status})", status=status)
    if (status or "").strip().lower() not in initial:
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id,
                               reason=f"Salesforce shows the status moved on ({status})", status=status)
    activity = _as_date(record.get("LastActivityDate"))
    if activity is not None and assigned_at is not None and (
        activity >= assigned_at.astimezone(UTC).date() - timedelta(days=ACTIVITY_DATE_SLACK_DAYS)
    ):
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id,
                               reason=f"Salesforce shows an activity logged on {activity.isoformat()}")
    owner = record.get("OwnerId")
    ours = [o for o in (our_owner_id, *earlier_owner_ids) if o]
    if is_salesforce_id(owner) and not any(_ids_equal(owner, o) for o in ours):
        modifier = record.get("LastModifiedById")
        by_integration = bool(integration_user_id) and _ids_equal(modifier, integration_user_id)
        who = "the integration user" if by_integration else (f"{modifier}" if is_salesforce_id(modifier) else "someone")
        return LifecycleAction(action=Action.ATTENDED, lead_id=lead_id, owner_id=owner,
                               reason=f"taken over in Salesforce: owner is now {owner} (last modified by {who})")
    return LifecycleAction(action=Action.NONE, lead_id=lead_id, reason="Salesforce shows nobody worked it yet")


def routable_now(
    record: Mapping[str, Any],
    *,
    routing_status_field: str | None = "Routing_Status__c",
    initial_statuses: Collection[str] | None = None,
    closed_status_markers: Collection[str] | None = None,
) -> tuple[bool, str]:
    """May a lead we never took in be routed now (reconciliation, backfill, a refetched gap create)?

    Only an untouched lead: not converted, not closed, still in an initial status, no activity logged, no routing
    status written by us. A lead somebody already works keeps its owner. Returns ``(ok, reason)``.
    """
    initial = {s.lower() for s in (initial_statuses if initial_statuses is not None else DEFAULT_INITIAL_STATUSES)}
    closed_markers = tuple(m.lower() for m in (closed_status_markers or DEFAULT_CLOSED_STATUS_MARKERS))
    status = record.get("Status") if isinstance(record.get("Status"), str) else None
    if _truthy(record.get("IsConverted")):
        return False, "converted"
    if _is_closed(status, closed_markers):
        return False, "closed status"
    if (status or "").strip().lower() not in initial:
        return False, "already worked (status moved on)"
    if _as_date(record.get("LastActivityDate")) is not None:
        return False, "already worked (activity logged)"
    if routing_status_field and record.get(routing_status_field) not in (None, ""):
        return False, "already routed (routing status set)"
    return True, "open, untouched"
