"""DynamoDB (and S3) side of assignment: the active roster, workload counters, group pointers, and the
transactions that assign, release, re-route and escalate a lead.

Every state change of a lead is ONE ``TransactWriteItems``: the lead item (conditional on its ``version`` and
``status``), the rep counters it touches (conditional ``open_leads < capacity`` when adding) and the group pointer
(conditional on the ``seq`` that was read). A rep's ``open_leads`` counts exactly the leads whose
``counted_rep_id`` names them: adding sets ``counted_rep_id``, releasing requires it and removes it.

Items written here (besides those of docs/architecture.md):

- ``ROSTER/ACTIVE``: ``version``, ``roster_key`` (S3) or ``roster_json`` (inline when the store has no bucket),
  ``activated_at``, ``previous_version``.
- ``ROSTER/VERSION#<v>``: ``status`` (``ACTIVE``/``REJECTED``/``SUPERSEDED``), ``source_key``, ``roster_key``,
  ``created_at``, ``reps``, ``groups``, ``errors``, ``warnings`` (JSON strings).
- ``REP#<id>/LOAD``: ``open_leads``, ``assigned_total``, ``rep_id``, ``updated_at``.
- ``GROUP#<id>/POINTER``: ``seq`` (N), ``last_rep_id``, ``scores`` (map rep id → N, weighted round robin).
- ``OWNERS/UNUSABLE``: one attribute per owner (user or queue id) Salesforce refused as an owner, a map
  ``code``, ``reason``, ``at``, ``lead_id``; eligibility skips them until ``clear_unusable`` (``reps usable``).
- Lead item attributes added: ``strategy``, ``fallback`` (BOOL), ``tag_note``, ``released_at``,
  ``release_reason``, ``rerouted_at``, ``escalated_at``, ``sla_minutes``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from territory_router.adapters.dynamo import batch_get
from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.records import (
    REROUTE_SHARD,
    CounterChange,
    IfNotExists,
    NoActiveRoster,
    TransactionCancelled,
    epoch,
    iso,
)
from territory_router.assignment.roster import Roster
from territory_router.assignment.strategies import PointerState

ROSTER_PK = "ROSTER"
ACTIVE_SK = "ACTIVE"
LOAD_SK = "LOAD"
POINTER_SK = "POINTER"
OWNERS_PK = "OWNERS"
UNUSABLE_SK = "UNUSABLE"
REROUTE_INDEX = "RerouteDueIndex"
ROSTER_PREFIX = "rosters/"

_ser = TypeSerializer()
_deser = TypeDeserializer()

# Rosters compiled by version, shared by every store of this container (a warm Lambda keeps them).
_ROSTER_CACHE: dict[tuple[str, str], Roster] = {}
# Last active roster version seen per routing table.
_ACTIVE_HINT: dict[str, str] = {}
_CACHE_LOCK = threading.Lock()


def clear_roster_cache() -> None:
    with _CACHE_LOCK:
        _ROSTER_CACHE.clear()
        _ACTIVE_HINT.clear()


def to_av(value: Any) -> dict[str, Any]:
    return _ser.serialize(_dynamo_safe(value))


def _dynamo_safe(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {str(k): _dynamo_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def plain(value: Any) -> Any:
    """DynamoDB-deserialised value → plain JSON types (Decimal → int/float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


def from_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    return {k: plain(_deser.deserialize(v)) for k, v in item.items()}


@dataclass
class RoutingSnapshot:
    """What one BatchGetItem read before a decision."""

    lead_item: dict[str, Any] | None
    active_version: str | None
    loads: dict[str, RepLoad] = field(default_factory=dict)
    pointers: dict[str, PointerState] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)  # owner id -> why Salesforce refused it


