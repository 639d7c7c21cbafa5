"""The active roster in DynamoDB (``RoutingTable``) and S3: activation, rejected uploads and the container cache.

Items (docs/architecture.md):

- ``ROSTER/ACTIVE``: ``version``, ``roster_key`` (S3) or ``roster_json`` (inline when the store has no bucket),
  ``activated_at``, ``previous_version``.
- ``ROSTER/VERSION#<v>``: ``status`` (``ACTIVE``/``REJECTED``/``SUPERSEDED``), ``source_key``, ``roster_key``,
  ``created_at``, ``reps``, ``groups``, ``errors``, ``warnings`` (JSON strings).

Compiled rosters are cached per container by version (a warm Lambda keeps them); the version that is active is
checked by the lead store's snapshot in the same read as the lead (``ACTIVE_KEY``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from territory_router.adapters.dynamo import from_item, to_attr
from territory_router.assignment.ports import NoActiveRoster
from territory_router.assignment.records import iso
from territory_router.assignment.roster import Roster

ROSTER_PK = "ROSTER"
ACTIVE_SK = "ACTIVE"
ACTIVE_KEY = {"pk": to_attr(ROSTER_PK), "sk": to_attr(ACTIVE_SK)}
ROSTER_PREFIX = "rosters/"

# Rosters compiled by version, shared by every store of this container (a warm Lambda keeps them).
_ROSTER_CACHE: dict[tuple[str, str], Roster] = {}
# Last active roster version seen per routing table.
_ACTIVE_HINT: dict[str, str] = {}
_CACHE_LOCK = threading.Lock()


def clear_roster_cache() -> None:
    with _CACHE_LOCK:
        _ROSTER_CACHE.clear()
        _ACTIVE_HINT.clear()


class RosterStore:
    """Roster versions on ``RoutingTable`` (+ the compiled roster in S3), with the container cache."""

    def __init__(self, dynamodb_client: Any, routing_table: str, s3_client: Any = None, bucket: str | None = None) -> None:
        self.ddb = dynamodb_client
        self.routing_table = routing_table
        self.s3 = s3_client
        self.bucket = bucket

    def _active_item(self) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.routing_table, Key=ACTIVE_KEY, ConsistentRead=True)
        return from_item(resp.get("Item"))

    def _roster_from_active(self, active: Mapping[str, Any]) -> Roster:
        version = str(active["version"])
        key = (self.routing_table, version)
        with _CACHE_LOCK:
            cached = _ROSTER_CACHE.get(key)
        if cached is not None:
            return cached
        if active.get("roster_json"):
            roster = Roster.from_json(active["roster_json"])
        else:
            if self.s3 is None or not self.bucket:
                raise NoActiveRoster("the active roster is in S3 but this store has no S3 client/bucket")
            body = self.s3.get_object(Bucket=self.bucket, Key=active["roster_key"])["Body"].read()
            roster = Roster.from_json(body)
        with _CACHE_LOCK:
            _ROSTER_CACHE[key] = roster
            _ACTIVE_HINT[self.routing_table] = version
        return roster

    def cached_roster(self) -> Roster | None:
        """The roster this container last saw active (no I/O), or None."""
        with _CACHE_LOCK:
            version = _ACTIVE_HINT.get(self.routing_table)
            return _ROSTER_CACHE.get((self.routing_table, version)) if version else None

    def active_roster(self, *, refresh: bool = False) -> Roster:
        """The active roster. Uses the container cache unless ``refresh`` (one GetItem, and one S3 get per new version)."""
        if not refresh:
            cached = self.cached_roster()
            if cached is not None:
                return cached
        active = self._active_item()
        if not active:
            raise NoActiveRoster("no roster is active: upload one under roster/ in the bucket")
        return self._roster_from_active(active)

    def active_roster_or_none(self, *, refresh: bool = True) -> Roster | None:
        try:
            return self.active_roster(refresh=refresh)
        except NoActiveRoster:
            return None

    def activate_roster(
        self,
        roster: Roster,
        *,
        now: datetime,
        source_key: str | None = None,
        warnings: Sequence[Mapping[str, str]] = (),
    ) -> str:
        """Store ``roster`` (S3 ``rosters/<version>.json``, or inline without a bucket) and make it active.

        Counters are separate items and are not touched.
        """
        version = roster.version
        body = roster.to_json()
        previous = self._active_item()
        active: dict[str, Any] = {
            "pk": ROSTER_PK,
            "sk": ACTIVE_SK,
            "version": version,
            "activated_at": iso(now),
            "previous_version": (previous or {}).get("version"),
        }
        roster_key = None
        if self.s3 is not None and self.bucket:
            roster_key = f"{ROSTER_PREFIX}{version}.json"
            self.s3.put_object(
                Bucket=self.bucket, Key=roster_key, Body=body.encode(), ContentType="application/json"
            )
            active["roster_key"] = roster_key
        else:
            active["roster_json"] = body
        record = {
            "pk": ROSTER_PK,
            "sk": f"VERSION#{version}",
            "status": "ACTIVE",
            "source_key": source_key,
            "roster_key": roster_key,
            "created_at": iso(now),
            "reps": len(roster.reps),
            "groups": len(roster.groups),
            "errors": "[]",
            "warnings": json.dumps(list(warnings)),
        }
        items = [
            {"Put": {"TableName": self.routing_table, "Item": {k: to_attr(v) for k, v in record.items() if v is not None}}},
            {"Put": {"TableName": self.routing_table, "Item": {k: to_attr(v) for k, v in active.items() if v is not None}}},
        ]
        prev_version = (previous or {}).get("version")
        if prev_version and prev_version != version:
            items.append(
                {
                    "Update": {
                        "TableName": self.routing_table,
                        "Key": {"pk": to_attr(ROSTER_PK), "sk": to_attr(f"VERSION#{prev_version}")},
                        "UpdateExpression": "SET #s = :s",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": to_attr("SUPERSEDED")},
                    }
                }
            )
        self.ddb.transact_write_items(TransactItems=items)
        with _CACHE_LOCK:
            _ROSTER_CACHE[(self.routing_table, version)] = roster
            _ACTIVE_HINT[self.routing_table] = version
        return version

    def record_rejected_roster(
        self, *, now: datetime, source_key: str, errors: Sequence[Mapping[str, str]], warnings: Sequence[Mapping[str, str]]
    ) -> str:
        digest = hashlib.sha256(source_key.encode()).hexdigest()[:6]
        version = f"rejected-{now.strftime('%Y%m%dT%H%M%S')}-{digest}"
        record = {
            "pk": ROSTER_PK,
            "sk": f"VERSION#{version}",
            "status": "REJECTED",
            "source_key": source_key,
            "created_at": iso(now),
            "errors": json.dumps(list(errors)),
            "warnings": json.dumps(list(warnings)),
        }
        self.ddb.put_item(TableName=self.routing_table, Item={k: to_attr(v) for k, v in record.items()})
        return version

