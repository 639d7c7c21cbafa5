"""The writer side of the Event Relay format: a change event as Salesforce puts it on the partner bus.

The reconciliation feeds leads that no event brought through intake as the very events intake already reads
(``cdc_create_event``); the test doubles and the demo build every other event shape on top of these helpers
(``territory_router_tools.salesforce.samples``). Salesforce's field API names and the CDC shapes: compound ``Name``
and ``Address`` fields nested, ``commitTimestamp`` and dates in epoch milliseconds (``date_format="iso"`` gives
ISO-8601 text instead).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead
from territory_router.salesforce.events import LEAD_ROUTING_EVENT, PARTNER_SOURCE_PREFIX

DEFAULT_RELAY_ID = "0YLxx0000000001GAA"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_COMMIT_USER = "005xx000001SvUNAA0"
DEFAULT_SCHEMA_ID = "0V7xx0000000001CAA"
CDC_DETAIL_TYPE = "/data/LeadChangeEvent"
PLATFORM_DETAIL_TYPE = f"/event/{LEAD_ROUTING_EVENT}"

DateFormat = Literal["epoch_ms", "iso"]

_NAME_PARTS = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix")
_ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "StateCode", "CountryCode",
                  "Latitude", "Longitude", "GeocodeAccuracy")

# Lead attribute -> Lead field API name
_API_NAMES = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "company": "Company",
    "email": "Email",
    "phone": "Phone",
    "street": "Street",
    "city": "City",
    "state": "State",
    "postal_code": "PostalCode",
    "country": "Country",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "industry": "Industry",
    "lead_source": "LeadSource",
    "status": "Status",
    "owner_id": "OwnerId",
    "language": "Language__c",
    "product_interest": "Product_Interest__c",
}
def _now() -> datetime:
    return datetime.now(UTC)


def _format_date(value: datetime, date_format: DateFormat) -> int | str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if date_format == "iso":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return int(value.timestamp() * 1000)


def _as_lead(lead: Lead | Mapping[str, Any]) -> Lead | None:
    if isinstance(lead, Lead):
        return lead
    if "lead_id" in lead:
        return Lead.model_validate(dict(lead))
    return None  # a mapping of Salesforce API names: used as the payload as it is


def _flat_api_fields(lead: Lead) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for attr, api_name in _API_NAMES.items():
        fields[api_name] = getattr(lead, attr)
    fields.update(lead.sf_fields)
    return fields


def _nest_compounds(flat: Mapping[str, Any], *, full: bool) -> dict[str, Any]:
    """Flat API names -> CDC shape with nested Name/Address (``full`` fills absent parts with null)."""
    payload: dict[str, Any] = {}
    name = {k: flat[k] for k in _NAME_PARTS if k in flat}
    address = {k: flat[k] for k in _ADDRESS_PARTS if k in flat}
    if full:
        name = {k: name.get(k) for k in _NAME_PARTS if k not in ("MiddleName", "Suffix")}
        address = {k: address.get(k) for k in _ADDRESS_PARTS if k not in ("StateCode", "CountryCode")}
    if name:
        payload["Name"] = name
    if address:
        payload["Address"] = address
    for key, value in flat.items():
        if key in _NAME_PARTS or key in _ADDRESS_PARTS:
            continue
        payload[key] = value
    return payload


def _envelope(detail_type: str, payload: dict[str, Any], *, org_id: str, relay_id: str, event_id: str,
              time: datetime, account: str, region: str, replay_id: int | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"payload": payload, "schemaId": DEFAULT_SCHEMA_ID, "id": event_id}
    if replay_id is not None:
        detail["replayId"] = str(replay_id)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": f"{PARTNER_SOURCE_PREFIX}{org_id}/{relay_id}",
        "account": account,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail,
    }


def change_event_detail_type(entity: str = "Lead") -> str:
    """The Event Relay ``detail-type`` of an object's change events (``/data/TaskChangeEvent``)."""
    return f"/data/{entity}ChangeEvent"


def _header(change_type: str, record_ids: list[str], *, commit_user: str, time: datetime,
            changed_fields: list[str] | None = None, nulled_fields: list[str] | None = None,
            change_origin: str = "com/salesforce/api/rest/62.0", entity: str = "Lead") -> dict[str, Any]:
    return {
        "entityName": entity,
        "recordIds": record_ids,
        "changeType": change_type,
        "changeOrigin": change_origin,
        "transactionKey": str(uuid.uuid4()),
        "sequenceNumber": 1,
        "commitTimestamp": int(time.timestamp() * 1000),
        "commitNumber": int(time.timestamp() * 1000) * 1000 + 1,
        "commitUser": commit_user,
        "nulledFields": nulled_fields or [],
        "diffFields": [],
        "changedFields": changed_fields or [],
    }


def cdc_create_event(
    lead: Lead | Mapping[str, Any],
    *,
    org_id: str,
    relay_id: str = DEFAULT_RELAY_ID,
    event_id: str | None = None,
    record_ids: Iterable[str] | None = None,
    commit_user: str = DEFAULT_COMMIT_USER,
    time: datetime | None = None,
    date_format: DateFormat = "epoch_ms",
    change_type: Literal["CREATE", "UNDELETE"] = "CREATE",
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    replay_id: int | None = None,
    detail_type: str | None = None,
    entity: str = "Lead",
    change_origin: str = "com/salesforce/api/rest/62.0",
) -> dict[str, Any]:
    """A ``LeadChangeEvent`` CREATE as Event Relay puts it on the partner bus.

    ``entity`` builds another object's change event from a mapping of its API names (``"Task"`` →
    ``TaskChangeEvent``, ``detail-type`` ``/data/TaskChangeEvent``); compound fields are nested for Leads only.

    ``lead`` is a ``Lead`` (or a dict of its attributes), or a dict of Salesforce Lead API names
    (``{"LastName": ..., "City": ...}``; then ``record_ids`` is required). ``record_ids`` defaults to the lead's id;
    several ids make one event for a bulk insert with identical values, as CDC does.
    """
    time = time or _now()
    model = _as_lead(lead)
    if model is not None:
        flat = _flat_api_fields(model)
        if model.created_at is not None:
            flat["CreatedDate"] = model.created_at
        ids = list(record_ids) if record_ids is not None else [model.lead_id]
    else:
        flat = dict(lead)
        if record_ids is None:
            raise ValueError("record_ids is required when lead is a mapping of Salesforce API names")
        ids = list(record_ids)
    flat.setdefault("CreatedDate", time)
    flat.setdefault("CreatedById", commit_user)
    flat.setdefault("LastModifiedDate", flat["CreatedDate"])
    flat.setdefault("LastModifiedById", commit_user)
    if entity == "Lead":
        flat.setdefault("IsConverted", False)
        flat.setdefault("Status", "Open - Not Contacted")
    for key in ("CreatedDate", "LastModifiedDate"):
        if isinstance(flat[key], datetime):
            flat[key] = _format_date(flat[key], date_format)
    ids = [to_18(i) for i in ids]
    payload = {"ChangeEventHeader": _header(change_type, ids, commit_user=commit_user, time=time, entity=entity,
                                            change_origin=change_origin)}
    payload.update(_nest_compounds(flat, full=True) if entity == "Lead" else flat)
    return _envelope(detail_type or change_event_detail_type(entity), payload, org_id=org_id, relay_id=relay_id,
                     event_id=event_id or str(uuid.uuid4()), time=time, account=account, region=region,
                     replay_id=replay_id)
