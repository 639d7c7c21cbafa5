"""The SOQL subset the Salesforce test doubles answer (tooling for tests and the demo, never used by handlers).

Exactly the two query shapes Territory Router sends (``territory_router.salesforce.soql``):

* ``SELECT <fields> FROM Lead WHERE Id IN ('00Q…', …)``
* ``SELECT <fields> FROM Lead WHERE IsConverted = false [AND <RoutingStatusField> = null]
  AND SystemModstamp >= <dateTime> [AND SystemModstamp < <dateTime>] ORDER BY SystemModstamp ASC, Id ASC
  [LIMIT n]``

Anything else is refused as Salesforce would: ``MALFORMED_QUERY``; a field a Lead does not have: ``INVALID_FIELD``
with Salesforce's message. Records come back as the Query resource sends them: ``attributes`` first, then every
selected field (``null`` when unset).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from territory_router.salesforce.ids import is_salesforce_id, to_18

# Standard Lead fields the doubles know, plus the package's custom fields (infra/salesforce).
LEAD_FIELDS = frozenset({
    "Id", "FirstName", "LastName", "Salutation", "Name", "Company", "Title", "Email", "Phone", "MobilePhone",
    "Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "Industry", "LeadSource", "Status",
    "Rating", "Description", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "IsConverted", "ConvertedDate", "LastActivityDate", "IsDeleted",
    "Territory__c", "Territory_Tag_Method__c", "Routing_Status__c", "Routing_Reason__c",
})

_BY_ID = re.compile(r"^SELECT (?P<fields>[\w, ]+) FROM Lead WHERE Id IN \((?P<ids>[^)]*)\)$")
_UNROUTED = re.compile(
    r"^SELECT (?P<fields>[\w, ]+) FROM Lead WHERE IsConverted = false(?: AND (?P<status>\w+) = null)?"
    r" AND SystemModstamp >= (?P<since>[\dT:\-]+Z)(?: AND SystemModstamp < (?P<until>[\dT:\-]+Z))?"
    r" ORDER BY SystemModstamp ASC, Id ASC(?: LIMIT (?P<limit>\d+))?$"
)


class QueryRefused(Exception):
    """Salesforce would answer HTTP 400 with ``[{"message": message, "errorCode": code}]``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def when(value: Any) -> datetime:
    """A Salesforce dateTime (ISO text with ``Z``/``+0000``, or a datetime) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00").replace("+0000", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_query(soql_text: str, leads: Iterable[Mapping[str, Any]], *, object_url: str = "/services/data/v62.0"
              ) -> list[dict[str, Any]]:
    """The records ``soql_text`` selects from ``leads`` (dicts of API names with an ``Id``), in Salesforce's shape."""
    by_id, unrouted = _BY_ID.match(soql_text.strip()), _UNROUTED.match(soql_text.strip())
    match = by_id or unrouted
    if match is None:
        raise QueryRefused("MALFORMED_QUERY", "unexpected token: the Salesforce double understands only the "
                           "queries Territory Router sends")
    fields = [f.strip() for f in match.group("fields").split(",")]
    unknown = [f for f in fields if f not in LEAD_FIELDS]
    if unknown:
        raise QueryRefused("INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Lead'. If you are attempting "
                           "to use a custom field, be sure to append the '__c' after the custom field name.")
    rows = [dict(lead) for lead in leads if not lead.get("IsDeleted")]
    if by_id:
        wanted = set()
        for raw in match.group("ids").split(","):
            text = raw.strip().strip("'")
            if not is_salesforce_id(text):
                raise QueryRefused("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text[:20]}")
            wanted.add(to_18(text))
        rows = [r for r in rows if to_18(r["Id"]) in wanted]
    else:
        rows = _unrouted(rows, match)
    return [_record(r, fields, object_url) for r in rows]


def _stamp(lead: Mapping[str, Any]) -> datetime:
    return when(lead.get("SystemModstamp") or lead.get("LastModifiedDate") or lead.get("CreatedDate")
                or "1970-01-01T00:00:00Z")


def _unrouted(rows: list[dict[str, Any]], match: re.Match[str]) -> list[dict[str, Any]]:
    since = when(match.group("since"))
    until = when(match.group("until")) if match.group("until") else None
    status_field = match.group("status")
    if status_field and status_field not in LEAD_FIELDS:
        raise QueryRefused("INVALID_FIELD", f"No such column '{status_field}' on entity 'Lead'.")
    selected = [
        r for r in rows
        if not r.get("IsConverted")
        and not (status_field and r.get(status_field) not in (None, ""))
        and _stamp(r) >= since and (until is None or _stamp(r) < until)
    ]
    selected.sort(key=lambda r: (_stamp(r), r["Id"]))
    limit = match.group("limit")
    return selected[: int(limit)] if limit else selected


def _record(lead: Mapping[str, Any], fields: list[str], object_url: str) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": "Lead", "url": f"{object_url}/sobjects/Lead/{lead['Id']}"}}
    for name in fields:
        value = lead.get(name)
        record[name] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000") if isinstance(value, datetime) else value
    return record
