"""Salesforce REST over the standard library (urllib): OAuth 2.0 client credentials and sObject Collections.

* ``ClientCredentialsTokenProvider`` gets an access token from the org's My Domain
  (``POST {my_domain}/services/oauth2/token``, ``grant_type=client_credentials``), caches it, and renews it when
  the client reports an expired session.
* ``SalesforceClient.update_owners`` updates Leads with ``PATCH /services/data/vXX.X/composite/sobjects``
  (``allOrNone: false``, at most 200 records a call), always with ``Sforce-Auto-Assign: FALSE`` so Salesforce's
  own assignment rules do not override our owner, and with ``Sforce-Call-Options: client=TerritoryRouter`` so our
  changes are recognisable in CDC ``changeOrigin``. Every API response's ``Sforce-Limit-Info`` is kept in
  ``last_api_usage``.
* ``SalesforceClient.query`` / ``query_records`` run a SOQL query (``GET /services/data/vXX.X/query?q=…``) and
  follow ``nextRecordsUrl`` page by page (at most 2,000 records a page); ``get_leads`` reads Leads by id with
  ``SELECT … FROM Lead WHERE Id IN (…)``, at most 200 ids a query (15- and 18-character ids are one record).
* ``client_from_secret`` builds a client from the Secrets Manager secret (``client_id``, ``client_secret``,
  ``my_domain_url``) read through powertools parameters (cached per container).

Errors are those of ``territory_router.salesforce.writeback_rules``: ``SalesforceRetryableError`` (API limit, 5xx,
timeouts: retry later, ``retry_after`` seconds), ``SalesforceAuthError``, ``SalesforceError``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from territory_router.domain.ids import is_salesforce_id, to_18
from territory_router.salesforce import soql
from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError
from territory_router.salesforce.writeback_rules import MAX_RECORDS_PER_CALL, ApiUsage, RecordResult

DEFAULT_API_VERSION = "v62.0"
CLIENT_NAME = "TerritoryRouter"
DEFAULT_LIMIT_BACKOFF_S = 60.0
DEFAULT_UNAVAILABLE_BACKOFF_S = 5.0


# ---------------------------------------------------------------------------------------------------------
# HTTP transport (replaceable in tests)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Transport(Protocol):
    def __call__(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None,
                 timeout: float) -> HttpResponse: ...


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise SalesforceError(f"refusing non-HTTP URL scheme {scheme!r}", code="INVALID_URL")


def urllib_transport(method: str, url: str, *, headers: Mapping[str, str], body: bytes | None,
                     timeout: float) -> HttpResponse:
    """One HTTP exchange with urllib. HTTP error statuses are returned, network failures raised as retryable."""
    _check_url(url)
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return HttpResponse(response.status, {k.lower(): v for k, v in response.headers.items()},
                                response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            body_bytes = exc.read() if exc.fp is not None else b""
        return HttpResponse(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, body_bytes)
    except TimeoutError as exc:
        raise SalesforceRetryableError(f"Salesforce timed out: {exc}", code="TIMEOUT",
                                       retry_after=DEFAULT_UNAVAILABLE_BACKOFF_S) from None
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SalesforceRetryableError(f"Salesforce unreachable: {reason}", code="NETWORK",
                                       retry_after=DEFAULT_UNAVAILABLE_BACKOFF_S) from None


# ---------------------------------------------------------------------------------------------------------
# OAuth 2.0 client credentials
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str = field(repr=False)
    instance_url: str
    user_id: str | None = None  # the run-as user, from the identity URL ``.../id/<orgId>/<userId>``
    org_id: str | None = None
    issued_at: float = 0.0


class TokenProvider(Protocol):
    def token(self, *, refresh: bool = False) -> AccessToken: ...


class ClientCredentialsTokenProvider:
    """OAuth 2.0 client credentials flow against the org's My Domain; the token is cached until refused."""

    def __init__(self, my_domain_url: str, client_id: str, client_secret: str, *,
                 session: Transport | None = None, timeout: float = 10.0):
        _check_url(my_domain_url)
        self.my_domain_url = my_domain_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._send = session or urllib_transport
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.fetch_count = 0

    def token(self, *, refresh: bool = False) -> AccessToken:
        with self._lock:
            if self._token is None or refresh:
                self._token = self._fetch()
            return self._token

    def _fetch(self) -> AccessToken:
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }).encode()
        response = self._send(
            "POST", f"{self.my_domain_url}/services/oauth2/token",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            body=body, timeout=self._timeout,
        )
        self.fetch_count += 1
        data = response.json()
        if response.status >= 500 or response.status == 429:
            raise SalesforceRetryableError(f"token endpoint answered HTTP {response.status}",
                                           code=f"HTTP_{response.status}", status=response.status,
                                           retry_after=_retry_after(response, DEFAULT_UNAVAILABLE_BACKOFF_S))
        if response.status != 200 or not isinstance(data, Mapping) or not data.get("access_token"):
            error = data.get("error") if isinstance(data, Mapping) else None
            description = data.get("error_description") if isinstance(data, Mapping) else None
            raise SalesforceAuthError(
                f"token request refused (HTTP {response.status}): {error or 'no error code'}"
                + (f" - {description}" if description else ""),
                code=str(error or f"HTTP_{response.status}"), status=response.status,
            )
        identity = str(data.get("id") or "")
        parts = [p for p in urllib.parse.urlsplit(identity).path.split("/") if p]
        user_id = to_18(parts[-1]) if len(parts) >= 2 and is_salesforce_id(parts[-1]) else None
        org_id = to_18(parts[-2]) if len(parts) >= 2 and is_salesforce_id(parts[-2]) else None
        instance_url = str(data.get("instance_url") or self.my_domain_url).rstrip("/")
        _check_url(instance_url)
        return AccessToken(access_token=str(data["access_token"]), instance_url=instance_url,
                           user_id=user_id, org_id=org_id, issued_at=time.time())


