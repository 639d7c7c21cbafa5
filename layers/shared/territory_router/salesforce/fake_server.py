"""A local HTTP server that answers like Salesforce REST, for tests and the demo (loopback only).

It serves the OAuth token endpoint (client credentials), sObject Collections update
(``PATCH /services/data/vXX.X/composite/sobjects``), ``GET .../sobjects/Lead/<id>`` and the Query resource
(``GET .../query?q=`` for the SOQL subset of ``fake_soql``, pages of ``page_size`` records followed through
``nextRecordsUrl``), with Salesforce's documented response shapes. Every request is recorded (headers and body) for assertions, and failures can be
programmed: per-record errors, an expired session, the API request limit, 503.

    with FakeSalesforce() as sf:
        client = SalesforceClient(None, ClientCredentialsTokenProvider(sf.url, sf.client_id, sf.client_secret))
        client.update_owners([...])
        assert sf.leads["00Q..."]["OwnerId"] == "005..."
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from territory_router.salesforce.fake_soql import QueryRefused, run_query
from territory_router.salesforce.ids import is_salesforce_id, to_18

_COLLECTIONS_RE = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects/?$")
_LEAD_RE = re.compile(r"^/services/data/v(\d+\.\d)/sobjects/Lead/([A-Za-z0-9]{15,18})/?$")
_QUERY_RE = re.compile(r"^/services/data/v(\d+\.\d)/query/?$")
_QUERY_MORE_RE = re.compile(r"^/services/data/v(\d+\.\d)/query/(01g[A-Za-z0-9]+)-(\d+)$")
MAX_BODY = 10 * 1024 * 1024


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
class _Failures:
    expire_sessions: int = 0
    limit_exceeded: int = 0
    unavailable: int = 0
    record_errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # id15 -> (code, message)
    next_calls: deque[tuple[int, str, str]] = field(default_factory=deque)  # (status, errorCode, message)
    transient_record_errors: dict[str, deque[tuple[str, str]]] = field(default_factory=dict)


class FakeSalesforce:
    """Salesforce REST stand-in on ``127.0.0.1`` (free port). ``start()``/``stop()`` or use as a context manager."""

    def __init__(self, *, client_id: str | None = None, client_secret: str | None = None,
                 org_id: str = "00Dxx0000001gErEAI", integration_user_id: str = "005xx000000IntgAAC",
                 api_limit: int = 15000, host: str = "127.0.0.1"):
        # None accepts any non-empty credentials (the demo's); set both to check them like Salesforce does.
        self.check_credentials = client_id is not None or client_secret is not None
        self.client_id = client_id or "fake-client-id"
        self.client_secret = client_secret or "fake-client-secret"
        self.org_id = org_id
        self.integration_user_id = integration_user_id
        self.api_limit = api_limit
        self.api_used = 0
        self.requests: list[RecordedRequest] = []
        self.leads: dict[str, dict[str, Any]] = {}  # 18-char id -> fields written (and seeded)
        self.deleted: set[str] = set()  # 18-char ids answered with ENTITY_IS_DELETED
        self.page_size = 2000  # records per query page (Salesforce: up to 2,000)
        self.unreachable = False  # True: every connection is dropped without an answer (Salesforce unreachable)
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._tokens_issued = 0
        self._valid_tokens: set[str] = set()
        self._failures = _Failures()
        self._lock = threading.RLock()
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeSalesforce:
        if self._server is not None:
            return self
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self._host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-salesforce", daemon=True)
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

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSalesforce is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def secret(self) -> dict[str, str]:
        """The Secrets Manager secret value that points a client at this server."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "my_domain_url": self.url}

    # --- programming failures --------------------------------------------------------------------------

    def expire_session(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 401 INVALID_SESSION_ID, and current tokens become invalid."""
        with self._lock:
            self._failures.expire_sessions += times

    def exceed_limit(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 403 REQUEST_LIMIT_EXCEEDED."""
        with self._lock:
            self._failures.limit_exceeded += times

    def make_unavailable(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 503 SERVER_UNAVAILABLE."""
        with self._lock:
            self._failures.unavailable += times

    def fail_next_call(self, status: int, code: str, message: str = "", *, times: int = 1) -> None:
        """The next ``times`` API calls answer ``status`` with ``[{"message", "errorCode": code}]``."""
        with self._lock:
            self._failures.next_calls.extend([(status, code, message or code)] * times)

    def accept_token(self, token: str) -> None:
        """Treat ``token`` as issued (a client with a static token provider, no OAuth exchange)."""
        with self._lock:
            self._valid_tokens.add(token)

    def fail_record(self, record_id: str, code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    message: str = "Validation failed", *, times: int | None = None) -> None:
        """Updates of ``record_id`` fail with ``code`` (always, or the next ``times`` updates)."""
        key = record_id[:15]
        with self._lock:
            if times is None:
                self._failures.record_errors[key] = (code, message)
            else:
                queue = self._failures.transient_record_errors.setdefault(key, deque())
                queue.extend([(code, message)] * times)

    def seed_lead(self, lead_id: str, **fields: Any) -> None:
        with self._lock:
            self.leads[to_18(lead_id)] = {"Id": to_18(lead_id), **fields}

    def api_requests(self, method: str | None = None, path_prefix: str = "/services/data/") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.path.startswith(path_prefix) and (method is None or r.method == method)]

    # --- request handling (called from the handler threads) --------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _token(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        form = urllib.parse.parse_qs(request.body.decode("utf-8", errors="replace"))
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        client_id, client_secret = form.get("client_id", [""])[0], form.get("client_secret", [""])[0]
        if not client_id or not client_secret or (
            self.check_credentials and (client_id != self.client_id or client_secret != self.client_secret)
        ):
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
        with self._lock:
            self._tokens_issued += 1
            token = f"{self.org_id[:15]}!fake-token-{self._tokens_issued}"
            self._valid_tokens.add(token)
        return 200, {
            "access_token": token,
            "signature": "fake-signature",
            "scope": "api",
            "instance_url": self.url,
            "id": f"{self.url}/id/{self.org_id}/{self.integration_user_id}",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
        }, {}

    def _api_gate(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]] | None:
        auth = request.header("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            if self._failures.expire_sessions > 0:
                self._failures.expire_sessions -= 1
                self._valid_tokens.clear()
            if token not in self._valid_tokens:
                return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
            if self._failures.limit_exceeded > 0:
                self._failures.limit_exceeded -= 1
                return 403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], {}
            if self._failures.next_calls:
                status, code, message = self._failures.next_calls.popleft()
                return status, [{"message": message, "errorCode": code}], {}
            if self._failures.unavailable > 0:
                self._failures.unavailable -= 1
                return 503, [{"message": "Server temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}], {
                    "Retry-After": "2"}
            self.api_used += 1
        return None

    def _limit_header(self) -> dict[str, str]:
        with self._lock:
            return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_limit}"}

    def _collections(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        try:
            body = request.json()
        except ValueError:
            return 400, [{"message": "The request body is not valid JSON", "errorCode": "JSON_PARSER_ERROR"}], {}
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return 400, [{"message": "Required field 'records' is missing", "errorCode": "INVALID_FIELD"}], {}
        if len(records) > 200:
            return 400, [{"message": "record limit reached. cannot submit more than 200 records into this call",
                          "errorCode": "EXCEEDED_ID_LIMIT"}], {}
        all_or_none = bool(body.get("allOrNone"))
        results = [self._update_one(r) for r in records]
        if all_or_none and not all(r["success"] for r in results):
            results = [r if not r["success"] else {"id": r["id"], "success": False, "errors": [{
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                           "AllOrNone header", "fields": []}]} for r in results]
        return 200, results, {}

    def _update_one(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            return {"success": False, "errors": [{"statusCode": "INVALID_FIELD", "message": "not a record",
                                                  "fields": []}]}
        attributes = record.get("attributes") or {}
        record_id = record.get("id")
        if not is_salesforce_id(record_id):
            return {"success": False, "errors": [{"statusCode": "MALFORMED_ID",
                                                  "message": "Lead ID: id value of incorrect type", "fields": ["Id"]}]}
        if attributes.get("type") != "Lead" or not record_id.startswith("00Q"):
            return {"success": False, "errors": [{"statusCode": "INVALID_CROSS_REFERENCE_KEY",
                                                  "message": "invalid cross reference id", "fields": []}]}
        key = record_id[:15]
        full_id = to_18(record_id)
        with self._lock:
            queue = self._failures.transient_record_errors.get(key)
            if queue:
                code, message = queue.popleft()
                return {"id": full_id, "success": False, "errors": [{"statusCode": code, "message": message,
                                                                     "fields": []}]}
            if key in self._failures.record_errors:
                code, message = self._failures.record_errors[key]
                return {"id": full_id, "success": False, "errors": [{"statusCode": code, "message": message,
                                                                     "fields": []}]}
            if full_id in self.deleted:
                return {"id": full_id, "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED",
                                                                     "message": "entity is deleted", "fields": []}]}
            owner = record.get("OwnerId")
            if owner is not None and not (is_salesforce_id(owner) and owner.startswith(("005", "00G"))):
                return {"id": full_id, "success": False, "errors": [{
                    "statusCode": "INVALID_CROSS_REFERENCE_KEY",
                    "message": "Owner ID: owner cannot be blank or invalid", "fields": ["OwnerId"]}]}
            fields = {k: v for k, v in record.items() if k not in ("attributes", "id")}
            self.leads.setdefault(full_id, {"Id": full_id}).update(fields)
        return {"id": full_id, "success": True, "errors": []}

    def _get_lead(self, lead_id: str) -> tuple[int, Any, dict[str, str]]:
        full_id = to_18(lead_id)
        with self._lock:
            lead = self.leads.get(full_id)
            if lead is None or full_id in self.deleted:
                return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
            return 200, {"attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{full_id}"},
                         **lead}, {}

    def _query(self, request: RecordedRequest, version: str) -> tuple[int, Any, dict[str, str]]:
        text = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query).get("q", [""])[0]
        if not text.strip():
            return 400, [{"message": "q parameter is required", "errorCode": "MALFORMED_QUERY"}], {}
        with self._lock:
            leads = [lead for lead_id, lead in self.leads.items() if lead_id not in self.deleted]
            try:
                records = run_query(text, leads, object_url=f"/services/data/v{version}")
            except QueryRefused as exc:
                return 400, [{"message": exc.message, "errorCode": exc.code}], {}
            locator = f"01gxx{len(self._cursors):010d}"
            self._cursors[locator] = records
        return self._query_page(version, locator, 0)

    def _query_page(self, version: str, locator: str, offset: int) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            records = self._cursors.get(locator)
            if records is None:
                return 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}], {}
            chunk = records[offset : offset + self.page_size]
        done = offset + len(chunk) >= len(records)
        body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + len(chunk)}"
        return 200, body, {}

    def handle(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        self._record(request)
        path = urllib.parse.urlsplit(request.path).path
        if path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        collections = _COLLECTIONS_RE.match(path)
        lead = _LEAD_RE.match(path)
        query, query_more = _QUERY_RE.match(path), _QUERY_MORE_RE.match(path)
        if not (collections or lead or query or query_more):
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        gate = self._api_gate(request)
        if gate is not None:
            return gate
        if collections and request.method == "PATCH":
            status, body, headers = self._collections(request)
        elif lead and request.method == "GET":
            status, body, headers = self._get_lead(lead.group(2))
        elif query and request.method == "GET":
            status, body, headers = self._query(request, query.group(1))
        elif query_more and request.method == "GET":
            status, body, headers = self._query_page(query_more.group(1), query_more.group(2), int(query_more.group(3)))
        else:
            status, body, headers = 405, [{"errorCode": "METHOD_NOT_ALLOWED",
                                           "message": f"HTTP Method '{request.method}' not allowed"}], {}
        return status, body, {**self._limit_header(), **headers}


def _make_handler(fake: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeSalesforce/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
            return

        def _serve(self) -> None:
            if fake.unreachable:  # drop the connection unanswered: the client sees a network failure
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command, path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            )
            status, payload, headers = fake.handle(request)
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
