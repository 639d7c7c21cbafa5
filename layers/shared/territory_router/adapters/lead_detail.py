"""The lead's cold half in ``LeadsTable``: its PII and the "why this rep" trail, apart from the hot routing item.

Layout (docs/architecture.md, "Lead storage"):

- the **hot item** (key ``lead_id`` = the 18-character id) holds what routing reads and changes at every step
  (status, version, territory, tag, owner, counters' keys, SLA, re-route key and count, timestamps, previous
  owners). From intake until the first assignment it also holds ``lead`` (the lead as taken in, a plain map):
  tagging and a late geocode before assignment read it there. The first assignment moves it out (``REMOVE lead``).
- the **detail item** (key ``lead_id`` = ``<id>#detail``, attributes ``lead_id``, ``of`` and ``z``; no
  ``status``, so anything reading lead items, e.g. the report aggregates from the table's stream, tells it apart
  by the missing ``status`` or the key suffix) holds ``z``: zlib-compressed JSON ``{"lead": ..., "decision": ...}``.
  It is written (a Put in the same transaction as the hot item) by the first assignment and by each later change
  of owner or stamp (re-route, late-geocode move, escalation, refused owner, refined stamp), never by intake,
  tagging, the writeback or a release.

Why a separate item and zlib: DynamoDB bills a write by the larger of the item's sizes before and after it, in
whole KB; a compressed attribute on the hot item would still be carried, and billed, by every later write of the
lead (writeback, attendance, release, re-route). Compressed, the detail item stays under 1 KB (about 2.3 KB of
JSON in the bench's leads becomes about 600 B), so its own Put bills one unit (two in a transaction).

A late geocode after the assignment writes the relocated lead back to the hot item's ``lead`` (rare; readers take
the hot item's ``lead`` before the detail's), and the next change of owner moves it out again.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

DETAIL_SUFFIX = "#detail"
BLOB = "z"


def detail_key(lead_id: str) -> str:
    """The ``lead_id`` key value of a lead's detail item."""
    return lead_id + DETAIL_SUFFIX


def is_detail_key(key: str) -> bool:
    return key.endswith(DETAIL_SUFFIX)


def encode(lead: Mapping[str, Any] | None, decision: Mapping[str, Any] | None) -> bytes:
    body = {"lead": dict(lead) if lead else None, "decision": dict(decision) if decision else None}
    return zlib.compress(json.dumps(body, separators=(",", ":"), default=str).encode(), 9)


def decode(blob: Any) -> dict[str, Any]:
    """``{"lead": map or None, "decision": map or None}`` from a stored ``z`` (bytes or boto3's ``Binary``)."""
    raw = getattr(blob, "value", blob)
    if not raw:
        return {"lead": None, "decision": None}
    return json.loads(zlib.decompress(bytes(raw)))


def detail_put(table: str, lead_id: str, lead: Mapping[str, Any] | None, decision: Mapping[str, Any] | None
               ) -> dict[str, Any]:
    """The ``Put`` of a detail item inside a TransactWriteItems (typed attribute values, no condition: the hot
    item's condition in the same transaction guards it)."""
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "lead_id": {"S": detail_key(lead_id)},
                "of": {"S": lead_id},
                BLOB: {"B": encode(lead, decision)},
            },
        }
    }


def merged(hot: Mapping[str, Any], detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """The hot item (plain values) with ``lead`` and ``decision`` restored from its detail item (plain values)."""
    out = dict(hot)
    if detail and detail.get(BLOB) is not None:
        cold = decode(detail[BLOB])
        if not isinstance(out.get("lead"), Mapping) and cold.get("lead"):
            out["lead"] = cold["lead"]
        if cold.get("decision") and "decision" not in out:
            out["decision"] = cold["decision"]
    return out


def read_full(ddb: Any, table: str, lead_id: str) -> dict[str, Any] | None:
    """The lead (plain values) with its PII and decision trail: one strongly consistent BatchGetItem of both
    items; None when the hot item does not exist."""
    from territory_router.adapters.dynamo import batch_get, from_item

    got = batch_get(ddb, {table: [{"lead_id": {"S": lead_id}}, {"lead_id": {"S": detail_key(lead_id)}}]})
    items = {i["lead_id"]: i for i in (from_item(r) or {} for r in got.get(table, []))}
    hot = items.get(lead_id)
    return merged(hot, items.get(detail_key(lead_id))) if hot is not None else None


def leads_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scanned ``LeadsTable`` items (plain values) -> the leads: each hot item merged with its detail item (for
    operators' scans and tests: routing never scans)."""
    details = {i.get("of"): i for i in items if is_detail_key(str(i.get("lead_id", "")))}
    return [merged(i, details.get(i["lead_id"])) for i in items if not is_detail_key(str(i.get("lead_id", "")))]