def _cancel_reasons(exc: ClientError, n_items: int) -> list[str | None]:
    reasons = exc.response.get("CancellationReasons")
    if reasons:
        return [None if (r.get("Code") in (None, "None")) else r.get("Code") for r in reasons]
    message = exc.response.get("Error", {}).get("Message", "")
    if "[" in message and "]" in message:
        inside = message[message.rfind("[") + 1 : message.rfind("]")]
        parts = [p.strip() for p in inside.split(",")]
        if len(parts) == n_items:
            return [None if p in ("None", "") else p for p in parts]
    return ["Unknown"] * n_items


class RoutingStore:
    """Roster, counters, pointers and lead assignment transactions on ``LeadsTable`` + ``RoutingTable``."""

    def __init__(
        self,
        dynamodb_client: Any,
        leads_table: str,
        routing_table: str,
        s3_client: Any = None,
        bucket: str | None = None,
    ) -> None:
        self.ddb = dynamodb_client
        self.leads_table = leads_table
        self.routing_table = routing_table
        self.s3 = s3_client
        self.bucket = bucket

    # ------------------------------------------------------------------------------------------ roster

    def _active_item(self) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.routing_table,
            Key={"pk": to_av(ROSTER_PK), "sk": to_av(ACTIVE_SK)},
            ConsistentRead=True,
        )
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

    def roster_for_version(self, version: str) -> Roster:
        """The roster of ``version`` when it is the active one (reloads the pointer when the cache is stale)."""
        with _CACHE_LOCK:
            cached = _ROSTER_CACHE.get((self.routing_table, version))
        if cached is not None:
            with _CACHE_LOCK:
                _ACTIVE_HINT[self.routing_table] = version
            return cached
        return self.active_roster(refresh=True)

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
            {"Put": {"TableName": self.routing_table, "Item": {k: to_av(v) for k, v in record.items() if v is not None}}},
            {"Put": {"TableName": self.routing_table, "Item": {k: to_av(v) for k, v in active.items() if v is not None}}},
        ]
        prev_version = (previous or {}).get("version")
        if prev_version and prev_version != version:
            items.append(
                {
                    "Update": {
                        "TableName": self.routing_table,
                        "Key": {"pk": to_av(ROSTER_PK), "sk": to_av(f"VERSION#{prev_version}")},
                        "UpdateExpression": "SET #s = :s",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": to_av("SUPERSEDED")},
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
        self.ddb.put_item(TableName=self.routing_table, Item={k: to_av(v) for k, v in record.items()})
        return version

    # ---------------------------------------------------------------------------------- counters/pointers

    def _batch_get(self, requests: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """BatchGetItem over several tables, chunked by 100 keys, following UnprocessedKeys."""
        return batch_get(self.ddb, requests)

    @staticmethod
    def _load_key(rep_id: str) -> dict[str, Any]:
        return {"pk": to_av(f"REP#{rep_id}"), "sk": to_av(LOAD_SK)}

    @staticmethod
    def _pointer_key(group_id: str) -> dict[str, Any]:
        return {"pk": to_av(f"GROUP#{group_id}"), "sk": to_av(POINTER_SK)}

    def snapshot(
        self,
        *,
        lead_id: str | None,
        rep_ids: Iterable[str],
        group_ids: Iterable[str],
        include_active: bool = True,
    ) -> RoutingSnapshot:
        """One BatchGetItem: the lead item, ``ROSTER/ACTIVE``, the pointers and the counters."""
        routing_keys: list[dict[str, Any]] = []
        if include_active:
            routing_keys.append({"pk": to_av(ROSTER_PK), "sk": to_av(ACTIVE_SK)})
        reps = list(dict.fromkeys(rep_ids))
        groups = list(dict.fromkeys(group_ids))
        if reps or groups:  # a decision is coming: it must skip owners Salesforce refused
            routing_keys.append({"pk": to_av(OWNERS_PK), "sk": to_av(UNUSABLE_SK)})
        routing_keys += [self._load_key(r) for r in reps]
        routing_keys += [self._pointer_key(g) for g in groups]
        requests: dict[str, list[dict[str, Any]]] = {}
        if routing_keys:
            requests[self.routing_table] = routing_keys
        if lead_id:
            requests.setdefault(self.leads_table, []).append({"lead_id": to_av(lead_id)})
        got = self._batch_get(requests) if requests else {}
        snap = RoutingSnapshot(lead_item=None, active_version=None)
        for raw in got.get(self.leads_table, []):
            snap.lead_item = from_item(raw)
        for raw in got.get(self.routing_table, []):
            item = from_item(raw) or {}
            pk, sk = item.get("pk", ""), item.get("sk", "")
            if pk == ROSTER_PK and sk == ACTIVE_SK:
                snap.active_version = item.get("version")
            elif pk == OWNERS_PK and sk == UNUSABLE_SK:
                snap.unusable = unusable_reasons(item)
            elif pk.startswith("REP#") and sk == LOAD_SK:
                snap.loads[pk[4:]] = RepLoad(int(item.get("open_leads", 0)), int(item.get("assigned_total", 0)))
            elif pk.startswith("GROUP#") and sk == POINTER_SK:
                gid = pk[6:]
                snap.pointers[gid] = PointerState(
                    gid,
                    int(item.get("seq", 0)),
                    item.get("last_rep_id"),
                    {k: int(v) for k, v in (item.get("scores") or {}).items()},
                )
        return snap

    # ------------------------------------------------------------------------------------ unusable owners

    def unusable_owners(self) -> dict[str, dict[str, Any]]:
        """Owners Salesforce refused: owner id -> ``{"code", "reason", "at", "lead_id"}``."""
        resp = self.ddb.get_item(TableName=self.routing_table,
                                 Key={"pk": to_av(OWNERS_PK), "sk": to_av(UNUSABLE_SK)}, ConsistentRead=True)
        item = from_item(resp.get("Item")) or {}
        return {k: v for k, v in item.items() if k not in ("pk", "sk") and isinstance(v, dict)}

    def mark_unusable(self, owner_id: str, *, code: str, reason: str, now: datetime, lead_id: str | None = None) -> None:
        """Record that Salesforce refused ``owner_id`` as an owner (idempotent: the latest refusal is kept)."""
        value = {"code": code, "reason": reason[:500], "at": iso(now), "lead_id": lead_id}
        self.ddb.update_item(
            TableName=self.routing_table,
            Key={"pk": to_av(OWNERS_PK), "sk": to_av(UNUSABLE_SK)},
            UpdateExpression="SET #o = :v",
            ExpressionAttributeNames={"#o": owner_id},
            ExpressionAttributeValues={":v": to_av({k: v for k, v in value.items() if v is not None})},
        )

    def clear_unusable(self, owner_id: str) -> bool:
        """Make ``owner_id`` eligible again (the admin reactivated the user / fixed the queue). True if it was marked."""
        resp = self.ddb.update_item(
            TableName=self.routing_table,
            Key={"pk": to_av(OWNERS_PK), "sk": to_av(UNUSABLE_SK)},
            UpdateExpression="REMOVE #o",
            ExpressionAttributeNames={"#o": owner_id},
            ReturnValues="UPDATED_OLD",
        )
        return owner_id in (resp.get("Attributes") or {})

    def loads(self, rep_ids: Iterable[str]) -> dict[str, RepLoad]:
        return self.snapshot(lead_id=None, rep_ids=rep_ids, group_ids=(), include_active=False).loads

    def get_lead(self, lead_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.leads_table, Key={"lead_id": to_av(lead_id)}, ConsistentRead=True)
        return from_item(resp.get("Item"))

    # -------------------------------------------------------------------------------------- transactions

    def _counter_op(self, change: CounterChange, now: datetime) -> dict[str, Any]:
        if change.delta > 0 and change.capacity is None:
            # A kept lead: the rep already owns it in Salesforce, so it counts even above capacity.
            return {
                "Update": {
                    "TableName": self.routing_table,
                    "Key": self._load_key(change.rep_id),
                    "UpdateExpression": "ADD open_leads :one SET rep_id = :rid, updated_at = :now",
                    "ExpressionAttributeValues": {
                        ":one": to_av(1),
                        ":rid": to_av(change.rep_id),
                        ":now": to_av(iso(now)),
                    },
                }
            }
        if change.delta > 0:
            return {
                "Update": {
                    "TableName": self.routing_table,
                    "Key": self._load_key(change.rep_id),
                    "UpdateExpression": "ADD open_leads :one, assigned_total :one SET rep_id = :rid, updated_at = :now",
                    "ConditionExpression": "attribute_not_exists(open_leads) OR open_leads < :cap",
                    "ExpressionAttributeValues": {
                        ":one": to_av(1),
                        ":rid": to_av(change.rep_id),
                        ":now": to_av(iso(now)),
                        ":cap": to_av(int(change.capacity or 0)),
                    },
                }
            }
        return {
            "Update": {
                "TableName": self.routing_table,
                "Key": self._load_key(change.rep_id),
                "UpdateExpression": "ADD open_leads :minus SET rep_id = :rid, updated_at = :now",
                "ExpressionAttributeValues": {
                    ":minus": to_av(-1),
                    ":rid": to_av(change.rep_id),
                    ":now": to_av(iso(now)),
                },
            }
        }

    def _pointer_op(self, new: PointerState, conditional: bool = True) -> dict[str, Any]:
        seen = new.seq - 1
        op: dict[str, Any] = {
            "Put": {
                "TableName": self.routing_table,
                "Item": {
                    "pk": to_av(f"GROUP#{new.group_id}"),
                    "sk": to_av(POINTER_SK),
                    "seq": to_av(new.seq),
                    "last_rep_id": to_av(new.last_rep_id),
                    "scores": to_av({k: int(v) for k, v in new.scores.items()}),
                },
                "ConditionExpression": "attribute_not_exists(pk) OR seq = :seen",
                "ExpressionAttributeValues": {":seen": to_av(seen)},
            }
        }
        if not conditional:
            del op["Put"]["ConditionExpression"], op["Put"]["ExpressionAttributeValues"]
        return op

    def transact_lead_change(
        self,
        *,
        lead_id: str,
        set_values: Mapping[str, Any],
        remove: Sequence[str] = (),
        condition: str,
        condition_values: Mapping[str, Any],
        counters: Sequence[CounterChange] = (),
        pointer: PointerState | None = None,
        now: datetime,
        append_previous_owner: str | None = None,
        pointer_conditional: bool = True,
    ) -> None:
        """One TransactWriteItems: the lead update (item 0), then ``counters`` (items 1..), then the pointer.

        The pointer write is conditional on the ``seq`` that was read unless ``pointer_conditional`` is False
        (used after repeated contention: the turn order may then skip a beat, capacities still hold).

        Raises :class:`TransactionCancelled` with one reason per item in that order.
        """
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (attr, value) in enumerate(set_values.items()):
            names[f"#a{i}"] = attr
            if isinstance(value, IfNotExists):
                values[f":v{i}"] = to_av(value.value)
                sets.append(f"#a{i} = if_not_exists(#a{i}, :v{i})")
            else:
                values[f":v{i}"] = to_av(value)
                sets.append(f"#a{i} = :v{i}")
        if append_previous_owner:
            names["#prev"] = "previous_owners"
            values[":prevlist"] = to_av([append_previous_owner])
            values[":emptylist"] = to_av([])
            sets.append("#prev = list_append(if_not_exists(#prev, :emptylist), :prevlist)")
        expr = "SET " + ", ".join(sets)
        if remove:
            for j, attr in enumerate(remove):
                names[f"#r{j}"] = attr
            expr += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
        cond = condition
        for placeholder in ("#status", "#version", "#counted", "#shard", "#owner"):
            if placeholder in cond:
                names[placeholder] = {
                    "#status": "status",
                    "#version": "version",
                    "#counted": "counted_rep_id",
                    "#shard": "reroute_shard",
                    "#owner": "owner_id",
                }[placeholder]
        for k, v in condition_values.items():
            values[k] = to_av(v)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.leads_table,
                    "Key": {"lead_id": to_av(lead_id)},
                    "UpdateExpression": expr,
                    "ConditionExpression": cond,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        items += [self._counter_op(c, now) for c in counters]
        if pointer is not None:
            items.append(self._pointer_op(pointer, pointer_conditional))
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("TransactionCanceledException", "TransactionCancelledException"):
                raise TransactionCancelled(_cancel_reasons(exc, len(items))) from exc
            if code == "TransactionConflictException":
                raise TransactionCancelled(["TransactionConflict"] * len(items)) from exc
            raise

    def count_counted_leads(self) -> dict[str, int]:
        """Leads per ``counted_rep_id`` (a Scan of the leads table, for operators' checks only)."""
        counts: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.leads_table,
            "ProjectionExpression": "counted_rep_id",
            "FilterExpression": "attribute_exists(counted_rep_id)",
        }
        while True:
            resp = self.ddb.scan(**kwargs)
            for raw in resp.get("Items", []):
                rep = (from_item(raw) or {}).get("counted_rep_id")
                if rep:
                    counts[rep] = counts.get(rep, 0) + 1
            if not resp.get("LastEvaluatedKey"):
                return counts
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # ------------------------------------------------------------------------------------------ queries

    def query_due(self, now: datetime, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Leads whose SLA ran out (``reroute_shard = DUE AND sla_due_at <= now``), oldest first.

        Returns (items, items read as reported by DynamoDB ``ScannedCount``). Never a Scan.
        """
        items: list[dict[str, Any]] = []
        read = 0
        kwargs: dict[str, Any] = {
            "TableName": self.leads_table,
            "IndexName": REROUTE_INDEX,
            "KeyConditionExpression": "reroute_shard = :due AND sla_due_at <= :now",
            "ExpressionAttributeValues": {":due": to_av(REROUTE_SHARD), ":now": to_av(epoch(now))},
        }
        while len(items) < limit:
            kwargs["Limit"] = limit - len(items)
            resp = self.ddb.query(**kwargs)
            read += int(resp.get("ScannedCount", resp.get("Count", 0)))
            items.extend(from_item(i) or {} for i in resp.get("Items", []))
            last = resp.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        # A KEYS_ONLY / INCLUDE projection may lack what re-routing needs: read those leads fully.
        # ("lead" is on every full item; counted_rep_id may be legitimately absent, so it cannot be the test.)
        missing = [i["lead_id"] for i in items if "lead" not in i or "version" not in i]
        if missing:
            got = self._batch_get({self.leads_table: [{"lead_id": to_av(x)} for x in missing]})
            full = {it["lead_id"]: it for it in (from_item(r) or {} for r in got.get(self.leads_table, []))}
            items = [full.get(i["lead_id"], i) if i["lead_id"] in full else i for i in items]
        return items, read




def unusable_reasons(item: Mapping[str, Any]) -> dict[str, str]:
    """``OWNERS/UNUSABLE`` item -> owner id -> a one-line reason for the decision trail."""
    out: dict[str, str] = {}
    for key, value in item.items():
        if key in ("pk", "sk") or not isinstance(value, dict):
            continue
        out[key] = f"refused by Salesforce ({value.get('code')}) {value.get('at', '')}".strip()
    return out


def routing_store_for(settings: Any, *, with_roster: bool = True) -> RoutingStore:
    """The RoutingStore of a function's settings, on the container's shared clients.

    ``with_roster=False`` for callers that only release counters (intake's lifecycle) and so never read the
    compiled roster from S3.
    """
    from territory_router.adapters import aws

    if not with_roster:
        return RoutingStore(aws.client("dynamodb"), settings.leads_table, settings.routing_table)
    return RoutingStore(
        aws.client("dynamodb"),
        settings.leads_table,
        settings.routing_table,
        s3_client=aws.client("s3"),
        bucket=settings.territory_bucket,
    )
