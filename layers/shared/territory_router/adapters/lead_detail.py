"""The lead's cold half in ``LeadsTable``: its PII and the "why this rep" trail, apart from the hot routing item.

Layout (docs/architecture.md, "Lead storage"):

- the **hot item** (key ``lead_id`` = the 18-character id) holds what routing reads and changes at every step
  (status, version, territory, tag, owner, counters' keys, SLA, re-route key and count, timestamps, previous
  owners). From intake until the first assignment it also holds ``lead`` (the lead as taken in, a plain map):
  tagging and a late geocode before assignment read it there. The first assignment moves it out (``REMOVE lead``).
- the **detail item** (key ``lead_id`` = ``<id>#detail``, attributes ``lead_id``, ``of`` and ``z``; no
  ``status``, so anything reading lead items, e.g. the report aggregates from the table's stream, tells it apart
  by the missing ``status`` or the key suffix) holds ``z``: zlib-compressed JSON ``{"lead": ..., "decision": ...,
  "tag_note": ..., "source_event_id": ...}`` (the last two left the hot item at the first assignment: routing never
  reads them). Compressed with a preset dictionary (``ZDICT``: the trail's and the lead's key names and fixed
  phrases), which halves a detail item of about 2 KB of JSON (about 870 B with plain zlib, 490 B with it); a blob
  written before the dictionary (no FDICT flag in its zlib header) still decodes.
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
COLD_FIELDS = ("tag_note", "source_event_id")  # hot-item attributes moved to the detail item at the first assignment

# The preset dictionary of every detail blob (zlib's zdict: strings the compressor may refer back to). Key names and
# fixed phrases of the lead and the trail, never a lead's data. Never edit it: blobs written with it need it to be
# read. A new dictionary needs a marker of its own in the blob (the zlib header carries the dictionary's adler32).
ZDICT = (
    b'{"lead":{"lead_id":"00Q","org_id":"00D","created_at":"20","first_name":"","last_name":"","company":"",'
    b'"email":"@example.com","phone":"+1 ","street":" Street","city":"","state":"","postal_code":"","country":"US",'
    b'"latitude":,"longitude":-,"industry":"","lead_source":"","status":"Open - Not Contacted","sf_fields":{'
    b'"CreatedById":"005","LastModifiedDate":17,"LastModifiedById":"005","IsConverted":false}},"decision":{"at":"20",'
    b'"roster_version":"r-","territory_id":"","tag_method":"POLYGON","required_skills":[],"excluded":[],"groups":[{'
    b'"group_id":"","strategy":"weighted_round_robin","role":"primary","candidates":[{"rep_id":"005","name":"",'
    b'"load":"0/","result":"eligible"},{"result":"skipped","reason":"out of office until ","reason":"excluded: '
    b'current owner (missed the SLA)"}],"pointer":{"seq":,"last_rep_id":"005","scores":{}},"chosen":"005","why":'
    b'"weighted round robin: highest running score  (weight  of  eligible weight, turn )"}],"outcome":"rep",'
    b'"owner_id":"005","fallback":false,"summary":" from group ","sla":" minutes from group : due 20","reroute":'
    b'"re-route 1 of 2:  missed the SLA due 20"},"tag_note":"point in polygon ","source_event_id":""}'
)
_FDICT = 0x20  # zlib header, second byte: a preset dictionary was used


def detail_key(lead_id: str) -> str:
    """The ``lead_id`` key value of a lead's detail item."""
    return lead_id + DETAIL_SUFFIX


def is_detail_key(key: str) -> bool:
    return key.endswith(DETAIL_SUFFIX)


def encode(lead: Mapping[str, Any] | None, decision: Mapping[str, Any] | None,
           cold: Mapping[str, Any] | None = None) -> bytes:
    body = {"lead": dict(lead) if lead else None, "decision": dict(decision) if decision else None}
    body |= {k: v for k, v in (cold or {}).items() if k in COLD_FIELDS and v}
    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    return packer.compress(json.dumps(body, separators=(",", ":"), default=str).encode()) + packer.flush()


def decode(blob: Any) -> dict[str, Any]:
    """``{"lead": map or None, "decision": map or None, ...}`` from a stored ``z`` (bytes or boto3's ``Binary``)."""
    raw = getattr(blob, "value", blob)
    if not raw:
        return {"lead": None, "decision": None}
    raw = bytes(raw)
    if len(raw) > 1 and raw[1] & _FDICT:
        unpacker = zlib.decompressobj(zdict=ZDICT)
        return json.loads(unpacker.decompress(raw) + unpacker.flush())
    return json.loads(zlib.decompress(raw))


def detail_put(table: str, lead_id: str, lead: Mapping[str, Any] | None, decision: Mapping[str, Any] | None,
               cold: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``Put`` of a detail item inside a TransactWriteItems (typed attribute values, no condition: the hot
    item's condition in the same transaction guards it)."""
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "lead_id": {"S": detail_key(lead_id)},
                "of": {"S": lead_id},
                BLOB: {"B": encode(lead, decision, cold)},
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
        for name in COLD_FIELDS:
            if cold.get(name) and name not in out:
                out[name] = cold[name]
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
