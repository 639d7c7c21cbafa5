"""A minimal Salesforce REST transport for unit tests (no sockets): the Query resource over a dict of Leads.

``SalesforceClient(..., session=RestTransport(...))`` sends its HTTP exchanges here instead of urllib. The answers
follow Salesforce's documented payloads (docs/salesforce.md, "Reading leads"):

* ``GET /services/data/vXX.X/query?q=<SOQL>`` -> ``{"totalSize", "done", "records": [{"attributes": {"type",
  "url"}, <the selected fields, null when unset>}], "nextRecordsUrl"?}``; pages of ``page_size`` records, the rest
  through ``GET /services/data/vXX.X/query/<locator>-<offset>``;
* errors as ``[{"message", "errorCode"}]``: 400 ``MALFORMED_QUERY`` (a query outside the subset below), 400
  ``INVALID_FIELD`` (a field a Lead does not have), 403 ``REQUEST_LIMIT_EXCEEDED``, 503 ``SERVER_UNAVAILABLE``;
  ``unreachable`` makes the exchange fail like a network error.

Only the two query shapes Territory Router sends are understood (``soql.leads_by_id`` and
``soql.unrouted_leads``). sf-org's stateful org double replaces this in integration tests.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territory_router.adapters.salesforce_client import AccessToken, HttpResponse
from territory_router.salesforce.ids import to_18
from territory_router.salesforce.writeback import SalesforceRetryableError

LEAD_FIELDS = frozenset({
    "Id", "FirstName", "LastName", "Company", "Email", "Phone", "Street", "City", "State", "PostalCode", "Country",
    "Latitude", "Longitude", "Industry", "LeadSource", "Status", "OwnerId", "CreatedDate", "CreatedById",
    "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsConverted", "LastActivityDate", "IsDeleted",
    "Territory__c", "Territory_Tag_Method__c", "Routing_Status__c", "Routing_Reason__c",
})

_BY_ID = re.compile(r"^SELECT (?P<fields>[\w, ]+) FROM Lead WHERE Id IN \((?P<ids>[^)]*)\)$")
_UNROUTED = re.compile(
    r"^SELECT (?P<fields>[\w, ]+) FROM Lead WHERE IsConverted = false(?: AND (?P<status>\w+) = null)?"
    r" AND SystemModstamp >= (?P<since>[\dT:\-]+Z)(?: AND SystemModstamp < (?P<until>[\dT:\-]+Z))?"
    r" ORDER BY SystemModstamp ASC, Id ASC(?: LIMIT (?P<limit>\d+))?$"
)
_LOCATOR = re.compile(r"^/services/data/v(\d+\.\d)/query/(?P<locator>01g[A-Za-z0-9]+)-(?P<offset>\d+)$")


class StaticTokens:
    """A token provider that never calls out (the OAuth exchange is tested against FakeSalesforce)."""

    def __init__(self, instance_url: str = "https://example.my.salesforce.com",
                 user_id: str = "005xx000000IntgAAC") -> None:
        self.instance_url = instance_url
        self.user_id = user_id
        self.refreshed = 0

    def token(self, *, refresh: bool = False) -> AccessToken:
        self.refreshed += int(refresh)
        return AccessToken(access_token="00Dxx!token", instance_url=self.instance_url, user_id=self.user_id,
                           org_id="00Dxx0000001gErEAI")


@dataclass
class Exchange:
    method: str
    url: str
    path: str
    soql: str | None


@dataclass
class RestTransport:
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)  # 18-char id -> fields (API names)
    page_size: int = 2000
    unreachable: bool = False
    exchanges: list[Exchange] = field(default_factory=list)
    _failures: deque[tuple[int, str, str]] = field(default_factory=deque)
    _cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    # --- programming ----------------------------------------------------------------------------------------
    def add_lead(self, lead_id: str, **fields: Any) -> str:
        full = to_18(lead_id)
        self.leads[full] = {"Id": full, **fields}
        return full

    def fail_next(self, status: int, code: str, message: str = "", times: int = 1) -> None:
        self._failures.extend([(status, code, message or code)] * times)

    def queries(self) -> list[str]:
        return [e.soql for e in self.exchanges if e.soql]

    # --- the exchange ---------------------------------------------------------------------------------------
    def __call__(self, method: str, url: str, *, headers, body, timeout) -> HttpResponse:  # noqa: ARG002
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query).get("q", [None])[0]
        self.exchanges.append(Exchange(method, url, parts.path, query))
        if self.unreachable:
            raise SalesforceRetryableError("Salesforce unreachable: [Errno 111] Connection refused", code="NETWORK",
                                           retry_after=5.0)
        if not headers.get("Authorization", "").startswith("Bearer "):
            return self._error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self._failures:
            status, code, message = self._failures.popleft()
            return self._error(status, code, message)
        if method != "GET":
            return self._error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        locator = _LOCATOR.match(parts.path)
        if locator:
            rows = self._cursors.get(locator.group("locator"))
            if rows is None:
                return self._error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(rows, int(locator.group("offset")), locator.group("locator"))
        if re.fullmatch(r"/services/data/v\d+\.\d/query/?", parts.path) and query:
            return self._run(query)
        return self._error(404, "NOT_FOUND", "The requested resource does not exist")

    def _run(self, soql_text: str) -> HttpResponse:
        by_id, unrouted = _BY_ID.match(soql_text), _UNROUTED.match(soql_text)
        match = by_id or unrouted
        if match is None:
            return self._error(400, "MALFORMED_QUERY", "unexpected token")
        fields = [f.strip() for f in match.group("fields").split(",")]
        unknown = [f for f in fields if f not in LEAD_FIELDS]
        if unknown:
            return self._error(400, "INVALID_FIELD",
                               f"No such column '{unknown[0]}' on entity 'Lead'. If you are attempting to use a "
                               "custom field, be sure to append the '__c' after the custom field name.")
        if by_id:
            wanted = {to_18(i.strip().strip("'")) for i in match.group("ids").split(",") if i.strip()}
            rows = [lead for lead_id, lead in self.leads.items() if lead_id in wanted]
        else:
            rows = self._unrouted(match)
        records = [self._record(lead, fields) for lead in rows]
        locator = f"01gxx{len(self._cursors):010d}"
        self._cursors[locator] = records
        return self._page(records, 0, locator)

    def _unrouted(self, match: re.Match[str]) -> list[dict[str, Any]]:
        since = _when(match.group("since"))
        until = _when(match.group("until")) if match.group("until") else None
        status_field = match.group("status")
        rows = []
        for lead in self.leads.values():
            stamp = _when(lead.get("SystemModstamp") or lead.get("CreatedDate"))
            if lead.get("IsConverted") or (status_field and lead.get(status_field) is not None):
                continue
            if stamp < since or (until is not None and stamp >= until):
                continue
            rows.append(lead)
        rows.sort(key=lambda r: (_when(r.get("SystemModstamp") or r.get("CreatedDate")), r["Id"]))
        limit = match.group("limit")
        return rows[: int(limit)] if limit else rows

    @staticmethod
    def _record(lead: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead['Id']}"}}
        for name in fields:
            record[name] = lead.get(name)
        return record

    def _page(self, records: list[dict[str, Any]], offset: int, locator: str) -> HttpResponse:
        chunk = records[offset : offset + self.page_size]
        done = offset + len(chunk) >= len(records)
        body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v62.0/query/{locator}-{offset + len(chunk)}"
        return HttpResponse(200, {"content-type": "application/json;charset=UTF-8",
                                  "sforce-limit-info": "api-usage=10/15000"}, json.dumps(body).encode())

    @staticmethod
    def _error(status: int, code: str, message: str) -> HttpResponse:
        return HttpResponse(status, {"content-type": "application/json;charset=UTF-8"},
                            json.dumps([{"message": message, "errorCode": code}]).encode())


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    if "+" not in text[10:] and "-" not in text[10:]:
        text += "+00:00"
    return datetime.fromisoformat(text.replace("+0000", "+00:00"))
