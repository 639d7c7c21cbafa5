"""Builders of Event Relay events exactly as Salesforce delivers them to EventBridge (demo, tests, docs).

``detail-type`` defaults to the channel form (``/data/LeadChangeEvent``, ``/event/Lead_Routing__e``); pass
``detail_type="LeadChangeEvent"`` / ``"Lead_Routing__e"`` for the bare event-name form (the parser takes both).
They use Salesforce's field API names and the CDC shapes: compound ``Name`` and ``Address`` fields nested,
``commitTimestamp`` and dates in epoch milliseconds (``date_format="iso"`` gives ISO-8601 text instead).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead
from territory_router.salesforce.bitmap import EventSchema, encode_field_list
from territory_router.salesforce.relay import (  # noqa: F401 - re-exported: the builders every test uses
    _ADDRESS_PARTS,
    _NAME_PARTS,
    CDC_DETAIL_TYPE,
    DEFAULT_ACCOUNT,
    DEFAULT_COMMIT_USER,
    DEFAULT_REGION,
    DEFAULT_RELAY_ID,
    DEFAULT_SCHEMA_ID,
    PLATFORM_DETAIL_TYPE,
    DateFormat,
    _as_lead,
    _envelope,
    _flat_api_fields,
    _format_date,
    _header,
    _nest_compounds,
    _now,
    cdc_create_event,
    change_event_detail_type,
)

# Lead attribute -> Lead_Routing__e field
_PLATFORM_NAMES = {
    "first_name": "First_Name__c",
    "last_name": "Last_Name__c",
    "company": "Company__c",
    "email": "Email__c",
    "phone": "Phone__c",
    "street": "Street__c",
    "city": "City__c",
    "state": "State__c",
    "postal_code": "PostalCode__c",
    "country": "Country__c",
    "latitude": "Latitude__c",
    "longitude": "Longitude__c",
    "industry": "Industry__c",
    "lead_source": "Lead_Source__c",
    "status": "Status__c",
    "owner_id": "Owner_Id__c",
    "language": "Language__c",
    "product_interest": "Product_Interest__c",
}



def cdc_update_event(
    lead_id: str | Iterable[str],
    changes: Mapping[str, Any],
    *,
    org_id: str,
    relay_id: str = DEFAULT_RELAY_ID,
    event_id: str | None = None,
    commit_user: str = DEFAULT_COMMIT_USER,
    change_origin: str = "com/salesforce/api/rest/62.0",
    time: datetime | None = None,
    date_format: DateFormat = "epoch_ms",
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    replay_id: int | None = None,
    detail_type: str | None = None,
    entity: str = "Lead",
    bitmap_schema: EventSchema | None = None,
) -> dict[str, Any]:
    """A ``LeadChangeEvent`` UPDATE: ``changes`` maps Lead API names to new values (``None`` = nulled).

    Name/Address components (``LastName``, ``City`` ...) are nested and listed as ``Address.City`` in
    ``changedFields``, as CDC does; ``LastModifiedDate`` is always part of the change. With ``bitmap_schema``
    ``changedFields``/``nulledFields`` are sent in the Pub/Sub bitmap form against that schema (``detail.schemaId``
    is then the schema's id), as Event Relay may send them.
    """
    time = time or _now()
    ids = [lead_id] if isinstance(lead_id, str) else list(lead_id)
    ids = [i if i.endswith("*") else to_18(i) for i in ids]
    flat = {k: v for k, v in changes.items() if v is not None}
    flat["LastModifiedDate"] = _format_date(time, date_format)
    changed, nulled = [], []
    for key, value in list(changes.items()) + [("LastModifiedDate", flat["LastModifiedDate"])]:
        lead = entity == "Lead"
        name = f"Name.{key}" if lead and key in _NAME_PARTS else f"Address.{key}" if lead and key in _ADDRESS_PARTS else key
        (nulled if value is None else changed).append(name)
    if bitmap_schema is not None:
        changed = encode_field_list(changed, bitmap_schema)
        nulled = encode_field_list(nulled, bitmap_schema) if nulled else []
    payload = {
        "ChangeEventHeader": _header("UPDATE", ids, commit_user=commit_user, time=time, changed_fields=changed,
                                     nulled_fields=nulled, change_origin=change_origin, entity=entity)
    }
    payload.update(_nest_compounds(flat, full=False) if entity == "Lead" else flat)
    event = _envelope(detail_type or change_event_detail_type(entity), payload, org_id=org_id, relay_id=relay_id,
                      event_id=event_id or str(uuid.uuid4()), time=time, account=account, region=region,
                      replay_id=replay_id)
    if bitmap_schema is not None and bitmap_schema.schema_id:
        event["detail"]["schemaId"] = bitmap_schema.schema_id
    return event


def cdc_activity_event(
    entity: Literal["Task", "Event"],
    activity_ids: str | Iterable[str],
    fields: Mapping[str, Any],
    *,
    org_id: str,
    change_type: str = "CREATE",
    relay_id: str = DEFAULT_RELAY_ID,
    event_id: str | None = None,
    commit_user: str = DEFAULT_COMMIT_USER,
    change_origin: str = "com/salesforce/api/rest/62.0",
    time: datetime | None = None,
    detail_type: str | None = None,
) -> dict[str, Any]:
    """A ``TaskChangeEvent`` / ``EventChangeEvent`` (a logged call, email or meeting) as Event Relay delivers it.

    ``fields`` are Task/Event API names (``WhoId``, ``OwnerId``, ``Subject``, ``TaskSubtype``...). A CREATE gets
    ``CreatedById``/``OwnerId`` = ``commit_user`` unless given, ``CreatedDate`` and ``LastModifiedDate`` as CDC sends
    them; an UPDATE lists ``fields`` in ``changedFields``.
    """
    time = time or _now()
    ids = [activity_ids] if isinstance(activity_ids, str) else list(activity_ids)
    ids = [i if i.endswith("*") else to_18(i) for i in ids]
    body = dict(fields)
    stamp = int(time.timestamp() * 1000)
    if change_type == "CREATE":
        body.setdefault("OwnerId", commit_user)
        body.setdefault("CreatedById", commit_user)
        body.setdefault("CreatedDate", stamp)
        body.setdefault("LastModifiedById", commit_user)
        body.setdefault("Status", "Completed" if entity == "Task" else None)
        body = {k: v for k, v in body.items() if v is not None}
    body["LastModifiedDate"] = stamp
    changed = sorted(body) if change_type == "UPDATE" else []
    payload = {"ChangeEventHeader": _header(change_type, ids, commit_user=commit_user, time=time,
                                            changed_fields=changed, change_origin=change_origin, entity=entity)}
    payload.update(body)
    return _envelope(detail_type or change_event_detail_type(entity), payload, org_id=org_id, relay_id=relay_id,
                     event_id=event_id or str(uuid.uuid4()), time=time, account=DEFAULT_ACCOUNT,
                     region=DEFAULT_REGION, replay_id=None)


# A LeadChangeEvent Avro schema in the shape Salesforce serves it (GET /event/eventSchema/{id}): the header first,
# compound fields as nested records in a ["null", record] union. A subset of Lead's fields, for tests and the demo;
# a real org's schema has every field of its Lead object, in the org's own order.
LEAD_CHANGE_EVENT_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "LeadChangeEvent",
    "namespace": "com.sforce.eventbus",
    "uuid": "kX3pWq9dTnL0bR7yS2vHfA",  # the shape of a schema id (e.g. dffQ2QLzDNHqwB8_sHMxdA in the REST docs)
    "fields": [
        {"name": "ChangeEventHeader", "type": {"type": "record", "name": "ChangeEventHeader", "fields": [
            {"name": "entityName", "type": "string"}, {"name": "recordIds", "type": {"type": "array", "items": "string"}},
            {"name": "changeType", "type": "string"}, {"name": "changedFields", "type": {"type": "array", "items": "string"}},
        ]}},
        {"name": "Name", "type": ["null", {"type": "record", "name": "Switchable_PersonName", "fields": [
            {"name": n, "type": ["null", "string"], "default": None}
            for n in ("Salutation", "FirstName", "LastName", "MiddleName", "InformalName", "Suffix")
        ]}], "default": None},
        *({"name": n, "type": ["null", "string"], "default": None} for n in (
            "RecordTypeId", "Title", "Company")),
        {"name": "Address", "type": ["null", {"type": "record", "name": "Address", "fields": [
            {"name": n, "type": ["null", "string"], "default": None}
            for n in ("Street", "City", "State", "PostalCode", "Country", "StateCode", "CountryCode", "Latitude",
                      "Longitude", "GeocodeAccuracy")
        ]}], "default": None},
        *({"name": n, "type": ["null", "string"], "default": None} for n in (
            "Phone", "Email", "Website", "Description", "LeadSource", "Status", "Industry", "Rating",
            "AnnualRevenue", "NumberOfEmployees", "OwnerId", "IsConverted", "ConvertedDate", "CreatedDate",
            "CreatedById", "LastModifiedDate", "LastModifiedById", "Territory__c", "Territory_Tag_Method__c",
            "Routing_Status__c", "Routing_Reason__c")),
    ],
}


def lead_change_event_schema() -> EventSchema:
    """:data:`LEAD_CHANGE_EVENT_AVRO` as an :class:`EventSchema` (what ``GET eventSchema`` would give)."""
    return EventSchema.from_avro(LEAD_CHANGE_EVENT_AVRO)


def cdc_header_only_event(
    change_type: str,
    lead_ids: Iterable[str],
    *,
    org_id: str,
    relay_id: str = DEFAULT_RELAY_ID,
    event_id: str | None = None,
    commit_user: str = DEFAULT_COMMIT_USER,
    time: datetime | None = None,
    entity: str = "Lead",
    change_origin: str = "com/salesforce/api/rest/62.0",
) -> dict[str, Any]:
    """A DELETE or GAP_* event: the header alone, no field data."""
    time = time or _now()
    ids = [to_18(i) for i in lead_ids]
    payload = {"ChangeEventHeader": _header(change_type, ids, commit_user=commit_user, time=time, entity=entity,
                                            change_origin=change_origin)}
    return _envelope(change_event_detail_type(entity), payload, org_id=org_id, relay_id=relay_id,
                     event_id=event_id or str(uuid.uuid4()), time=time, account=DEFAULT_ACCOUNT,
                     region=DEFAULT_REGION, replay_id=None)


def cdc_delete_event(lead_ids: str | Iterable[str], **kwargs: Any) -> dict[str, Any]:
    ids = [lead_ids] if isinstance(lead_ids, str) else list(lead_ids)
    return cdc_header_only_event("DELETE", ids, **kwargs)


def platform_event(
    lead: Lead | Mapping[str, Any],
    *,
    org_id: str,
    relay_id: str = DEFAULT_RELAY_ID,
    event_id: str | None = None,
    created_by: str = DEFAULT_COMMIT_USER,
    time: datetime | None = None,
    date_format: DateFormat = "iso",
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    replay_id: int | None = None,
    detail_type: str = PLATFORM_DETAIL_TYPE,
) -> dict[str, Any]:
    """A ``Lead_Routing__e`` platform event (our own schema, see infra/salesforce).

    ``lead`` is a ``Lead`` (or dict of its attributes) or a dict of ``Lead_Routing__e`` field names.
    Coordinates are sent as text, as a flow using TEXT() would.
    """
    time = time or _now()
    model = _as_lead(lead)
    event_uuid = event_id or str(uuid.uuid4())
    if model is not None:
        payload: dict[str, Any] = {"Lead_Id__c": model.lead_id}
        for attr, name in _PLATFORM_NAMES.items():
            value = getattr(model, attr)
            if value is None:
                continue
            payload[name] = str(value) if attr in ("latitude", "longitude") else value
        if model.created_at is not None:
            payload["Lead_Created_Date__c"] = _format_date(model.created_at, date_format)
    else:
        payload = dict(lead)
    payload.setdefault("EventUuid", event_uuid)
    payload.setdefault("CreatedDate", _format_date(time, date_format))
    payload.setdefault("CreatedById", created_by)
    return _envelope(detail_type, payload, org_id=org_id, relay_id=relay_id, event_id=event_uuid,
                     time=time, account=account, region=region, replay_id=replay_id)


def sample_lead(lead_id: str = "00Qxx0000001AbCEAU", **overrides: Any) -> Lead:
    """A plausible lead in San Francisco (override any attribute)."""
    values: dict[str, Any] = {
        "lead_id": lead_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines Ltd",
        "email": "ada@example.com",
        "phone": "+1 415 555 0100",
        "street": "415 Mission Street",
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94105",
        "country": "US",
        "latitude": 37.7897,
        "longitude": -122.3972,
        "industry": "Technology",
        "lead_source": "Web",
        "status": "Open - Not Contacted",
    }
    values.update(overrides)
    return Lead.model_validate(values)


def publish_relay_events(events_client: Any, bus: str, events: Iterable[Mapping[str, Any]]) -> None:
    """Put Event Relay-shaped events (as built above) on an EventBridge bus, ten per PutEvents call.

    ``events_client`` is a boto3 EventBridge client; raises if EventBridge refuses any entry.
    """
    events = list(events)
    for start in range(0, len(events), 10):
        chunk = events[start : start + 10]
        resp = events_client.put_events(
            Entries=[
                {
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Detail": json.dumps(e["detail"]),
                    "EventBusName": bus,
                    "Time": datetime.fromisoformat(str(e["time"]).replace("Z", "+00:00")),
                }
                for e in chunk
            ]
        )
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {resp['FailedEntryCount']} of {len(chunk)} events")