# ---------------------------------------------------------------------------------------------------------
# REST client
# ---------------------------------------------------------------------------------------------------------


def _retry_after(response: HttpResponse, default: float) -> float:
    value = response.header("Retry-After")
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def _first_error(data: Any) -> tuple[str, str]:
    """``[{"message": ..., "errorCode": ...}]`` (or a dict) -> (code, message)."""
    item = data[0] if isinstance(data, list) and data else data
    if isinstance(item, Mapping):
        code = item.get("errorCode") or item.get("statusCode") or item.get("error") or "UNKNOWN"
        message = item.get("message") or item.get("error_description") or ""
        return str(code), str(message)[:500]
    return "UNKNOWN", ""


_RETRYABLE_QUERY_CODES = frozenset({"QUERY_TIMEOUT", "INVALID_QUERY_LOCATOR", "REQUEST_RUNNING_TOO_LONG"})
_QUERY_PATH_RE = re.compile(r"^/services/data/v\d+\.\d/query(All)?/[A-Za-z0-9-]+$")


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One answer of the Query resource: ``{"totalSize", "done", "records": [...], "nextRecordsUrl"?}``."""

    total_size: int
    done: bool
    records: list[dict[str, Any]]
    next_records_url: str | None = None

    @classmethod
    def from_json(cls, data: Any, *, status: int | None = None) -> QueryPage:
        if not isinstance(data, Mapping) or not isinstance(data.get("records"), list):
            raise SalesforceRetryableError("query answered without a records list", code="BAD_RESPONSE", status=status)
        records = [r for r in data["records"] if isinstance(r, Mapping)]
        if len(records) != len(data["records"]):
            raise SalesforceRetryableError("query answered a record that is not an object", code="BAD_RESPONSE",
                                           status=status)
        done = data.get("done")
        if not isinstance(done, bool):
            raise SalesforceRetryableError("query answered without 'done'", code="BAD_RESPONSE", status=status)
        next_url = data.get("nextRecordsUrl")
        # Only a query locator of this API is followed: the bearer token never goes to another host or path.
        if not done and not (isinstance(next_url, str) and _QUERY_PATH_RE.match(next_url)):
            raise SalesforceRetryableError("query not done but its nextRecordsUrl is not a query locator path",
                                               code="BAD_RESPONSE", status=status)
        total = data.get("totalSize")
        return cls(
            total_size=total if isinstance(total, int) and not isinstance(total, bool) else len(records),
            done=done,
            records=[dict(r) for r in records],
            next_records_url=next_url if not done else None,
        )


@dataclass(frozen=True, slots=True)
class QueryResult:
    total_size: int
    done: bool  # False when max_records stopped the reading before the last page
    records: list[dict[str, Any]]


class SalesforceClient:
    """A small Salesforce REST client: only what Territory Router needs."""

    def __init__(self, instance_url: str | None, token_provider: TokenProvider, api_version: str = DEFAULT_API_VERSION,
                 session: Transport | None = None, *, timeout: float = 20.0, client_name: str = CLIENT_NAME):
        if instance_url:
            _check_url(instance_url)
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self._tokens = token_provider
        self.api_version = api_version if api_version.startswith("v") else f"v{api_version}"
        self._send = session or urllib_transport
        self._timeout = timeout
        self._client_name = client_name
        self.last_api_usage: ApiUsage | None = None

    @property
    def integration_user_id(self) -> str | None:
        """The run-as user of the connected app (whose changes are our own writeback)."""
        return self._tokens.token().user_id

    @property
    def org_id(self) -> str | None:
        """The org of the credentials (from the token's identity URL ``.../id/<orgId>/<userId>``)."""
        return self._tokens.token().org_id

    def _base(self, token: AccessToken) -> str:
        return self._instance_url or token.instance_url

    def request(self, method: str, path: str, payload: Any = None, *, headers: Mapping[str, str] | None = None
                ) -> HttpResponse:
        """One authenticated call; renews the session once on ``401 INVALID_SESSION_ID``; maps errors."""
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else None
        for attempt in (1, 2):
            token = self._tokens.token(refresh=attempt == 2)
            all_headers = {
                "Authorization": f"Bearer {token.access_token}",
                "Accept": "application/json",
                "Sforce-Call-Options": f"client={self._client_name}",
                **(headers or {}),
            }
            if body is not None:
                all_headers["Content-Type"] = "application/json"
            response = self._send(method, f"{self._base(token)}{path}", headers=all_headers, body=body,
                                  timeout=self._timeout)
            usage = ApiUsage.parse(response.header("Sforce-Limit-Info"))
            if usage is not None:
                self.last_api_usage = usage
            if response.status == 401 and attempt == 1:
                continue  # session expired or revoked: get a new token, try once more
            self._raise_for_status(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _raise_for_status(response: HttpResponse) -> None:
        status = response.status
        if 200 <= status < 300:
            return
        code, message = _first_error(response.json())
        text = f"Salesforce HTTP {status} {code}: {message}".strip()
        if status == 401:
            raise SalesforceAuthError(text, code=code, status=status)
        if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
            raise SalesforceRetryableError(text, code=code if code != "UNKNOWN" else "REQUEST_LIMIT_EXCEEDED",
                                           status=status,
                                           retry_after=_retry_after(response, DEFAULT_LIMIT_BACKOFF_S))
        if status >= 500:
            raise SalesforceRetryableError(text, code=code if code != "UNKNOWN" else f"HTTP_{status}",
                                           status=status,
                                           retry_after=_retry_after(response, DEFAULT_UNAVAILABLE_BACKOFF_S))
        raise SalesforceError(text, code=code, status=status)

    # --- Leads ------------------------------------------------------------------------------------------

    def update_owners(self, records: list[dict[str, Any]]) -> list[RecordResult]:
        """Update Lead records (``{"id": ..., "OwnerId": ..., <custom fields>}``) through sObject Collections.

        Sends ``allOrNone: false`` in calls of at most 200 records and returns one ``RecordResult`` per record,
        in order. Raises ``SalesforceRetryableError`` / ``SalesforceAuthError`` / ``SalesforceError`` for a call
        that fails as a whole (results of earlier calls of the same invocation are then lost: send ≤ 200).
        """
        results: list[RecordResult] = []
        for start in range(0, len(records), MAX_RECORDS_PER_CALL):
            chunk = [self._lead_record(r) for r in records[start : start + MAX_RECORDS_PER_CALL]]
            response = self.request(
                "PATCH", f"/services/data/{self.api_version}/composite/sobjects",
                {"allOrNone": False, "records": chunk},
                headers={"Sforce-Auto-Assign": "FALSE"},
            )
            data = response.json()
            if not isinstance(data, list):
                raise SalesforceRetryableError("sObject Collections answered without a result list",
                                               code="BAD_RESPONSE", status=response.status)
            for position, record in enumerate(chunk):
                item = data[position] if position < len(data) and isinstance(data[position], Mapping) else None
                if item is None:
                    results.append(RecordResult(id=record["id"], success=False, errors=()))
                else:
                    results.append(RecordResult.from_json(item, sent_id=record["id"]))
        return results

    @staticmethod
    def _lead_record(record: Mapping[str, Any]) -> dict[str, Any]:
        if not is_salesforce_id(record.get("id")):
            raise ValueError("every record needs a Salesforce 'id'")
        out = {"attributes": {"type": "Lead"}}
        out.update({k: v for k, v in record.items() if k != "attributes"})
        return out

    # --- Reads (SOQL) -------------------------------------------------------------------------------------

    def query_pages(self, soql_text: str) -> Iterator[QueryPage]:
        """The pages of one SOQL query: ``GET …/query?q=``, then each ``nextRecordsUrl`` until ``done``.

        Raises ``SalesforceError`` for a query Salesforce refuses (HTTP 400 ``MALFORMED_QUERY``, ``INVALID_FIELD``,
        ``INVALID_TYPE``), ``SalesforceRetryableError`` for ``QUERY_TIMEOUT``, an expired query locator
        (``INVALID_QUERY_LOCATOR``: run the query again), the API limit, 5xx and network failures.
        """
        if not isinstance(soql_text, str) or not soql_text.strip():
            raise ValueError("empty SOQL query")
        path = f"/services/data/{self.api_version}/query?q={urllib.parse.quote(soql_text, safe='')}"
        while True:
            page = self._query_page(path)
            yield page
            if page.done:
                return
            path = page.next_records_url  # type: ignore[assignment] - checked by _query_page

    def _query_page(self, path: str) -> QueryPage:
        try:
            response = self.request("GET", path)
        except SalesforceRetryableError:
            raise
        except SalesforceError as exc:
            if exc.code in _RETRYABLE_QUERY_CODES:
                raise SalesforceRetryableError(str(exc), code=exc.code, status=exc.status,
                                               retry_after=DEFAULT_UNAVAILABLE_BACKOFF_S) from None
            raise
        return QueryPage.from_json(response.json(), status=response.status)

    def query_records(self, soql_text: str, *, max_records: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of the query (``attributes`` included, as Salesforce sends them), at most ``max_records``.

        Stops asking for pages once ``max_records`` records were yielded: a bounded caller costs one API call per
        2,000 records it reads, not per record that matches.
        """
        if max_records is not None and max_records < 1:
            return
        count = 0
        for page in self.query_pages(soql_text):
            for record in page.records:
                yield record
                count += 1
                if max_records is not None and count >= max_records:
                    return

    def query(self, soql_text: str, *, max_records: int | None = None) -> QueryResult:
        """All records of the query (following ``nextRecordsUrl``), or the first ``max_records``."""
        records: list[dict[str, Any]] = []
        total, done = 0, True
        for page in self.query_pages(soql_text):
            total, done = page.total_size, page.done
            records.extend(page.records)
            if max_records is not None and len(records) >= max_records:
                break
        if max_records is not None and len(records) > max_records:
            records, done = records[:max_records], False
        return QueryResult(total_size=total, done=done, records=records)

    def get_leads(self, ids: Iterable[str], fields: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The Leads among ``ids`` that exist, by 18-character id, with ``fields`` (``Id`` always included).

        One ``SELECT … FROM Lead WHERE Id IN (…)`` per 200 distinct ids. An id missing from the answer names a lead
        that is deleted (in the Recycle Bin or purged) or that the integration user cannot see.
        """
        fields = list(fields)
        found: dict[str, dict[str, Any]] = {}
        for query_text in soql.leads_by_id(ids, fields):
            for record in self.query_records(query_text):
                record_id = record.get("Id")
                if not is_salesforce_id(record_id):
                    raise SalesforceRetryableError("query answered a Lead without an Id", code="BAD_RESPONSE")
                found[to_18(record_id)] = record
        return found

    def get_lead(self, lead_id: str, fields: list[str] | None = None) -> dict[str, Any] | None:
        """One Lead by id (e.g. to refetch after a CDC gap event); ``None`` when it does not exist."""
        if not is_salesforce_id(lead_id):
            raise ValueError("not a Salesforce id")
        query = f"?fields={urllib.parse.quote(','.join(fields))}" if fields else ""
        try:
            response = self.request("GET", f"/services/data/{self.api_version}/sobjects/Lead/{lead_id}{query}")
        except SalesforceError as exc:
            if exc.status == 404:
                return None
            raise
        data = response.json()
        return data if isinstance(data, dict) else None

    # --- Event schemas ----------------------------------------------------------------------------------

    def event_schema(self, schema_id: str) -> dict[str, Any] | None:
        """The Avro schema (JSON) of an event by its schema id (``detail.schemaId`` of a relayed event), from
        ``GET /services/data/vXX.X/event/eventSchema/{schemaId}``; ``None`` when Salesforce does not know it.

        https://developer.salesforce.com/docs/platform/api-rest/guide/resources-event-eventschema.html
        """
        if not schema_id or not all(c.isalnum() or c in "-_" for c in schema_id) or len(schema_id) > 64:
            raise ValueError("not an event schema id")
        try:
            response = self.request("GET", f"/services/data/{self.api_version}/event/eventSchema/{schema_id}")
        except SalesforceError as exc:
            if exc.status in (400, 404):
                return None
            raise
        data = response.json()
        return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------------------
# Factory from Secrets Manager
# ---------------------------------------------------------------------------------------------------------

REQUIRED_SECRET_FIELDS = ("client_id", "client_secret", "my_domain_url")


def client_from_secret(secret_name: str, *, session: Transport | None = None, max_age: int = 300,
                       api_version: str | None = None, force_fetch: bool = False) -> SalesforceClient:
    """Build a client from the JSON secret ``{"client_id", "client_secret", "my_domain_url"}``.

    Optional secret fields: ``instance_url`` (defaults to the token's), ``api_version``. The secret is read
    through powertools parameters (cached ``max_age`` seconds per container; ``force_fetch`` reads it again).
    """
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(secret_name, transform="json", max_age=max_age, force_fetch=force_fetch)
    return client_from_secret_value(secret, name=secret_name, session=session, api_version=api_version)


def client_from_secret_value(secret: Any, *, name: str = "the Salesforce secret", session: Transport | None = None,
                             api_version: str | None = None) -> SalesforceClient:
    """A client from the secret's value (``{"client_id", "client_secret", "my_domain_url", ...}``), already read."""
    if not isinstance(secret, Mapping):
        raise SalesforceAuthError(f"secret {name} is not a JSON object", code="BAD_SECRET")
    missing = [key for key in REQUIRED_SECRET_FIELDS if not secret.get(key)]
    if missing:
        raise SalesforceAuthError(f"secret {name} lacks {', '.join(missing)}", code="BAD_SECRET")
    provider = ClientCredentialsTokenProvider(
        str(secret["my_domain_url"]), str(secret["client_id"]), str(secret["client_secret"]), session=session,
    )
    return SalesforceClient(
        secret.get("instance_url") or None, provider,
        api_version=api_version or secret.get("api_version") or DEFAULT_API_VERSION, session=session,
    )


class RebuildingClient:
    """A ``SalesforceClient`` that is rebuilt from the secret after Salesforce refuses the credentials.

    ``build(fresh)`` makes a client (``fresh``: read the secret again, bypassing the container's cache). When a call
    raises ``SalesforceAuthError`` (the token endpoint refused the client id/secret, or the session could not be
    renewed), the client is rebuilt from a fresh read of the secret and the call tried once more: a corrected or
    rotated secret is used at once, without waiting for a cold start. A second refusal propagates. Building the
    client itself may raise ``SalesforceAuthError`` (a secret without the required fields).
    """

    def __init__(self, build: Callable[[bool], SalesforceClient]) -> None:
        self._build = build
        self._client: SalesforceClient | None = None
        self._lock = threading.Lock()
        self._stale = False
        self.rebuilds = 0

    def _current(self, fresh: bool = False) -> SalesforceClient:
        with self._lock:
            fresh = fresh or self._stale
            if self._client is None or fresh:
                self._client = self._build(fresh)
                self._stale = False
                if fresh:
                    self.rebuilds += 1
            return self._client

    @property
    def last_api_usage(self) -> ApiUsage | None:
        return self._client.last_api_usage if self._client is not None else None

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._current(), method)(*args, **kwargs)
        except SalesforceAuthError:
            with self._lock:
                self._client = None
            return getattr(self._current(fresh=True), method)(*args, **kwargs)

    def update_owners(self, records: list[dict[str, Any]]) -> list[RecordResult]:
        return self.call("update_owners", records)

    def __getattr__(self, name: str) -> Any:
        """Every other client method (``get_lead``, ``query`` ...) with the same rebuild-once rule."""
        attribute = getattr(self._current(), name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def invalidate(self) -> None:
        """Forget the client: the next call builds it from a fresh read of the secret.

        For callers that saw ``SalesforceAuthError`` outside ``call`` (a paged query is a generator: its requests run
        while the caller iterates, after ``call`` has returned).
        """
        with self._lock:
            self._client = None
            self._stale = True


def salesforce_from_secret(secret_name: str, *, api_version: str | None = None) -> RebuildingClient:
    """The handlers' Salesforce client: built lazily from the secret, rebuilt from a fresh read after an auth refusal."""
    return RebuildingClient(lambda fresh: client_from_secret(secret_name, api_version=api_version, force_fetch=fresh))

