"""A small stateful Salesforce org for tests and the demo: REST on loopback, CDC out through an Event Relay stand-in.

It holds users (active or not, one integration user), queues (``00G``, with or without Lead as a supported object),
leads, tasks and events, and answers what Territory Router calls the way Salesforce documents it
(docs/salesforce.md, "Testing without Salesforce", cites the source of each answer):

* ``POST /services/oauth2/token`` (client credentials; the token runs as the integration user);
* ``PATCH /services/data/vXX.X/composite/sobjects`` (sObject Collections update: ≤ 200 records, results by position,
  per-record errors ``INACTIVE_OWNER_OR_USER``, ``INVALID_CROSS_REFERENCE_KEY``, ``FIELD_INTEGRITY_EXCEPTION``,
  ``ENTITY_IS_DELETED``, ``UNABLE_TO_LOCK_ROW``, ``CANNOT_UPDATE_CONVERTED_LEAD`` ..., ``allOrNone`` roll-back);
* ``GET /services/data/vXX.X/sobjects/{Lead|Task|Event}/{id}[?fields=...]``;
* ``GET /services/data/vXX.X/event/eventSchema/{schemaId}`` (the Avro schema of its change events; every event it
  emits carries that ``schemaId``, so bitmap change fields can be decoded);
* ``GET /services/data/vXX.X/query?q=SOQL`` and ``.../query/<cursor>`` (the subset of ``fake_soql``; ``totalSize``,
  ``done``, ``records[]`` with ``attributes``, ``nextRecordsUrl`` pages of 2,000 or ``Sforce-Query-Options``);
* a rolling 24-hour API allocation: ``Sforce-Limit-Info: api-usage=N/M`` on every ``/services/data`` response and
  ``403 REQUEST_LIMIT_EXCEEDED`` while the last 24 hours used the whole allocation (``spend_api`` lets "other
  integrations" use it up, e.g. for a simulated day).

Every change it makes is published as a Change Data Capture event in Event Relay's EventBridge envelope
(``territory_router_tools.salesforce.samples``): creates by reps, imports and web-to-lead, updates by people, our own
writeback's echo (``commitUser`` = integration user, ``changeOrigin`` ``...;client=TerritoryRouter`` when the call sent
``Sforce-Call-Options``), deletes, ``TaskChangeEvent``/``EventChangeEvent`` for logged calls and meetings (the lead's
``LastActivityDate`` changes silently: CDC omits derived fields), ``GAP_*`` events, optionally bitmap
``changedFields``. The relay can be stopped: events wait, and those older than the retention (72 h) when it
resumes are lost, as on the platform.

The clock is the org's own (``now()``; ``advance()`` moves it), so a test can live through a day in a second.
This is tooling: no handler imports it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from territory_router.domain.ids import is_salesforce_id, to_18
from territory_router_tools.salesforce import fake_soql

API_PATH = re.compile(r"^/services/data/(v\d+\.\d)(/.*)?$")
MAX_BODY = 10 * 1024 * 1024
MAX_COLLECTION_RECORDS = 200
DEFAULT_QUERY_BATCH = 2000
RETENTION = timedelta(hours=72)
INTEGRATION_CLIENT_ORIGIN = "client="
UI_CHANGE_ORIGIN = "com/salesforce/api/soap/62.0;client=SfdcInternalAPI/"  # Lightning Experience edits

LEAD_FIELDS = (
    "Id", "IsDeleted", "Salutation", "FirstName", "LastName", "Company", "Title", "Email", "Phone", "Street", "City",
    "State", "PostalCode", "Country", "StateCode", "CountryCode", "Latitude", "Longitude", "GeocodeAccuracy",
    "Industry", "LeadSource", "Status", "Description", "OwnerId", "IsConverted", "ConvertedDate",
    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "LastActivityDate",
    "Language__c", "Product_Interest__c", "Territory__c", "Territory_Tag_Method__c", "Territory_Tag_Precision__c",
    "Routing_Status__c", "Routing_Reason__c",
)
TASK_FIELDS = (
    "Id", "IsDeleted", "WhoId", "WhatId", "OwnerId", "Subject", "Status", "Priority", "TaskSubtype", "CallType",
    "ActivityDate", "IsClosed", "Description", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp",
)
EVENT_FIELDS = (
    "Id", "IsDeleted", "WhoId", "WhatId", "OwnerId", "Subject", "EventSubtype", "StartDateTime", "EndDateTime",
    "ActivityDate", "DurationInMinutes", "Description", "CreatedDate", "CreatedById", "LastModifiedDate",
    "LastModifiedById", "SystemModstamp",
)
FIELDS = {"Lead": LEAD_FIELDS, "Task": TASK_FIELDS, "Event": EVENT_FIELDS}
ID_PREFIX = {"Lead": "00Q", "Task": "00T", "Event": "00U"}
# Set by Salesforce, never by a client (INVALID_FIELD_FOR_INSERT_UPDATE).
READ_ONLY = frozenset({"Id", "IsDeleted", "IsConverted", "ConvertedDate", "CreatedDate", "CreatedById",
                       "LastModifiedDate", "LastModifiedById", "SystemModstamp", "LastActivityDate", "IsClosed"})
# Left out of change events: derived or system-computed (CDC "Change Event Fields").
NOT_IN_CHANGE_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp", "LastActivityDate", "LastViewedDate",
                                  "LastReferencedDate"})
NAME_PARTS = ("Salutation", "FirstName", "LastName")
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "StateCode", "CountryCode", "Latitude",
                 "Longitude", "GeocodeAccuracy")
CLOSED_STATUSES = ("Closed - Converted", "Closed - Not Converted")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class User:
    user_id: str
    name: str
    active: bool = True
    integration: bool = False


@dataclass
class Queue:
    queue_id: str
    name: str
    sobject_types: frozenset[str] = frozenset({"Lead"})  # empty: a public group (also 00G), owns nothing


@dataclass
class _Failures:
    expire_sessions: int = 0
    limit_exceeded: int = 0
    unavailable: int = 0
    unavailable_retry_after: str | None = "2"
    record_errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # id15 -> (code, message)
    transient_record_errors: dict[str, deque[tuple[str, str]]] = field(default_factory=dict)
    next_calls: deque[tuple[int, str, str]] = field(default_factory=deque)  # (status, errorCode, message)


@dataclass
class RelayStats:
    delivered: int = 0
    lost: int = 0  # waited longer than the retention while the relay was stopped
    filtered: int = 0  # not on the channel: a channel member's filter expression did not match


def sf_datetime(value: datetime) -> str:
    """REST API datetime text: ``2026-03-01T12:00:00.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class FakeOrg:
    """The test org. ``start()``/``stop()`` or a context manager; ``url`` is its My Domain and instance URL."""

    def __init__(self, *, client_id: str | None = None, client_secret: str | None = None,
                 org_id: str = "00Dxx0000001gErEAI", integration_user_id: str = "005xx000000IntgAAC",
                 api_limit: int = 15000, host: str = "127.0.0.1", bitmap_fields: bool = False,
                 cdc_entities: Iterable[str] = ("Lead", "Task", "Event"), relay_id: str | None = None,
                 channel_filters: Mapping[str, str] | None = None):
        # None accepts any non-empty credentials (the demo's); set both to check them as Salesforce does.
        self.check_credentials = client_id is not None or client_secret is not None
        self.client_id = client_id or "fake-client-id"
        self.client_secret = client_secret or "fake-client-secret"
        self.org_id = to_18(org_id)
        self.relay_id = relay_id or "0YLxx0000000001GAA"
        self.api_limit = api_limit
        self.bitmap_fields = bitmap_fields
        self.cdc_entities = frozenset(cdc_entities)
        self._channel_filters: dict[str, Any] = {}  # selected entity (LeadChangeEvent) -> compiled filter
        self.requests: list[RecordedRequest] = []
        self.users: dict[str, User] = {}
        self.queues: dict[str, Queue] = {}
        self.leads: dict[str, dict[str, Any]] = {}  # 18-char id -> fields
        self.tasks: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()  # 18-char ids in the recycle bin
        self.emitted: list[dict[str, Any]] = []  # every change event the org produced, in order
        self.relay_stats = RelayStats()
        self._relay_running = True
        self._relay_backlog: list[dict[str, Any]] = []
        self._sink: Callable[[list[dict[str, Any]]], None] | None = None
        self._delivery_lock = threading.Lock()
        self._offset = timedelta(0)
        self._api_calls: deque[tuple[datetime, int]] = deque()  # (when, count) in the rolling 24 hours
        self._tokens: dict[str, str] = {}  # access token -> run-as user id
        self._tokens_issued = 0
        self._ids = itertools.count(1)
        self._replay = itertools.count(1)
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self.query_batch = DEFAULT_QUERY_BATCH  # records per query page without Sforce-Query-Options (tests: smaller)
        self.unreachable = False  # True: the HTTP server drops every connection unanswered (a network failure)
        self._failures = _Failures()
        self._locks: dict[str, int] = {}  # id15 -> updates still answered UNABLE_TO_LOCK_ROW
        self._lock = threading.RLock()
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.integration_user_id = to_18(integration_user_id)
        self.users[self.integration_user_id] = User(self.integration_user_id, "Territory Router Integration",
                                                    integration=True)
        self.admin_id = self.add_user("Ada Admin")
        self.default_lead_owner = self.add_queue("Inbound Leads").queue_id  # Setup → Lead Settings
        for selected_entity, expression in (channel_filters or {}).items():
            self.set_channel_filter(selected_entity, expression)

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeOrg:
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-salesforce-org", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the org is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def secret(self) -> dict[str, str]:
        """The Secrets Manager secret value that points a client at this org."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "my_domain_url": self.url}

    # --------------------------------------------------------------------------------------------- clock

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the org's clock forward (seconds or a timedelta); returns the new time."""
        with self._lock:
            self._offset += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self.now()

    # ------------------------------------------------------------------------------------ people, queues

    def _new_id(self, prefix: str) -> str:
        return to_18(f"{prefix}5e{next(self._ids):010d}")

    def add_user(self, name: str, *, user_id: str | None = None, active: bool = True) -> str:
        uid = to_18(user_id) if user_id else self._new_id("005")
        with self._lock:
            self.users[uid] = User(uid, name, active)
        return uid

    def set_user_active(self, user_id: str, active: bool) -> None:
        with self._lock:
            self.users[to_18(user_id)].active = active

    def add_queue(self, name: str, *, queue_id: str | None = None, sobject_types: Iterable[str] = ("Lead",)) -> Queue:
        qid = to_18(queue_id) if queue_id else self._new_id("00G")
        queue = Queue(qid, name, frozenset(sobject_types))
        with self._lock:
            self.queues[qid] = queue
        return queue

    def adopt_roster(self, roster: Mapping[str, Any]) -> None:
        """Make every user and queue a roster document names exist (active users; queues that take Leads), as
        they do in the org the roster was written for. Existing users and queues are left as they are."""
        ids: dict[str, str] = {}
        for rep in roster.get("reps") or []:
            if isinstance(rep, Mapping) and rep.get("rep_id"):
                ids[str(rep["rep_id"])] = str(rep.get("name") or rep["rep_id"])
                if rep.get("manager_id"):
                    ids.setdefault(str(rep["manager_id"]), "Manager")
        for group in roster.get("groups") or []:
            if isinstance(group, Mapping):
                for key in ("fallback_owner", "escalation_owner"):
                    if group.get(key):
                        ids.setdefault(str(group[key]), f"{group.get('group_id')} {key.replace('_', ' ')}")
        if roster.get("default_fallback_owner"):
            ids.setdefault(str(roster["default_fallback_owner"]), "Default fallback owner")
        for raw, name in ids.items():
            if not is_salesforce_id(raw):
                continue
            oid = to_18(raw)
            if oid.startswith("005") and oid not in self.users:
                self.add_user(name, user_id=oid)
            elif oid.startswith("00G") and oid not in self.queues:
                self.add_queue(name, queue_id=oid)

    # ---------------------------------------------------------------------------- API usage and failures

    def _usage(self, now: datetime) -> int:
        cutoff = now - timedelta(hours=24)
        while self._api_calls and self._api_calls[0][0] <= cutoff:
            self._api_calls.popleft()
        return sum(n for _, n in self._api_calls)

    @property
    def api_used(self) -> int:
        """API requests in the last 24 hours (ours and every other integration's)."""
        with self._lock:
            return self._usage(self.now())

    def spend_api(self, calls: int | None = None) -> None:
        """Other integrations use ``calls`` requests now (default: whatever is left: blocked for 24 hours)."""
        with self._lock:
            now = self.now()
            n = self.api_limit - self._usage(now) if calls is None else calls
            if n > 0:
                self._api_calls.append((now, n))

    def expire_session(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 401 INVALID_SESSION_ID, and current tokens become invalid."""
        with self._lock:
            self._failures.expire_sessions += times

    def exceed_limit(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 403 REQUEST_LIMIT_EXCEEDED (a burst: usage itself is unchanged)."""
        with self._lock:
            self._failures.limit_exceeded += times

    def fail_next_call(self, status: int, code: str, message: str = "", *, times: int = 1) -> None:
        """The next ``times`` API calls answer ``status`` with ``[{"message", "errorCode": code}]``."""
        with self._lock:
            self._failures.next_calls.extend([(status, code, message or code)] * times)

    def accept_token(self, token: str) -> None:
        """Take ``token`` as issued to the integration user (a client with a static token, no OAuth exchange)."""
        with self._lock:
            self._tokens[token] = self.integration_user_id

    def make_unavailable(self, times: int = 1, retry_after: str | None = "2") -> None:
        """The next ``times`` API calls answer 503 SERVER_UNAVAILABLE (with ``Retry-After`` unless None)."""
        with self._lock:
            self._failures.unavailable += times
            self._failures.unavailable_retry_after = retry_after

    def fail_record(self, record_id: str, code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    message: str = "Validation failed", *, times: int | None = None) -> None:
        """Updates of ``record_id`` fail with ``code`` (always, or the next ``times`` updates): a validation rule,
        a trigger, a lock held by another transaction..."""
        key = record_id[:15]
        with self._lock:
            if times is None:
                self._failures.record_errors[key] = (code, message)
            else:
                self._failures.transient_record_errors.setdefault(key, deque()).extend([(code, message)] * times)

    def rotate_secret(self, new_secret: str) -> None:
        """The admin regenerated the consumer secret: the old one and every issued token stop working."""
        with self._lock:
            self.client_secret = new_secret
            self.check_credentials = True
            self._tokens.clear()

    def api_requests(self, method: str | None = None, path_prefix: str = "/services/data/") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.path.startswith(path_prefix) and (method is None or r.method == method)]

    # ------------------------------------------------------------------------------------------- relay

    def connect(self, events_client: Any, bus: str) -> FakeOrg:
        """Relay change events to an EventBridge bus (the local stack's partner bus)."""
        from territory_router_tools.salesforce.samples import publish_relay_events

        self._sink = lambda events: publish_relay_events(events_client, bus, events)
        return self

    def set_channel_filter(self, selected_entity: str, expression: str | None) -> None:
        """Deploy a ``filterExpression`` on the relay channel's member for ``selected_entity`` (``LeadChangeEvent``;
        None removes it). Only matching change events of that entity are put on the channel from then on, as on the
        platform; an expression Salesforce refuses raises ``channel_filter.FilterExpressionError`` and changes
        nothing (the deploy fails)."""
        from territory_router_tools.salesforce.channel_filter import parse

        entity = selected_entity.removesuffix("ChangeEvent")
        if entity not in FIELDS or entity not in self.cdc_entities:
            raise ValueError(f"{selected_entity} is not a member of this org's change data channel")
        with self._lock:
            if expression is None:
                self._channel_filters.pop(selected_entity, None)
            else:
                self._channel_filters[selected_entity] = parse(expression, entity_fields=FIELDS[entity])

    def on_channel(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The change events the channel holds: those whose member has no filter or whose filter they match
        (the others are counted in ``relay_stats.filtered`` and never reach a subscriber)."""
        from territory_router_tools.salesforce.channel_filter import matches

        kept = []
        with self._lock:
            for event in events:
                payload = (event.get("detail") or {}).get("payload") or {}
                header = payload.get("ChangeEventHeader") or {}
                entity = header.get("entityName") or ""
                node = self._channel_filters.get(f"{entity}ChangeEvent")
                if node is not None:
                    ids = header.get("recordIds") or []
                    record = {}
                    if ids and entity in FIELDS and is_salesforce_id(ids[0]):
                        record = self._store(entity).get(to_18(ids[0]), {})
                    # A field named in the filter is enriched into the event: the record's value, else the payload's.
                    if not matches(node, header=header, fields={**record, **payload}):
                        self.relay_stats.filtered += 1
                        continue
                kept.append(event)
        return kept

    def stop_relay(self) -> None:
        """Setup → Event Relays → Stop: events are kept (72 hours) but not delivered."""
        with self._lock:
            self._relay_running = False

    def start_relay(self) -> RelayStats:
        """Resume (``ReplayRecovery: EARLIEST``): deliver the retained events; older ones are gone."""
        with self._lock:
            self._relay_running = True
            cutoff = self.now() - RETENTION
            backlog, self._relay_backlog = self._relay_backlog, []
            kept = [e for e in backlog if _event_time(e) > cutoff]
            lost = len(backlog) - len(kept)
            self.relay_stats.lost += lost
        self._deliver(kept)
        return RelayStats(delivered=len(kept), lost=lost)

    @property
    def relay_running(self) -> bool:
        return self._relay_running

    def _emit(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._lock:
            self.emitted.extend(events)
            events = self.on_channel(events)
            if not self._relay_running:
                self._relay_backlog.extend(events)
                return
        self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._delivery_lock:
            if self._sink is not None:
                self._sink(events)
            self.relay_stats.delivered += len(events)

    def _event(self, builder: Callable[..., dict[str, Any]], *args: Any, entity: str = "Lead",
               **kwargs: Any) -> dict[str, Any] | None:
        if entity not in self.cdc_entities:
            return None
        event = builder(*args, org_id=self.org_id, relay_id=self.relay_id, entity=entity, time=self.now(), **kwargs)
        event["detail"]["replayId"] = str(next(self._replay))
        event["detail"]["schemaId"] = change_event_schema_id(entity)  # served by GET /event/eventSchema/{id}
        if self.bitmap_fields:
            _to_bitmaps(event["detail"]["payload"]["ChangeEventHeader"], entity)
        return event

    # --------------------------------------------------------------------------------- records: people

    def create_lead(self, fields: Mapping[str, Any] | None = None, *, by: str | None = None,
                    owner: str | None = None, gap: bool = False, origin: str = UI_CHANGE_ORIGIN, **kw: Any) -> str:
        """A person creates a lead (owner: themself unless ``owner``); ``gap=True`` emits GAP_CREATE instead."""
        by = to_18(by) if by else self.admin_id
        lead_id = self._insert("Lead", {**(fields or {}), **kw}, by=by, owner=owner or by)
        self._emit_created("Lead", [lead_id], by=by, gap=gap, origin=origin)
        return lead_id

    def web_to_lead(self, fields: Mapping[str, Any] | None = None, **kw: Any) -> str:
        """Web-to-Lead: created by the site's automated user, owned by the Default Lead Owner."""
        lead_id = self._insert("Lead", {**(fields or {}), **kw}, by=self.admin_id, owner=self.default_lead_owner)
        self._emit_created("Lead", [lead_id], by=self.admin_id, gap=False, origin="")
        return lead_id

    def import_leads(self, rows: Iterable[Mapping[str, Any]], *, by: str | None = None) -> list[str]:
        """An admin's import (Data Import Wizard): the Default Lead Owner owns them; one event per lead."""
        by = to_18(by) if by else self.admin_id
        ids = [self._insert("Lead", dict(row), by=by, owner=self.default_lead_owner) for row in rows]
        for lead_id in ids:
            self._emit_created("Lead", [lead_id], by=by, gap=False, origin="com/salesforce/api/soap/62.0")
        return ids

    def seed_lead(self, lead_id: str, **fields: Any) -> dict[str, Any]:
        """A lead that existed before anything here started (no event). Missing system fields are filled."""
        full_id = to_18(lead_id)
        now = self.now()
        with self._lock:
            record = self.leads.get(full_id)
            if record is None:
                record = {name: None for name in LEAD_FIELDS}
                record.update({"Id": full_id, "IsDeleted": False, "IsConverted": False, "Status": "Open - Not Contacted",
                               "Company": "[not provided]", "OwnerId": self.default_lead_owner, "CreatedDate": now,
                               "CreatedById": self.admin_id, "LastModifiedDate": now,
                               "LastModifiedById": self.admin_id, "SystemModstamp": now})
            record.update(_coerce(fields))
            if record.get("OwnerId"):
                record["OwnerId"] = to_18(record["OwnerId"])
            self.leads[full_id] = record
            return record

    def adopt_relay_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Hold the leads that hand-built CREATE / ``Lead_Routing__e`` relay events describe, silently (the events
        are their creation). Tests that publish their own events use it so the writeback finds the leads."""
        n = 0
        for event in events:
            payload = (event.get("detail") or {}).get("payload") or {}
            header = payload.get("ChangeEventHeader") if isinstance(payload, dict) else None
            if isinstance(header, dict):
                if header.get("changeType") not in ("CREATE", "UNDELETE") or header.get("entityName") != "Lead":
                    continue
                ids = [i for i in header.get("recordIds") or [] if is_salesforce_id(i)]
                flat = {k: v for k, v in payload.items() if k not in ("ChangeEventHeader", "Name", "Address")}
                for compound in ("Name", "Address"):
                    if isinstance(payload.get(compound), dict):
                        flat.update(payload[compound])
            elif isinstance(payload, dict) and is_salesforce_id(payload.get("Lead_Id__c")):
                ids = [payload["Lead_Id__c"]]
                flat = {"LastName": payload.get("Last_Name__c"), "Company": payload.get("Company__c")}
                if is_salesforce_id(payload.get("Owner_Id__c")):
                    flat["OwnerId"] = payload["Owner_Id__c"]
            else:
                continue
            flat = {k: v for k, v in flat.items() if k in LEAD_FIELDS and k not in ("CreatedDate", "LastModifiedDate")}
            for lead_id in ids:
                if to_18(lead_id) not in self.leads:
                    self.seed_lead(lead_id, **flat)
                    n += 1
        return n

    def update_lead(self, lead_id: str, *, by: str, origin: str = UI_CHANGE_ORIGIN, **changes: Any) -> None:
        """A person edits a lead in Lightning Experience (status, owner, phone...)."""
        self._apply_update("Lead", to_18(lead_id), _coerce(changes), by=to_18(by), origin=origin)

    def convert_lead(self, lead_id: str, *, by: str) -> None:
        full_id = to_18(lead_id)
        with self._lock:
            self._check_lead(full_id)
            record = self.leads[full_id]
            record["IsConverted"] = True
            record["ConvertedDate"] = self.now().date()
        self._apply_update("Lead", full_id, {"Status": CLOSED_STATUSES[0]}, by=to_18(by), origin=UI_CHANGE_ORIGIN,
                           extra_changed=("IsConverted", "ConvertedDate"))

    def delete_lead(self, lead_id: str, *, by: str | None = None) -> None:
        from territory_router_tools.salesforce.samples import cdc_header_only_event

        full_id = to_18(lead_id)
        by = to_18(by) if by else self.admin_id
        with self._lock:
            self._check_lead(full_id)
            self.leads[full_id]["IsDeleted"] = True
            self.deleted.add(full_id)
        event = self._event(cdc_header_only_event, "DELETE", [full_id], commit_user=by, change_origin=UI_CHANGE_ORIGIN)
        self._emit([event] if event else [])

    def log_call(self, lead_id: str, *, by: str, subject: str = "Call", call_type: str = "Outbound") -> str:
        """A rep logs a call on the lead: a completed Task whose WhoId is the lead (TaskChangeEvent CREATE; the
        lead's LastActivityDate changes without a LeadChangeEvent)."""
        return self._log_activity("Task", lead_id, by, {"Subject": subject, "Status": "Completed", "Priority": "Normal",
                                                         "TaskSubtype": "Call", "CallType": call_type,
                                                         "IsClosed": True})

    def log_email(self, lead_id: str, *, by: str, subject: str = "Email") -> str:
        return self._log_activity("Task", lead_id, by, {"Subject": subject, "Status": "Completed", "Priority": "Normal",
                                                         "TaskSubtype": "Email", "IsClosed": True})

    def log_meeting(self, lead_id: str, *, by: str, subject: str = "Meeting", minutes: int = 30) -> str:
        """An Event (meeting) with the lead: EventChangeEvent CREATE."""
        start = self.now()
        return self._log_activity("Event", lead_id, by, {"Subject": subject, "EventSubtype": "Event",
                                                          "StartDateTime": start, "DurationInMinutes": minutes,
                                                          "EndDateTime": start + timedelta(minutes=minutes)})

    def _log_activity(self, entity: str, lead_id: str, by: str, fields: dict[str, Any]) -> str:
        full_id, by = to_18(lead_id), to_18(by)
        with self._lock:
            self._check_lead(full_id)
            today = self.now().date()
            activity_id = self._insert(entity, {**fields, "WhoId": full_id, "ActivityDate": today}, by=by, owner=by)
            self.leads[full_id]["LastActivityDate"] = today  # derived: no LeadChangeEvent
        self._emit_created(entity, [activity_id], by=by, gap=False, origin=UI_CHANGE_ORIGIN)
        return activity_id

    def emit_gap(self, change_type: str = "GAP_UPDATE", record_ids: Iterable[str] = (), *,
                 entity: str = "Lead") -> dict[str, Any] | None:
        """A GAP_* event (Salesforce could not produce the change's details); GAP_OVERFLOW may name no record."""
        from territory_router_tools.salesforce.samples import cdc_header_only_event

        event = self._event(cdc_header_only_event, change_type, [to_18(i) for i in record_ids], entity=entity,
                            commit_user=self.admin_id)
        self._emit([event] if event else [])
        return event

    # ------------------------------------------------------------------------------------- record model

    def _store(self, entity: str) -> dict[str, dict[str, Any]]:
        return {"Lead": self.leads, "Task": self.tasks, "Event": self.meetings}[entity]

    def _insert(self, entity: str, fields: Mapping[str, Any], *, by: str, owner: str) -> str:
        unknown = [k for k in fields if k not in FIELDS[entity]]
        if unknown:
            raise ValueError(f"{entity} has no field {', '.join(unknown)}")
        now = self.now()
        record_id = self._new_id(ID_PREFIX[entity])
        record: dict[str, Any] = {name: None for name in FIELDS[entity]}
        record.update({"Id": record_id, "IsDeleted": False, "OwnerId": to_18(owner), "CreatedDate": now,
                       "CreatedById": by, "LastModifiedDate": now, "LastModifiedById": by, "SystemModstamp": now})
        if entity == "Lead":
            record.update({"IsConverted": False, "Status": "Open - Not Contacted", "Company": "[not provided]"})
        record.update(_coerce(fields))
        with self._lock:
            self._store(entity)[record_id] = record
        return record_id

    def _emit_created(self, entity: str, ids: list[str], *, by: str, gap: bool, origin: str) -> None:
        from territory_router_tools.salesforce.samples import cdc_create_event, cdc_header_only_event

        events = []
        for record_id in ids:
            if gap:
                event = self._event(cdc_header_only_event, "GAP_CREATE", [record_id], entity=entity, commit_user=by,
                                    change_origin=origin)
            else:
                with self._lock:
                    record = dict(self._store(entity)[record_id])
                flat = {k: v for k, v in record.items() if v is not None and k not in NOT_IN_CHANGE_EVENTS}
                flat = {k: _event_value(v) for k, v in flat.items()}
                event = self._event(cdc_create_event, flat, record_ids=[record_id], commit_user=by,
                                    change_origin=origin, entity=entity)
            if event:
                events.append(event)
        self._emit(events)

    def _check_lead(self, full_id: str) -> None:
        if full_id not in self.leads:
            raise KeyError(f"no lead {full_id}")
        if full_id in self.deleted:
            raise KeyError(f"lead {full_id} is deleted")

    def _apply_update(self, entity: str, record_id: str, changes: Mapping[str, Any], *, by: str, origin: str,
                      extra_changed: Iterable[str] = ()) -> dict[str, Any] | None:
        """Write ``changes`` and emit one UPDATE with the fields whose value really changed (none: no event)."""
        from territory_router_tools.salesforce.samples import cdc_update_event

        with self._lock:
            record = self._store(entity)[record_id]
            changed = {k: v for k, v in changes.items() if record.get(k) != v}
            for name in extra_changed:
                changed.setdefault(name, record.get(name))
            if not changed:
                return None
            now = self.now()
            record.update(changed)
            record.update({"LastModifiedDate": now, "LastModifiedById": by, "SystemModstamp": now})
        visible = {k: _event_value(v) for k, v in changed.items() if k not in NOT_IN_CHANGE_EVENTS}
        event = self._event(cdc_update_event, record_id, visible, commit_user=by, change_origin=origin,
                            entity=entity) if visible else None
        if event:
            self._emit([event])
        return event

    # ------------------------------------------------------------------------------------- HTTP handling

    def handle(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
        split = urllib.parse.urlsplit(request.path)
        if split.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        match = API_PATH.match(split.path)
        if not match:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        version, rest = match.group(1), (match.group(2) or "/").rstrip("/") or "/"
        gate = self._api_gate(request)
        if gate is not None:
            return gate
        query = urllib.parse.parse_qs(split.query)
        try:
            if rest == "/composite/sobjects" and request.method == "PATCH":
                status, body = self._collections(request, version)
            elif rest.startswith("/sobjects/") and request.method == "GET":
                status, body = self._get_record(rest, query, version)
            elif rest == "/query" and request.method == "GET":
                status, body = self._query(query.get("q", [""])[0], request, version)
            elif rest.startswith("/query/") and request.method == "GET":
                status, body = self._query_more(rest.rsplit("/", 1)[-1], version)
            elif rest.startswith("/event/eventSchema/") and request.method == "GET":
                status, body = self._event_schema(rest.rsplit("/", 1)[-1])
            elif rest in ("/composite/sobjects", "/query") or rest.startswith(("/sobjects/", "/query/")):
                status, body = 405, [{"errorCode": "METHOD_NOT_ALLOWED",
                                      "message": f"HTTP Method '{request.method}' not allowed. Allowed are GET"}]
            else:
                status, body = 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        except fake_soql.SoqlError as exc:
            status, body = 400, [{"message": exc.message, "errorCode": exc.code}]
        return status, body, self._limit_header()

    def _event_schema(self, schema_id: str) -> tuple[int, Any]:
        """``GET /event/eventSchema/{schemaId}``: the Avro schema of this org's change events by schema id
        (https://developer.salesforce.com/docs/platform/api-rest/guide/resources-event-eventschema.html)."""
        for entity in self.cdc_entities:
            if schema_id == change_event_schema_id(entity):
                return 200, change_event_avro(entity)
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    def _token(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        form = urllib.parse.parse_qs(request.body.decode("utf-8", errors="replace"))
        if form.get("grant_type", [""])[0] != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        client_id, client_secret = form.get("client_id", [""])[0], form.get("client_secret", [""])[0]
        with self._lock:
            if not client_id or not client_secret or (
                self.check_credentials and (client_id != self.client_id or client_secret != self.client_secret)
            ):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
            self._tokens_issued += 1
            token = f"{self.org_id[:15]}!fake-token-{self._tokens_issued}-{uuid.uuid4().hex[:8]}"
            self._tokens[token] = self.integration_user_id
        return 200, {
            "access_token": token, "signature": "fake-signature", "scope": "api", "instance_url": self.url,
            "id": f"{self.url}/id/{self.org_id}/{self.integration_user_id}", "token_type": "Bearer",
            "issued_at": str(int(self.now().timestamp() * 1000)),
        }, {}

    def _api_gate(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]] | None:
        auth = request.header("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            if self._failures.expire_sessions > 0:
                self._failures.expire_sessions -= 1
                self._tokens.clear()
            if token not in self._tokens:
                return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
            now = self.now()
            if self._failures.limit_exceeded > 0 or self._usage(now) >= self.api_limit:
                if self._failures.limit_exceeded > 0:
                    self._failures.limit_exceeded -= 1
                return 403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], \
                    self._limit_header()
            if self._failures.next_calls:
                status, code, message = self._failures.next_calls.popleft()
                return status, [{"message": message, "errorCode": code}], self._limit_header()
            if self._failures.unavailable > 0:
                self._failures.unavailable -= 1
                headers = {"Retry-After": self._failures.unavailable_retry_after} \
                    if self._failures.unavailable_retry_after else {}
                return 503, [{"message": "Server temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}], headers
            self._api_calls.append((now, 1))
        return None

    def _limit_header(self) -> dict[str, str]:
        with self._lock:
            return {"Sforce-Limit-Info": f"api-usage={self._usage(self.now())}/{self.api_limit}"}

    def _run_as(self, request: RecordedRequest) -> str:
        auth = request.header("Authorization") or ""
        with self._lock:
            return self._tokens.get(auth[7:], self.integration_user_id)

    # --- sObject Collections update

    def _collections(self, request: RecordedRequest, version: str) -> tuple[int, Any]:
        try:
            body = request.json()
        except ValueError:
            return 400, [{"message": "The request body is not valid JSON", "errorCode": "JSON_PARSER_ERROR"}]
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return 400, [{"message": "Required field 'records' is missing", "errorCode": "INVALID_FIELD"}]
        if len(records) > MAX_COLLECTION_RECORDS:
            return 400, [{"message": "record limit reached. cannot submit more than 200 records into this call",
                          "errorCode": "EXCEEDED_ID_LIMIT"}]
        for record in records:
            if isinstance(record, dict):
                sobject = (record.get("attributes") or {}).get("type")
                names = FIELDS.get(sobject or "", LEAD_FIELDS)
                unknown = [k for k in record if k not in ("attributes", "id", "Id") and k not in names]
                if unknown:
                    return 400, [{"message": f"No such column '{unknown[0]}' on sobject of type {sobject}",
                                  "errorCode": "INVALID_FIELD"}]
        all_or_none = bool(body.get("allOrNone"))
        run_as = self._run_as(request)
        call_options = request.header("Sforce-Call-Options") or ""
        client = re.search(r"client=([^;,\s]+)", call_options)
        origin = f"com/salesforce/api/rest/{version[1:]};client={client.group(1)}" if client \
            else f"com/salesforce/api/rest/{version[1:]}"
        with self._lock:
            plans = [self._plan_update(r) for r in records]
            failed = any(not ok for ok, _ in plans)
            results = []
            for ok, outcome in plans:
                if ok and all_or_none and failed:
                    results.append({"id": outcome["id"], "success": False, "errors": [{
                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "message": "Record rolled back because not all records were valid and the request was using "
                                   "AllOrNone header", "fields": []}]})
                else:
                    results.append(outcome if not ok else {"id": outcome["id"], "success": True, "errors": []})
            apply = [outcome for ok, outcome in plans if ok] if not (all_or_none and failed) else []
        for outcome in apply:
            self._apply_update(outcome["entity"], outcome["id"], outcome["changes"], by=run_as, origin=origin)
        return 200, results

    def _plan_update(self, record: Any) -> tuple[bool, dict[str, Any]]:
        """(True, {"id", "entity", "changes"}) or (False, the error result). Called under the lock."""
        def error(code: str, message: str, fields: list[str] | None = None, rid: str | None = None):
            result: dict[str, Any] = {"success": False, "errors": [{"statusCode": code, "message": message,
                                                                     "fields": fields or []}]}
            if rid:
                result["id"] = rid
            return False, result

        if not isinstance(record, dict):
            return error("INVALID_FIELD", "not a record")
        entity = (record.get("attributes") or {}).get("type")
        record_id = record.get("id") or record.get("Id")
        if entity not in FIELDS:
            return error("INVALID_TYPE", f"sObject type '{entity}' is not supported.")
        if not is_salesforce_id(record_id) or not str(record_id).startswith(ID_PREFIX[entity]):
            return error("MALFORMED_ID", f"{entity} ID: id value of incorrect type: {record_id}", ["Id"])
        full_id = to_18(record_id)
        key = full_id[:15]
        queue = self._failures.transient_record_errors.get(key)
        if queue:
            code, message = queue.popleft()
            return error(code, message, rid=full_id)
        if key in self._failures.record_errors:
            code, message = self._failures.record_errors[key]
            return error(code, message, rid=full_id)
        store = self._store(entity)
        if full_id in self.deleted:
            return error("ENTITY_IS_DELETED", "entity is deleted", rid=full_id)
        if full_id not in store:
            return error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", rid=full_id)
        if self._locks.get(key):
            self._locks[key] -= 1
            return error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", rid=full_id)
        read_only = [k for k in record if k in READ_ONLY and k != "Id"]
        if read_only:
            return error("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {', '.join(read_only)}. "
                         "Please check the security settings of this field and verify that it is read/write for your "
                         "profile or permission set.", read_only, rid=full_id)
        if entity == "Lead" and store[full_id].get("IsConverted"):
            return error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", rid=full_id)
        changes = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
        if "OwnerId" in changes:
            refused = self._owner_refusal(changes["OwnerId"], entity)
            if refused is not None:
                return error(*refused, rid=full_id)
            changes["OwnerId"] = to_18(changes["OwnerId"])
        return True, {"id": full_id, "entity": entity, "changes": _coerce(changes)}

    def _owner_refusal(self, owner: Any, entity: str) -> tuple[str, str, list[str]] | None:
        """Why ``owner`` cannot own a record of ``entity``, as Salesforce says it (None: it can)."""
        if owner is None or owner == "":
            return "REQUIRED_FIELD_MISSING", "Required fields are missing: [OwnerId]", ["OwnerId"]
        if not is_salesforce_id(owner):
            return "MALFORMED_ID", f"Owner ID: id value of incorrect type: {owner}", ["OwnerId"]
        oid = to_18(owner)
        if oid.startswith("005"):
            user = self.users.get(oid)
            if user is None:
                return "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"]
            if not user.active:
                return "INACTIVE_OWNER_OR_USER", "operation performed with inactive user", []
            return None
        if oid.startswith("00G"):
            queue = self.queues.get(oid)
            if queue is None:
                return "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"]
            if entity not in queue.sobject_types:
                return "FIELD_INTEGRITY_EXCEPTION", f"Owner ID: id value of incorrect type: {oid}", ["OwnerId"]
            return None
        return "FIELD_INTEGRITY_EXCEPTION", f"Owner ID: id value of incorrect type: {oid}", ["OwnerId"]

    def lock_record(self, record_id: str, times: int = 1) -> None:
        """Another transaction holds the row: the next ``times`` updates answer UNABLE_TO_LOCK_ROW."""
        with self._lock:
            self._locks[record_id[:15]] = self._locks.get(record_id[:15], 0) + times

    # --- GET sObject

    def _get_record(self, rest: str, query: Mapping[str, list[str]], version: str) -> tuple[int, Any]:
        parts = rest.strip("/").split("/")
        if len(parts) != 3 or parts[1] not in FIELDS or not is_salesforce_id(parts[2]):
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        entity, full_id = parts[1], to_18(parts[2])
        wanted = [f.strip() for f in (query.get("fields", [""])[0]).split(",") if f.strip()]
        unknown = [f for f in wanted if f not in FIELDS[entity]]
        if unknown:
            return 400, [{"errorCode": "INVALID_FIELD",
                          "message": f"No such column '{unknown[0]}' on sobject of type {entity}"}]
        with self._lock:
            record = self._store(entity).get(full_id)
            if record is None or full_id in self.deleted:
                return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            names = ["Id", *[w for w in wanted if w != "Id"]] if wanted else list(FIELDS[entity])
            body = {"attributes": {"type": entity, "url": f"/services/data/{version}/sobjects/{entity}/{full_id}"}}
            body.update({n: _json_value(record.get(n)) for n in names})
        return 200, body

    # --- SOQL

    def _query(self, text: str, request: RecordedRequest, version: str) -> tuple[int, Any]:
        if not text.strip():
            return 400, [{"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}]
        parsed = fake_soql.parse(text, lambda name: next((FIELDS[o] for o in FIELDS if o.lower() == name.lower()),
                                                         None))
        batch = self.query_batch
        options = request.header("Sforce-Query-Options") or ""
        m = re.search(r"batchSize=(\d+)", options)
        if m:
            batch = max(200, min(2000, int(m.group(1))))
        with self._lock:
            live = [r for rid, r in self._store(parsed.sobject).items() if rid not in self.deleted]
            rows = fake_soql.run(parsed, live)
            projected = [
                {"attributes": {"type": parsed.sobject,
                                "url": f"/services/data/{version}/sobjects/{parsed.sobject}/{r['Id']}"},
                 **{f: _json_value(r.get(f)) for f in parsed.fields}}
                for r in rows
            ]
        return 200, self._page(projected, 0, batch, version)

    def _page(self, rows: list[dict[str, Any]], start: int, batch: int, version: str) -> dict[str, Any]:
        end = start + batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[start:end]}
        if end < len(rows):
            cursor = f"01g5e{uuid.uuid4().hex[:13]}-{end}"
            with self._lock:
                self._cursors[cursor] = (rows, batch)
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}"
        return body

    def _query_more(self, cursor: str, version: str) -> tuple[int, Any]:
        with self._lock:
            found = self._cursors.pop(cursor, None)
        if found is None:
            return 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
        rows, batch = found
        return 200, self._page(rows, int(cursor.rsplit("-", 1)[1]), batch, version)


# ---------------------------------------------------------------------------------------------- helpers


def _coerce(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Client JSON values → stored values (datetime text → datetime)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})",
                                                   value):
            text = value.replace("Z", "+00:00")
            if re.search(r"[+-]\d{4}$", text):
                text = text[:-2] + ":" + text[-2:]
            value = datetime.fromisoformat(text)
        out[key] = value
    return out


def _event_value(value: Any) -> Any:
    """Stored value → its change-event form: datetimes in epoch milliseconds, dates as ISO text."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _event_time(event: Mapping[str, Any]) -> datetime:
    header = ((event.get("detail") or {}).get("payload") or {}).get("ChangeEventHeader") or {}
    return datetime.fromtimestamp(int(header.get("commitTimestamp", 0)) / 1000, UTC)


def event_schema(entity: str) -> list[str | tuple[str, tuple[str, ...]]]:
    """The field order of the org's change event schema: what a bitmap's bit positions index (compound fields
    Name/Address carry their own nested order)."""
    top: list[str | tuple[str, tuple[str, ...]]] = ["ChangeEventHeader"]
    for name in FIELDS[entity]:
        if name in NOT_IN_CHANGE_EVENTS:
            continue
        if entity == "Lead" and name in NAME_PARTS:
            if ("Name", NAME_PARTS) not in top:
                top.append(("Name", NAME_PARTS))
            continue
        if entity == "Lead" and name in ADDRESS_PARTS:
            if ("Address", ADDRESS_PARTS) not in top:
                top.append(("Address", ADDRESS_PARTS))
            continue
        top.append(name)
    return top


def change_event_schema_id(entity: str) -> str:
    """The schema id of this org's change events of ``entity`` (22 characters, like Salesforce's): it changes when
    the field list changes, as a real schema id does."""
    digest = hashlib.sha256(json.dumps(event_schema(entity)).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def change_event_avro(entity: str) -> dict[str, Any]:
    """The Avro record schema ``GET /event/eventSchema/{id}`` returns for ``entity``'s change events: fields in
    ``event_schema`` order, optional values as ``["null", type]`` unions, compound fields as nested records."""
    def optional(name: str) -> dict[str, Any]:
        return {"name": name, "type": ["null", "string"], "default": None}

    fields: list[dict[str, Any]] = []
    for entry in event_schema(entity):
        if entry == "ChangeEventHeader":
            fields.append({"name": "ChangeEventHeader", "type": {
                "type": "record", "name": "ChangeEventHeader", "fields": [
                    {"name": n, "type": "string"} for n in ("entityName", "changeType", "changeOrigin", "transactionKey")
                ]}})
        elif isinstance(entry, tuple):
            parent, children = entry
            fields.append({"name": parent, "type": ["null", {"type": "record", "name": f"{entity}_{parent}",
                                                             "fields": [optional(c) for c in children]}],
                           "default": None})
        else:
            fields.append(optional(entry))
    return {"type": "record", "name": f"{entity}ChangeEvent", "namespace": "com.sforce.eventbus",
            "fields": fields, "uuid": change_event_schema_id(entity)}


def encode_bitmap(names: Iterable[str], entity: str) -> list[str]:
    """Field names (``Status``, ``Address.City``) → Pub/Sub bitmap strings (``["0x...", "4-0x02"]``), against this
    org's schema (the encoder of ``salesforce.bitmap``, the inverse of the intake's decoder)."""
    from territory_router.salesforce.bitmap import EventSchema, encode_field_list

    return encode_field_list(list(names), EventSchema.from_avro(change_event_avro(entity)))


def _to_bitmaps(header: dict[str, Any], entity: str) -> None:
    for key in ("changedFields", "nulledFields", "diffFields"):
        names = header.get(key) or []
        header[key] = encode_bitmap(names, entity) if names else []


def _make_handler(org: FakeOrg) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeSalesforceOrg/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
            return

        def _serve(self) -> None:
            if org.unreachable:  # drop the connection unanswered: the client sees a network failure
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(method=self.command, path=self.path,
                                      headers={k.lower(): v for k, v in self.headers.items()}, body=body)
            status, payload, headers = org.handle(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

    return Handler
