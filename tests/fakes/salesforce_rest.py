"""A Salesforce REST transport for unit tests (no sockets): the test org's answers without its HTTP server.

``SalesforceClient(None, StaticTokens(), session=RestTransport())`` sends each exchange straight to
``FakeOrg.handle`` (the same code that answers over HTTP in integration tests and the demo), so unit tests
see Salesforce's documented payloads: the Query resource's pages (``totalSize``, ``done``, ``records`` with
``attributes``, ``nextRecordsUrl``), errors as ``[{"message", "errorCode"}]`` (``MALFORMED_QUERY``,
``INVALID_FIELD``, ``REQUEST_LIMIT_EXCEEDED``...), ``Sforce-Limit-Info`` on every answer. ``unreachable`` makes
the exchange fail as a refused connection does in ``urllib_transport``.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from territory_router.adapters.salesforce_client import AccessToken, HttpResponse
from territory_router.domain.ids import to_18
from territory_router.salesforce.errors import SalesforceRetryableError
from territory_router_tools.salesforce.fake_org import FakeOrg, RecordedRequest

TOKEN = "00Dxx0000001gEr!static-unit-token"
INSTANCE = "https://example.my.salesforce.com"


class StaticTokens:
    """A token provider that never calls out (the OAuth exchange itself is tested against FakeSalesforce)."""

    def __init__(self, user_id: str = "005xx000000IntgAAC") -> None:
        self.user_id = user_id
        self.refreshed = 0

    def token(self, *, refresh: bool = False) -> AccessToken:
        self.refreshed += int(refresh)
        return AccessToken(access_token=TOKEN, instance_url=INSTANCE, user_id=self.user_id,
                           org_id="00Dxx0000001gErEAI")


@dataclass
class Exchange:
    method: str
    url: str
    path: str
    soql: str | None


@dataclass
class RestTransport:
    salesforce: FakeOrg = field(default_factory=FakeOrg)
    unreachable: bool = False
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.salesforce.accept_token(TOKEN)

    # --- programming (delegated to the fake) ----------------------------------------------------------------
    @property
    def leads(self) -> dict[str, dict[str, Any]]:
        return self.salesforce.leads

    @property
    def page_size(self) -> int:
        return self.salesforce.query_batch

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.salesforce.query_batch = value

    def add_lead(self, lead_id: str, **fields: Any) -> str:
        self.salesforce.seed_lead(lead_id, **fields)
        return to_18(lead_id)

    def fail_next(self, status: int, code: str, message: str = "", times: int = 1) -> None:
        self.salesforce.fail_next_call(status, code, message, times=times)

    def queries(self) -> list[str]:
        return [e.soql for e in self.exchanges if e.soql]

    # --- the exchange ---------------------------------------------------------------------------------------
    def __call__(self, method: str, url: str, *, headers, body, timeout) -> HttpResponse:  # noqa: ARG002
        parts = urllib.parse.urlsplit(url)
        soql_text = urllib.parse.parse_qs(parts.query).get("q", [None])[0]
        self.exchanges.append(Exchange(method, url, parts.path, soql_text))
        if self.unreachable:
            raise SalesforceRetryableError("Salesforce unreachable: [Errno 111] Connection refused", code="NETWORK",
                                           retry_after=5.0)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = RecordedRequest(method=method, path=path, headers={k.lower(): v for k, v in headers.items()},
                                  body=body or b"")
        status, payload, answer_headers = self.salesforce.handle(request)
        return HttpResponse(status, {k.lower(): v for k, v in answer_headers.items()}, json.dumps(payload).encode())
