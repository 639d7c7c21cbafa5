"""SOQL text for the few queries Territory Router sends (pure: no I/O). Rules and sources in docs/salesforce.md.

* ``leads_by_id(ids, fields)`` -> one ``SELECT … FROM Lead WHERE Id IN (…)`` per ≤ 200 ids (ids normalised to
  18 characters with ``territory_router.domain.ids``; the same record named by its 15- and 18-character id
  is asked for once).
* ``unrouted_leads(fields, since, …)`` -> the reconciliation query: open, unconverted leads without a routing
  status whose ``SystemModstamp`` (indexed; never earlier than ``LastModifiedDate``, itself never earlier than
  ``CreatedDate``) is in the window.

Field names are checked against the API-name grammar and string values are escaped, so nothing read from an
event or a file can change the shape of a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from territory_router.domain.ids import InvalidSalesforceId, is_salesforce_id, to_18

# The issue's bound (and sObject Collections' own): one query names at most 200 ids, so the WHERE clause stays far
# below SOQL's 100,000-character statement limit and the REST GET below the 16,384-byte URI limit.
MAX_IDS_PER_QUERY = 200

_FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


class InvalidQuery(ValueError):
    """A query could not be built (bad field name, bad id, bad bound)."""


def field_list(fields: Iterable[str]) -> str:
    """``Id, Status, OwnerId``: names checked against the API-name grammar, duplicates dropped, ``Id`` first."""
    names: list[str] = ["Id"]
    for name in fields:
        if not isinstance(name, str) or not _FIELD_RE.match(name):
            raise InvalidQuery(f"not a Salesforce field API name: {str(name)[:60]!r}")
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
    return ", ".join(names)


def quote(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped with a backslash, control characters refused."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20:
            raise InvalidQuery("control character in a SOQL string")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def datetime_literal(value: datetime) -> str:
    """A dateTime literal (``2026-03-01T12:00:00Z``): UTC, whole seconds, never quoted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_ids(ids: Iterable[str]) -> list[str]:
    """18-character ids in first-seen order, one per record (``00Q…AAA`` and its 15-character form are one)."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in ids:
        if not is_salesforce_id(raw):
            raise InvalidQuery(f"not a Salesforce id: {str(raw)[:40]!r}")
        try:
            full = to_18(raw)
        except InvalidSalesforceId as exc:  # pragma: no cover - is_salesforce_id checked it
            raise InvalidQuery(str(exc)) from None
        if full[:15] not in seen:
            seen.add(full[:15])
            out.append(full)
    return out


def chunks(items: Sequence[str], size: int = MAX_IDS_PER_QUERY) -> Iterator[list[str]]:
    if size < 1:
        raise InvalidQuery("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def leads_by_id(ids: Iterable[str], fields: Iterable[str], *, chunk_size: int = MAX_IDS_PER_QUERY) -> list[str]:
    """One ``SELECT <fields> FROM Lead WHERE Id IN (…)`` per ``chunk_size`` (≤ 200) distinct ids; none for none."""
    if not 1 <= chunk_size <= MAX_IDS_PER_QUERY:
        raise InvalidQuery(f"at most {MAX_IDS_PER_QUERY} ids per query")
    select = field_list(fields)
    return [
        f"SELECT {select} FROM Lead WHERE Id IN ({', '.join(quote(i) for i in chunk)})"
        for chunk in chunks(normalise_ids(ids), chunk_size)
    ]


def unrouted_leads(
    fields: Iterable[str],
    *,
    since: datetime,
    until: datetime | None = None,
    routing_status_field: str | None = "Routing_Status__c",
    limit: int | None = None,
) -> str:
    """The reconciliation query: unconverted leads without a routing status, changed in ``[since, until)``.

    ``SystemModstamp`` is the window's field: Salesforce indexes it, and it moves on every save, so a lead created
    or modified in the window is in it. Ordered oldest first (``Id`` breaks ties) so a bounded run takes the
    longest-waiting leads. Open/worked status is judged on the records (``lifecycle.routable_now``): status
    picklists differ between orgs, a substring rule cannot be written in SOQL.
    """
    where = ["IsConverted = false"]
    if routing_status_field:
        field_list([routing_status_field])  # validates the name
        where.append(f"{routing_status_field} = null")
    where.append(f"SystemModstamp >= {datetime_literal(since)}")
    if until is not None:
        where.append(f"SystemModstamp < {datetime_literal(until)}")
    query = f"SELECT {field_list(fields)} FROM Lead WHERE {' AND '.join(where)} ORDER BY SystemModstamp ASC, Id ASC"
    if limit is not None:
        if limit < 1:
            raise InvalidQuery("limit must be at least 1")
        query += f" LIMIT {int(limit)}"
    return query


# ---------------------------------------------------------------------------------------------------------
# The port: what the services need from a Salesforce client to read leads
# ---------------------------------------------------------------------------------------------------------


class LeadReader(Protocol):
    """Reads leads from Salesforce (``territory_router.adapters.salesforce_client.SalesforceClient`` is one).

    Errors are those of ``territory_router.salesforce.writeback_rules``: ``SalesforceRetryableError`` (unreachable, API
    limit, 5xx: try later), ``SalesforceAuthError`` (credentials refused), ``SalesforceError`` (the query itself is
    wrong: ``MALFORMED_QUERY``, ``INVALID_FIELD``).
    """

    def get_leads(self, ids: Iterable[str], fields: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The leads that exist, by 18-character id; an id absent from the answer is deleted (or not visible)."""
        ...

    def query_records(self, soql: str, *, max_records: int | None = None) -> Iterator[dict[str, Any]]:
        """The records of one query, page after page (``nextRecordsUrl``: a synchronous query answers at most 2,000
        records a page), stopping after ``max_records``."""
        ...
