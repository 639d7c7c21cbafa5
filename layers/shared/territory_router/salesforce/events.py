"""Salesforce events as Event Relay delivers them to Amazon EventBridge, parsed into ``LeadChange`` values.

Three kinds of Salesforce events reach the intake:

* Change Data Capture ``LeadChangeEvent`` (detail-type ``/data/LeadChangeEvent``): a ``ChangeEventHeader`` plus
  the changed Lead fields, with the compound ``Name`` and ``Address`` fields nested as CDC sends them.
* Change Data Capture ``TaskChangeEvent`` / ``EventChangeEvent`` (activities: a logged call or email, a meeting):
  their ``WhoId`` names the lead a rep worked (``LastActivityDate`` is never in a ``LeadChangeEvent``).
* Our platform event ``Lead_Routing__e`` (detail-type ``/event/Lead_Routing__e``): flat custom fields
  (``Lead_Id__c``, ``Street__c``, ``Latitude__c`` ...) published by a flow/trigger when a lead asks for routing.

The EventBridge envelope is ``{"version", "id", "detail-type", "source", "account", "time", "region",
"resources", "detail": {"payload": {...}, "schemaId": ..., "id": ...}}`` with ``source`` =
``aws.partner/salesforce.com/<orgId>/<relayId>``.

Everything here is pure: no boto3, no environment. Error messages name the field that is wrong but never
echo field values (they may be personal data).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from territory_router.domain.ids import (
    LEAD_KEY_PREFIX,
    ORG_KEY_PREFIX,
    is_salesforce_id,
    same_id,
    to_18,
)
from territory_router.domain.leads import Lead
from territory_router.salesforce.bitmap import EventSchema, UndecodableBitmap, decode_field_list, has_bitmaps

PARTNER_SOURCE_PREFIX = "aws.partner/salesforce.com/"
LEAD_CHANGE_EVENT = "LeadChangeEvent"
LEAD_ROUTING_EVENT = "Lead_Routing__e"
TASK_CHANGE_EVENT = "TaskChangeEvent"
EVENT_CHANGE_EVENT = "EventChangeEvent"
# Event Relay names the channel in detail-type; accept the bare event name too.
CDC_DETAIL_TYPES = frozenset({f"/data/{LEAD_CHANGE_EVENT}", LEAD_CHANGE_EVENT})
PLATFORM_DETAIL_TYPES = frozenset({f"/event/{LEAD_ROUTING_EVENT}", LEAD_ROUTING_EVENT})
ACTIVITY_DETAIL_TYPES = frozenset(
    {"/data/TaskChangeEvent", "TaskChangeEvent", "/data/EventChangeEvent", "EventChangeEvent"}
)
# Activity entity -> key prefix of its record ids (Task 00T, Event 00U).
ACTIVITY_KEY_PREFIXES = {"Task": "00T", "Event": "00U"}
# A recordIds entry that names no record but a set of them: after a field-type conversion Salesforce may send
# "00Q*" (the affected records are unknown). It asks for a reconciliation, never the DLQ.
_WILDCARD_ID = re.compile(r"^[A-Za-z0-9]{0,17}\*$")

SchemaLookup = Callable[[str], EventSchema | None]

MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own limit for one event
MAX_DEPTH = 16  # envelope > detail > payload > compound field > value is 5 deep; leave room, refuse abuse
MAX_RECORD_IDS = 2000
MAX_STRING = 32 * 1024


class InvalidEvent(ValueError):
    """The event cannot be used. ``reason`` says what is wrong (never contains field values)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ForeignOrgEvent(InvalidEvent):
    """The event comes from another Salesforce org than the one this deployment serves."""

    def __init__(self, org_id: str, expected_org_id: str):
        super().__init__(f"event from org {org_id} but this deployment accepts only org {expected_org_id}")
        self.org_id = org_id
        self.expected_org_id = expected_org_id


class ChangeKind(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    UNDELETE = "UNDELETE"
    GAP = "GAP"  # GAP_* and GAP_OVERFLOW: the change is known, the data is not (refetch/report)
    ACTIVITY = "ACTIVITY"  # a Task/Event change: ``activity`` says what, ``lead_id`` is its WhoId when a lead
    RECONCILE = "RECONCILE"  # wildcard recordIds: the leads are unknown, reconcile by query (``reconcile``)


class EventSource(StrEnum):
    CDC = "CDC"
    PLATFORM_EVENT = "PLATFORM_EVENT"


_CHANGE_TYPES = {
    "CREATE": ChangeKind.CREATE,
    "UPDATE": ChangeKind.UPDATE,
    "DELETE": ChangeKind.DELETE,
    "UNDELETE": ChangeKind.UNDELETE,
    "GAP_CREATE": ChangeKind.GAP,
    "GAP_UPDATE": ChangeKind.GAP,
    "GAP_DELETE": ChangeKind.GAP,
    "GAP_UNDELETE": ChangeKind.GAP,
    "GAP_OVERFLOW": ChangeKind.GAP,
}


# ---------------------------------------------------------------------------------------------------------
# Wire models (what Salesforce and EventBridge send)
# ---------------------------------------------------------------------------------------------------------


class RelayDetail(BaseModel):
    """``detail`` of an Event Relay event."""

    # defer_build: validators are built at first use, not at import (cold start: docs/benchmarks.md)
    model_config = ConfigDict(defer_build=True, extra="allow")

    payload: dict[str, Any]
    schemaId: str | None = None  # noqa: N815 - Salesforce's name
    id: str | None = None  # the event's EventUuid
    replayId: str | int | None = None  # noqa: N815


class RelayEnvelope(BaseModel):
    """The EventBridge event Event Relay puts on the partner event bus."""

    model_config = ConfigDict(defer_build=True, extra="allow", populate_by_name=True)

    version: str | None = None
    id: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    account: str | None = None
    time: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: RelayDetail


class ChangeEventHeader(BaseModel):
    """CDC ``ChangeEventHeader``."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    entityName: str = Field(min_length=1)  # noqa: N815
    recordIds: list[str] = Field(default_factory=list)  # noqa: N815
    changeType: str  # noqa: N815
    changeOrigin: str | None = None  # noqa: N815
    transactionKey: str | None = None  # noqa: N815
    sequenceNumber: int | None = None  # noqa: N815
    commitTimestamp: int | str | None = None  # noqa: N815
    commitNumber: int | str | None = None  # noqa: N815
    commitUser: str | None = None  # noqa: N815
    changedFields: list[str] = Field(default_factory=list)  # noqa: N815 - names, or bitmaps (see bitmap.py)
    nulledFields: list[str] = Field(default_factory=list)  # noqa: N815
    diffFields: list[str] = Field(default_factory=list)  # noqa: N815


class LeadRoutingEventPayload(BaseModel):
    """Our platform event ``Lead_Routing__e`` (see infra/salesforce). Values arrive as text or numbers."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    Lead_Id__c: str  # noqa: N815
    EventUuid: str | None = None  # noqa: N815
    CreatedDate: Any = None  # noqa: N815 - epoch ms or ISO text, checked by parse_datetime
    CreatedById: Any = None  # noqa: N815 - checked as a Salesforce id


# ---------------------------------------------------------------------------------------------------------
# The parsed value the pipeline works with
# ---------------------------------------------------------------------------------------------------------


class ActivityInfo(BaseModel):
    """What a ``TaskChangeEvent`` / ``EventChangeEvent`` says about one activity (no subject or description: they
    may hold personal data and routing does not need them)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    entity: str  # Task | Event
    activity_id: str
    who_id: str | None = None  # the WhoId in the event (a lead 00Q, a contact 003...), when the event names it
    owner_id: str | None = None  # OwnerId (Assigned To)
    created_by: str | None = None  # CreatedById
    subtype: str | None = None  # TaskSubtype / EventSubtype (Call, Email, Task, Event...)


class ReconcileScope(BaseModel):
    """A change Salesforce could not attribute to records (wildcard ``recordIds`` such as ``00Q*``)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    entity: str
    record_pattern: str
    reason: str


class LeadChange(BaseModel):
    """One change to one Lead. A CDC event naming several records gives one ``LeadChange`` per record.

    ``lead_id`` is the 18-character id; it is ``None`` for a ``GAP_OVERFLOW`` event (which names no record), for a
    ``RECONCILE`` (wildcard record ids) and for an ``ACTIVITY`` whose ``WhoId`` is not a lead.
    ``lead`` is filled for CREATE, UNDELETE and the platform event. ``changed_fields`` maps Lead field API
    names (compound fields flattened: ``City``, ``LastName``) to their new values; a field set to null maps to
    ``None``. ``changed_fields_source`` says where the names came from: ``header`` (field names),
    ``bitmap`` (decoded with the event's schema) or ``payload`` (bitmaps without a schema: the payload's own keys).
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: ChangeKind
    lead_id: str | None
    org_id: str
    event_id: str
    idempotency_key: str
    source: EventSource
    change_type: str  # Salesforce's own value, e.g. GAP_UPDATE
    lead: Lead | None = None
    changed_fields: dict[str, Any] = Field(default_factory=dict)
    commit_user: str | None = None
    commit_timestamp: datetime | None = None
    change_origin: str | None = None
    transaction_key: str | None = None
    sequence_number: int | None = None
    gap: bool = False
    changed_fields_source: str = "header"
    activity: ActivityInfo | None = None
    reconcile: ReconcileScope | None = None


# ---------------------------------------------------------------------------------------------------------
# Value helpers
# ---------------------------------------------------------------------------------------------------------

# CDC (and REST) Lead field API name -> Lead attribute
_LEAD_FIELD_MAP: dict[str, str] = {
    "FirstName": "first_name",
    "LastName": "last_name",
    "Company": "company",
    "Email": "email",
    "Phone": "phone",
    "Street": "street",
    "City": "city",
    "State": "state",
    "StateCode": "state",
    "PostalCode": "postal_code",
    "Country": "country",
    "CountryCode": "country",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "Industry": "industry",
    "LeadSource": "lead_source",
    "Status": "status",
    "OwnerId": "owner_id",
    "CreatedDate": "created_at",
    "Language__c": "language",
    "Product_Interest__c": "product_interest",
    "ProductInterest__c": "product_interest",
}

# Every Lead field API name the parser maps to a Lead attribute (CSV headers are matched against these).
LEAD_FIELD_NAMES = frozenset(_LEAD_FIELD_MAP)

# Lead_Routing__e custom field -> Lead attribute
_PLATFORM_FIELD_MAP: dict[str, str] = {
    "First_Name__c": "first_name",
    "Last_Name__c": "last_name",
    "Company__c": "company",
    "Email__c": "email",
    "Phone__c": "phone",
    "Street__c": "street",
    "City__c": "city",
    "State__c": "state",
    "PostalCode__c": "postal_code",
    "Country__c": "country",
    "Latitude__c": "latitude",
    "Longitude__c": "longitude",
    "Industry__c": "industry",
    "Lead_Source__c": "lead_source",
    "Status__c": "status",
    "Owner_Id__c": "owner_id",
    "Language__c": "language",
    "Product_Interest__c": "product_interest",
    "Lead_Created_Date__c": "created_at",
}

_COMPOUND_FIELDS = ("Name", "Address")
_HEADER_FIELD = "ChangeEventHeader"
# Platform event system fields that are not lead data.
_PLATFORM_SYSTEM_FIELDS = frozenset({"Lead_Id__c", "EventUuid", "ReplayId", "CreatedDate", "CreatedById"})
# StateCode/CountryCode win over the free-text State/Country when both are present.
_PREFERRED_SOURCES = {"state": "StateCode", "country": "CountryCode"}


def parse_datetime(value: Any, *, field: str) -> datetime | None:
    """Epoch milliseconds (int or digits) or ISO-8601 text (``Z``/``+0000``) -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidEvent(f"{field}: expected epoch milliseconds or ISO-8601 date, got a boolean")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            millis = float(value)
            if not math.isfinite(millis):
                raise ValueError
            return datetime.fromtimestamp(millis / 1000.0, tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidEvent(f"{field}: epoch milliseconds out of range") from None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise InvalidEvent(f"{field}: not a date (too long)")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidEvent(f"{field}: not an ISO-8601 date nor epoch milliseconds") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise InvalidEvent(f"{field}: expected epoch milliseconds or ISO-8601 date, got {type(value).__name__}")


def _text(value: Any, *, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidEvent(f"{field}: expected text, got a non-finite number")
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidEvent(f"{field}: text longer than {MAX_STRING} characters")
        text = value.strip()
        return text or None
    raise InvalidEvent(f"{field}: expected text, got {type(value).__name__}")


def _coordinate(value: Any, *, field: str, limit: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidEvent(f"{field}: expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidEvent(f"{field}: expected a number") from None
    else:
        raise InvalidEvent(f"{field}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number) or abs(number) > limit:
        # A wrong geocode must not lose the lead: postal code/state/country still route it.
        return None
    return number


def _sf_scalar(value: Any, *, field: str) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _text(value, field=field)
    raise InvalidEvent(f"{field}: expected a scalar value, got {type(value).__name__}")


def _flatten(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Payload fields with the compound Name/Address fields flattened into their components."""
    flat: dict[str, Any] = {}
    for key, value in payload.items():
        if key == _HEADER_FIELD:
            continue
        if key in _COMPOUND_FIELDS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise InvalidEvent(f"detail.payload.{key}: compound field must be an object, got {type(value).__name__}")
            for part, part_value in value.items():
                flat[str(part)] = part_value
            continue
        flat[key] = value
    return flat


def _check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidEvent(f"event nested deeper than {limit} levels")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def _validation_reason(prefix: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{prefix}{loc}: {item['msg']}")
    return "; ".join(parts)


def _lead_id(value: Any, *, field: str) -> str:
    if not is_salesforce_id(value):
        raise InvalidEvent(f"{field}: not a 15/18-character Salesforce id")
    if not value.startswith(LEAD_KEY_PREFIX):
        raise InvalidEvent(f"{field}: not a Lead id (Lead ids start with {LEAD_KEY_PREFIX})")
    return to_18(value)


def _optional_id(value: Any, *, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not is_salesforce_id(value):
        raise InvalidEvent(f"{field}: not a 15/18-character Salesforce id")
    return to_18(value)


def _org_id_from_source(source: str) -> str:
    if not source.startswith(PARTNER_SOURCE_PREFIX):
        raise InvalidEvent(f"source: not a Salesforce partner event source (expected {PARTNER_SOURCE_PREFIX}<orgId>/<relayId>)")
    parts = source[len(PARTNER_SOURCE_PREFIX) :].split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidEvent("source: expected aws.partner/salesforce.com/<orgId>/<relayId>")
    org_id = parts[0]
    if not is_salesforce_id(org_id) or not org_id.startswith(ORG_KEY_PREFIX):
        raise InvalidEvent("source: org id is not a Salesforce organization id (00D...)")
    return to_18(org_id)


def _build_lead(lead_id: str, org_id: str, fields: Mapping[str, Any], field_map: Mapping[str, str],
                *, skip: frozenset[str] = frozenset()) -> Lead:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    sf_fields: dict[str, str | int | float | bool | None] = {}
    for name, raw in fields.items():
        if name in skip:
            continue
        attr = field_map.get(name)
        if attr is None:
            if isinstance(raw, Mapping | list):
                continue  # other compound/structured fields are not routing data
            value = _sf_scalar(raw, field=f"detail.payload.{name}")
            if value is not None:
                sf_fields[name] = value
            continue
        if attr == "latitude":
            value = _coordinate(raw, field=f"detail.payload.{name}", limit=90)
        elif attr == "longitude":
            value = _coordinate(raw, field=f"detail.payload.{name}", limit=180)
        elif attr == "created_at":
            value = parse_datetime(raw, field=f"detail.payload.{name}")
        elif attr == "owner_id":
            value = _optional_id(raw, field=f"detail.payload.{name}")
        else:
            value = _text(raw, field=f"detail.payload.{name}")
        if value is None:
            continue
        preferred = _PREFERRED_SOURCES.get(attr)
        if attr in values and preferred and sources.get(attr) == preferred:
            continue
        values[attr] = value
        sources[attr] = name
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        values.pop("latitude", None)  # half a coordinate is no coordinate
        values.pop("longitude", None)
    try:
        return Lead(lead_id=lead_id, org_id=org_id, sf_fields=sf_fields, **values)
    except ValidationError as exc:  # pragma: no cover - values are normalised above
        raise InvalidEvent(_validation_reason("lead.", exc)) from None


def _component(name: str) -> str:
    """``Address.City`` -> ``City``: compound components are flattened like the payload."""
    return name.split(".", 1)[1] if name.startswith(tuple(f"{c}." for c in _COMPOUND_FIELDS)) else name


def _changed_fields(
    header: ChangeEventHeader, flat: Mapping[str, Any], schema: EventSchema | None
) -> tuple[dict[str, Any], str]:
    """(changed field -> new value, where the names came from: ``header`` / ``bitmap`` / ``payload``).

    Bitmap ``changedFields``/``nulledFields`` are decoded with the event's schema when it is known. Otherwise
    (or when the bitmap does not fit the schema) the payload's own non-null keys are the changed fields: Event
    Relay sends unchanged fields as null or not at all, so a Status or OwnerId change is never lost; nulled
    fields cannot be told from unchanged ones then (neither Status nor OwnerId can be null).
    """
    changed_raw, nulled_raw, source = list(header.changedFields), list(header.nulledFields), "header"
    if has_bitmaps(changed_raw) or has_bitmaps(nulled_raw):
        source = "payload"
        if schema is not None:
            try:
                changed_raw = decode_field_list(changed_raw, schema)
                nulled_raw = decode_field_list(nulled_raw, schema)
                source = "bitmap"
            except UndecodableBitmap:
                source = "payload"
        if source == "payload":
            changed_raw = [k for k, v in flat.items() if v is not None]
            nulled_raw = []
    names = [_component(raw) for raw in changed_raw + nulled_raw]
    if not names:
        names = [k for k, v in flat.items() if v is not None]
    changed: dict[str, Any] = {}
    for name in names:
        if name in _COMPOUND_FIELDS or name == _HEADER_FIELD:
            continue
        value = flat.get(name)
        if isinstance(value, Mapping | list):
            continue
        changed[name] = _sf_scalar(value, field=f"detail.payload.{name}")
    for raw in nulled_raw:
        name = _component(raw)
        if name not in _COMPOUND_FIELDS and name != _HEADER_FIELD:
            changed[name] = None
    return changed, source


# ---------------------------------------------------------------------------------------------------------
# A Lead read with SOQL (gap events, reconciliation, backfill) -> the same Lead a CDC CREATE gives
# ---------------------------------------------------------------------------------------------------------

# The Lead fields a read selects to rebuild what a CDC CREATE carries for routing. Standard fields only: a custom
# field the org does not have makes the whole query fail with INVALID_FIELD (add your own with the setting
# SALESFORCE_EXTRA_LEAD_FIELDS, e.g. the Language__c a skill rule reads).
RECORD_FIELDS = (
    "FirstName", "LastName", "Company", "Email", "Phone", "Street", "City", "State", "PostalCode", "Country",
    "Latitude", "Longitude", "Industry", "LeadSource", "Status", "OwnerId", "CreatedDate", "CreatedById",
    "IsConverted",
)
# Keys of a REST record that are not Lead data (or that CDC never sends: a Lead built from a record must not
# carry what the same lead's CDC CREATE would not).
_RECORD_SKIP = frozenset({"attributes", "Id", "SystemModstamp", "LastActivityDate"})


def lead_from_record(record: Mapping[str, Any], *, org_id: str) -> Lead:
    """A Lead from a REST/SOQL record (flat API names, as the Query resource answers) or a Data Loader row.

    The parser's own field mapping (``_LEAD_FIELD_MAP``) and value rules apply, so a lead read back from
    Salesforce is the ``Lead`` its CDC CREATE would have given. Raises ``InvalidEvent`` for a bad id or value.
    """
    if not isinstance(record, Mapping):
        raise InvalidEvent("record: expected an object")
    lead_id = _lead_id(record.get("Id"), field="record.Id")
    fields = {k: v for k, v in record.items() if k not in _RECORD_SKIP and not isinstance(v, Mapping | list)}
    return _build_lead(lead_id, to_18(org_id) if is_salesforce_id(org_id) else org_id, fields, _LEAD_FIELD_MAP)


# ---------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------


def parse_relay_message(
    body: str | bytes, *, expected_org_id: str | None, schemas: SchemaLookup | None = None
) -> list[LeadChange]:
    """Parse the raw JSON text of an Event Relay event (e.g. an SQS message body)."""
    if isinstance(body, bytes | bytearray):
        if len(body) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"event larger than {MAX_EVENT_BYTES // 1024} KB")
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"event is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(body, str):
        raise InvalidEvent(f"event body must be JSON text, got {type(body).__name__}")
    if len(body.encode("utf-8", errors="surrogatepass")) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event larger than {MAX_EVENT_BYTES // 1024} KB")
    try:
        event = json.loads(body)
    except RecursionError:
        raise InvalidEvent(f"event nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise InvalidEvent(f"event is not JSON ({exc.msg} at position {exc.pos})") from None
    return parse_relay_event(event, expected_org_id=expected_org_id, schemas=schemas)


def parse_relay_event(
    event: dict, *, expected_org_id: str | None, schemas: SchemaLookup | None = None
) -> list[LeadChange]:
    """Parse one Event Relay EventBridge event into one ``LeadChange`` per Lead (or activity) it names.

    Raises ``InvalidEvent`` (reason names what is wrong) for anything malformed or not about Leads or their
    activities, and ``ForeignOrgEvent`` when the org in ``source`` is not ``expected_org_id`` (``None`` accepts any
    org). ``schemas`` looks an event schema up by ``detail.schemaId``, to decode bitmap change fields; without it
    (or when it returns None) the payload's own keys stand in for the bitmaps.
    """
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event must be a JSON object, got {type(event).__name__}")
    _check_depth(event)
    try:
        size = len(json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEvent("event contains invalid Unicode (an unpaired surrogate escape)") from None
    except (TypeError, ValueError, RecursionError):
        raise InvalidEvent("event is not JSON-serialisable") from None
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event larger than {MAX_EVENT_BYTES // 1024} KB")
    try:
        envelope = RelayEnvelope.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(_validation_reason("", exc)) from None

    org_id = _org_id_from_source(envelope.source)
    if expected_org_id:
        if not is_salesforce_id(expected_org_id):
            raise InvalidEvent("expected_org_id is not a Salesforce id (configuration error)")
        if not same_id(org_id, expected_org_id):
            raise ForeignOrgEvent(org_id, to_18(expected_org_id))

    detail_type = envelope.detail_type
    if detail_type in CDC_DETAIL_TYPES:
        return _parse_cdc(envelope, org_id, schemas)
    if detail_type in ACTIVITY_DETAIL_TYPES:
        return _parse_activity(envelope, org_id)
    if detail_type in PLATFORM_DETAIL_TYPES:
        return _parse_platform_event(envelope, org_id)
    raise InvalidEvent(
        "detail-type: unsupported event channel (expected /data/LeadChangeEvent, /data/TaskChangeEvent, "
        "/data/EventChangeEvent or /event/Lead_Routing__e)"
    )


def _event_id(envelope: RelayEnvelope, payload: Mapping[str, Any]) -> str:
    detail = envelope.detail
    for candidate in (detail.id, detail.replayId, payload.get("EventUuid"), payload.get("ReplayId")):
        if isinstance(candidate, str | int) and not isinstance(candidate, bool) and str(candidate).strip():
            text = str(candidate).strip()
            if len(text) > 256:
                raise InvalidEvent("detail.id: event id longer than 256 characters")
            return text
    return envelope.id


def _header(payload: Mapping[str, Any]) -> ChangeEventHeader:
    raw_header = payload.get(_HEADER_FIELD)
    if raw_header is None:
        raise InvalidEvent("detail.payload.ChangeEventHeader: missing (not a Change Data Capture event)")
    if not isinstance(raw_header, Mapping):
        raise InvalidEvent("detail.payload.ChangeEventHeader: must be an object")
    try:
        header = ChangeEventHeader.model_validate(raw_header)
    except ValidationError as exc:
        raise InvalidEvent(_validation_reason("detail.payload.ChangeEventHeader.", exc)) from None
    if _CHANGE_TYPES.get(header.changeType) is None:
        raise InvalidEvent(
            "detail.payload.ChangeEventHeader.changeType: unknown change type "
            f"(expected one of {', '.join(sorted(_CHANGE_TYPES))})"
        )
    if len(header.recordIds) > MAX_RECORD_IDS:
        raise InvalidEvent(f"detail.payload.ChangeEventHeader.recordIds: more than {MAX_RECORD_IDS} ids")
    return header


def _wildcard(raw_id: Any, key_prefix: str, *, field: str) -> str | None:
    """``"00Q*"`` (a wildcard over this entity's records) -> the pattern; None for anything that is no wildcard."""
    if not isinstance(raw_id, str) or not _WILDCARD_ID.match(raw_id):
        return None
    stem = raw_id[:-1]
    if not (key_prefix.startswith(stem) or stem.startswith(key_prefix)):
        raise InvalidEvent(f"{field}: wildcard names records that are not of this entity (expected {key_prefix}*)")
    return raw_id


def _parse_cdc(envelope: RelayEnvelope, org_id: str, schemas: SchemaLookup | None = None) -> list[LeadChange]:
    payload = envelope.detail.payload
    header = _header(payload)
    if header.entityName != "Lead":
        raise InvalidEvent("detail.payload.ChangeEventHeader.entityName: only Lead changes are accepted")
    kind = _CHANGE_TYPES[header.changeType]
    record_ids: list[str] = []
    wildcards: list[str] = []
    for index, raw_id in enumerate(header.recordIds):
        field = f"detail.payload.ChangeEventHeader.recordIds.{index}"
        pattern = _wildcard(raw_id, LEAD_KEY_PREFIX, field=field)
        if pattern is not None:
            wildcards.append(pattern)
            continue
        lead_id = _lead_id(raw_id, field=field)
        if lead_id not in record_ids:
            record_ids.append(lead_id)
    overflow = header.changeType == "GAP_OVERFLOW"
    if not record_ids and not wildcards and not overflow:
        raise InvalidEvent("detail.payload.ChangeEventHeader.recordIds: no record id")

    commit_user = _optional_id(header.commitUser, field="detail.payload.ChangeEventHeader.commitUser")
    commit_ts = parse_datetime(header.commitTimestamp, field="detail.payload.ChangeEventHeader.commitTimestamp")
    event_id = _event_id(envelope, payload)
    flat = _flatten(payload)
    changed: dict[str, Any] = {}
    source = "header"
    if kind is ChangeKind.UPDATE:
        schema = None
        schema_id = envelope.detail.schemaId
        if schemas is not None and schema_id and has_bitmaps(header.changedFields + header.nulledFields):
            schema = schemas(schema_id)
        changed, source = _changed_fields(header, flat, schema)

    common = {
        "kind": kind,
        "org_id": org_id,
        "event_id": event_id,
        "source": EventSource.CDC,
        "change_type": header.changeType,
        "changed_fields": changed,
        "commit_user": commit_user,
        "commit_timestamp": commit_ts,
        "change_origin": header.changeOrigin,
        "transaction_key": header.transactionKey,
        "sequence_number": header.sequenceNumber,
        "gap": kind is ChangeKind.GAP,
        "changed_fields_source": source,
    }
    if overflow and not record_ids and not wildcards:
        return [LeadChange(lead_id=None, idempotency_key=f"{event_id}:*", **common)]

    changes = []
    for lead_id in record_ids:
        lead = None
        if kind in (ChangeKind.CREATE, ChangeKind.UNDELETE):
            lead = _build_lead(lead_id, org_id, flat, _LEAD_FIELD_MAP, skip=frozenset({"Id"}))
        changes.append(LeadChange(lead_id=lead_id, idempotency_key=f"{event_id}:{lead_id}", lead=lead, **common))
    if wildcards:
        scope = ReconcileScope(
            entity="Lead",
            record_pattern=wildcards[0],
            reason=f"{header.changeType} for {wildcards[0]}: Salesforce did not say which leads changed",
        )
        common_reconcile = {**common, "kind": ChangeKind.RECONCILE, "changed_fields": {}, "gap": False}
        changes.append(
            LeadChange(lead_id=None, idempotency_key=f"{event_id}:{wildcards[0]}", reconcile=scope, **common_reconcile)
        )
    return changes


def _parse_activity(envelope: RelayEnvelope, org_id: str) -> list[LeadChange]:
    """A ``TaskChangeEvent`` / ``EventChangeEvent``: one ``ACTIVITY`` change per activity record.

    ``lead_id`` is the activity's ``WhoId`` when it is a lead (``00Q``); a contact (``003``), no ``WhoId`` (an update
    that did not touch it) or a wildcard gives ``lead_id = None``: intake ignores it cleanly. Field shapes follow the
    CDC event body (Task and Event have no compound fields).
    """
    payload = envelope.detail.payload
    header = _header(payload)
    expected = TASK_CHANGE_EVENT if envelope.detail_type.endswith(TASK_CHANGE_EVENT) else EVENT_CHANGE_EVENT
    entity = expected.removesuffix("ChangeEvent")
    if header.entityName != entity:
        raise InvalidEvent(f"detail.payload.ChangeEventHeader.entityName: a {expected} must be about {entity} records")
    key_prefix = ACTIVITY_KEY_PREFIXES[entity]
    activity_ids: list[str] = []
    wildcard = None
    for index, raw_id in enumerate(header.recordIds):
        field = f"detail.payload.ChangeEventHeader.recordIds.{index}"
        pattern = _wildcard(raw_id, key_prefix, field=field)
        if pattern is not None:
            wildcard = pattern
            continue
        if not is_salesforce_id(raw_id) or not raw_id.startswith(key_prefix):
            raise InvalidEvent(f"{field}: not a {entity} id ({entity} ids start with {key_prefix})")
        activity_id = to_18(raw_id)
        if activity_id not in activity_ids:
            activity_ids.append(activity_id)
    if not activity_ids and wildcard is None and header.changeType != "GAP_OVERFLOW":
        raise InvalidEvent("detail.payload.ChangeEventHeader.recordIds: no record id")

    who_id = _optional_id(payload.get("WhoId"), field="detail.payload.WhoId")
    owner_id = _optional_id(payload.get("OwnerId"), field="detail.payload.OwnerId")
    created_by = _optional_id(payload.get("CreatedById"), field="detail.payload.CreatedById")
    subtype = _text(payload.get(f"{entity}Subtype"), field=f"detail.payload.{entity}Subtype")
    commit_user = _optional_id(header.commitUser, field="detail.payload.ChangeEventHeader.commitUser")
    commit_ts = parse_datetime(header.commitTimestamp, field="detail.payload.ChangeEventHeader.commitTimestamp")
    event_id = _event_id(envelope, payload)
    lead_id = who_id if who_id and who_id.startswith(LEAD_KEY_PREFIX) else None
    common = {
        "kind": ChangeKind.ACTIVITY,
        "org_id": org_id,
        "event_id": event_id,
        "source": EventSource.CDC,
        "change_type": header.changeType,
        "commit_user": commit_user,
        "commit_timestamp": commit_ts,
        "change_origin": header.changeOrigin,
        "transaction_key": header.transactionKey,
        "sequence_number": header.sequenceNumber,
        "gap": header.changeType.startswith("GAP_"),
    }
    ids = activity_ids or [wildcard or "*"]
    return [
        LeadChange(
            lead_id=lead_id if activity_id in activity_ids else None,
            idempotency_key=f"{event_id}:{activity_id}",
            activity=ActivityInfo(entity=entity, activity_id=activity_id, who_id=who_id, owner_id=owner_id,
                                  created_by=created_by, subtype=subtype),
            **common,
        )
        for activity_id in ids
    ]


def _parse_platform_event(envelope: RelayEnvelope, org_id: str) -> list[LeadChange]:
    payload = envelope.detail.payload
    try:
        event = LeadRoutingEventPayload.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEvent(_validation_reason("detail.payload.", exc)) from None
    lead_id = _lead_id(event.Lead_Id__c.strip(), field="detail.payload.Lead_Id__c")
    created_by = _optional_id(event.CreatedById, field="detail.payload.CreatedById")
    created = parse_datetime(event.CreatedDate, field="detail.payload.CreatedDate")
    event_id = _event_id(envelope, payload)
    lead = _build_lead(lead_id, org_id, payload, _PLATFORM_FIELD_MAP, skip=_PLATFORM_SYSTEM_FIELDS)
    if lead.created_at is None and created is not None:
        lead = lead.model_copy(update={"created_at": created})
    return [
        LeadChange(
            kind=ChangeKind.CREATE,
            lead_id=lead_id,
            org_id=org_id,
            event_id=event_id,
            idempotency_key=f"{event_id}:{lead_id}",
            source=EventSource.PLATFORM_EVENT,
            change_type=LEAD_ROUTING_EVENT,
            lead=lead,
            commit_user=created_by,
            commit_timestamp=created,
        )
    ]
