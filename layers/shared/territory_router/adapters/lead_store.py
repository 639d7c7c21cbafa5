"""The lead routing store on DynamoDB: ``LeadsTable`` + the counters, pointers and refused owners of ``RoutingTable``.

Implements :class:`territory_router.assignment.ports.LeadRoutingStore`; this module is the only place that knows
the condition expressions of a lead's changes and DynamoDB's cancellation codes.

Every change of a lead is ONE ``TransactWriteItems``: the lead item (item 0: conditional on its ``version`` and the
intent's guard), the rep counters it touches (``ADD open_leads``, an increment conditional on
``open_leads < capacity``) and the group pointer (conditional on the ``seq`` that was read). The cancellation
reasons, one per item in that order, become the port's errors: a failed lead condition :class:`LeadChanged`, a
counter :class:`RepFull`, the pointer :class:`PointerMoved`, anything else (``TransactionConflict``)
:class:`WriteConflict`.

Items written here (besides the lead attributes of docs/architecture.md):

- ``REP#<id>/LOAD``: ``open_leads``, ``assigned_total``, ``rep_id``, ``updated_at``.
- ``GROUP#<id>/POINTER``: ``seq`` (N), ``last_rep_id``, ``scores`` (map rep id -> N, weighted round robin).
- ``OWNERS/UNUSABLE``: one attribute per owner (user or queue id) Salesforce refused as an owner, a map
  ``code``, ``reason``, ``at``, ``lead_id``; eligibility skips them until ``clear_unusable`` (``reps usable``).
- Lead item: ``reroute_shard = "DUE"`` while the lead waits for the SLA re-route (the sparse ``RerouteDueIndex``),
  ``strategy``, ``fallback`` (BOOL), ``tag_note``, ``released_at``, ``release_reason``, ``rerouted_at``,
  ``escalated_at``, ``sla_minutes``, ``arrived_owner_id`` (the owner the lead was created with, for the earlier
  owners of a re-route re-read once the PII left the hot item).
- Lead detail item ``<id>#detail`` (``adapters/lead_detail.py``): the lead's PII and the decision trail, zlib
  compressed, Put in the transaction of every change that makes a decision (never by a release); the hot item's
  ``lead`` is removed by the same change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import ValidationError

from territory_router.adapters.dynamo import batch_get, from_item, to_attr
from territory_router.adapters.lead_detail import detail_key, detail_put, merged
from territory_router.adapters.roster_store import ACTIVE_KEY, ACTIVE_SK, ROSTER_PK, RosterStore
from territory_router.assignment.eligibility import RepLoad
from territory_router.assignment.ports import (
    CounterMove,
    DueLeads,
    LeadChanged,
    LeadRecord,
    OwnerChange,
    PointerMoved,
    RepFull,
    RoutingSnapshot,
    WriteConflict,
    counter_moves,
)
from territory_router.assignment.records import detail_of, epoch, iso, parse_iso
from territory_router.assignment.roster import Roster
from territory_router.assignment.strategies import PointerState
from territory_router.domain.leads import Lead, LeadStatus, TagResult
from territory_router.domain.messages import REASON_GEOCODED, LeadAssignedDetail

REROUTE_SHARD = "DUE"
REROUTE_INDEX = "RerouteDueIndex"
LOAD_SK = "LOAD"
POINTER_SK = "POINTER"
OWNERS_PK = "OWNERS"
UNUSABLE_SK = "UNUSABLE"

_ASSIGNABLE = (LeadStatus.RECEIVED, LeadStatus.TAGGED)
_WAITING = (LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER)


# ----------------------------------------------------------------------------------------- item <-> record


def _status(value: Any) -> LeadStatus | None:
    try:
        return LeadStatus(value) if value else None
    except ValueError:
        return None


def _lead(item: Mapping[str, Any]) -> Lead | None:
    data = item.get("lead")
    if not isinstance(data, Mapping):
        return None
    try:
        return Lead.model_validate({"lead_id": item["lead_id"], **data})
    except ValidationError:
        return Lead(lead_id=item["lead_id"])


def record_from_item(item: Mapping[str, Any]) -> LeadRecord:
    """A ``LeadsTable`` item (plain values) as the port's :class:`LeadRecord`."""
    due = item.get("sla_due_at")
    version = item.get("version")
    minutes = item.get("sla_minutes")
    return LeadRecord(
        lead_id=item["lead_id"],
        status=_status(item.get("status")),
        version=int(version) if version is not None else None,
        org_id=item.get("org_id"),
        lead=_lead(item),
        territory_id=item.get("territory_id"),
        territory_name=item.get("territory_name"),
        tag_method=item.get("tag_method"),
        tag_precision=item.get("tag_precision") or None,
        tag_note=item.get("tag_note"),
        source_event_id=item.get("source_event_id"),
        owner_id=item.get("owner_id"),
        owner_kind=item.get("owner_kind"),
        owner_name=item.get("owner_name"),
        group_id=item.get("group_id"),
        strategy=item.get("strategy"),
        fallback=bool(item.get("fallback")),
        kept_owner=bool(item.get("kept_owner")),
        counted_rep_id=item.get("counted_rep_id"),
        waiting=item.get("reroute_shard") == REROUTE_SHARD,
        sla_due_at=datetime.fromtimestamp(int(due), UTC) if due is not None else None,
        sla_minutes=int(minutes) if minutes else None,
        assigned_at=parse_iso(item.get("assigned_at")),
        reroute_count=int(item.get("reroute_count") or 0),
        previous_owners=tuple(item.get("previous_owners") or ()),
        reroute_reason=item.get("reroute_reason"),
        trail=dict(item.get("decision") or {}),
    )


def detail_from_item(item: Mapping[str, Any]) -> LeadAssignedDetail:
    """The event detail of the lead's current assignment, rebuilt from its stored item."""
    return detail_of(record_from_item(item))


def unusable_reasons(item: Mapping[str, Any]) -> dict[str, str]:
    """``OWNERS/UNUSABLE`` item -> owner id -> a one-line reason for the decision trail."""
    out: dict[str, str] = {}
    for key, value in item.items():
        if key in ("pk", "sk") or not isinstance(value, dict):
            continue
        out[key] = f"refused by Salesforce ({value.get('code')}) {value.get('at', '')}".strip()
    return out


# ------------------------------------------------------------------------------------------ expressions


class _LeadUpdate:
    """The lead item's ``Update`` of a transaction: SET/REMOVE clauses and the condition, with placeholders."""

    def __init__(self, seen: LeadRecord | None, now: datetime) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.conditions: list[str] = []
        self.detail: tuple[Mapping[str, Any] | None, Mapping[str, Any]] | None = None  # (lead, trail) to Put
        # with the tag note (the last ``stamp``'s) and the source event id: ``cold_fields`` (lead_detail.COLD_FIELDS)
        self.seen = seen
        self.tag_note: str | None = seen.tag_note if seen is not None else None
        self.set("version", (seen.version or 0) + 1 if seen is not None else 1)
        self.set("updated_at", iso(now))

    def _name(self, attr: str) -> str:
        key = f"#n{len(self.names)}"
        self.names[key] = attr
        return key

    def _value(self, value: Any) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = to_attr(value)
        return key

    def set(self, attr: str, value: Any) -> None:
        self.sets.append(f"{self._name(attr)} = {self._value(value)}")

    def set_if_absent(self, attr: str, value: Any) -> None:
        name = self._name(attr)
        self.sets.append(f"{name} = if_not_exists({name}, {self._value(value)})")

    def set_given(self, attr: str, value: Any) -> None:
        """SET when ``value`` is not None, else leave the attribute as it is."""
        if value is not None:
            self.set(attr, value)

    def set_or_remove(self, attr: str, value: Any) -> None:
        if value is None:
            self.remove(attr)
        else:
            self.set(attr, value)

    def remove(self, *attrs: str) -> None:
        self.removes += [self._name(a) for a in attrs]

    def append(self, attr: str, value: Any) -> None:
        name = self._name(attr)
        self.sets.append(f"{name} = list_append(if_not_exists({name}, {self._value([])}), {self._value([value])})")

    def require(self, attr: str, value: Any) -> None:
        if value is None:
            self.conditions.append(f"attribute_not_exists({self._name(attr)})")
        else:
            self.conditions.append(f"{self._name(attr)} = {self._value(value)}")

    def require_in(self, attr: str, options: Iterable[Any]) -> None:
        self.conditions.append(f"{self._name(attr)} IN ({', '.join(self._value(o) for o in options)})")

    def require_seen(self, seen: LeadRecord) -> None:
        """The lead is at the version that was read."""
        self.require("version", seen.version)

    def op(self, table: str, lead_id: str) -> dict[str, Any]:
        expr = "SET " + ", ".join(self.sets)
        if self.removes:
            expr += " REMOVE " + ", ".join(self.removes)
        return {
            "Update": {
                "TableName": table,
                "Key": {"lead_id": to_attr(lead_id)},
                "UpdateExpression": expr,
                "ConditionExpression": " AND ".join(self.conditions),
                "ExpressionAttributeNames": self.names,
                "ExpressionAttributeValues": self.values,
            }
        }

    def cold(self, lead: Lead | Mapping[str, Any] | None, trail: Mapping[str, Any]) -> None:
        """Write the detail item (PII + trail) in the same transaction; the hot item drops its ``lead``."""
        data = lead.model_dump(mode="json", exclude_none=True, exclude_defaults=True) if isinstance(lead, Lead) else lead
        self.detail = (data, dict(trail))
        self.remove("lead", "decision", "tag_note", "source_event_id")  # "decision": items from before the detail

    def cold_fields(self) -> dict[str, Any]:
        source = self.seen.source_event_id if self.seen is not None else None
        return {"tag_note": self.tag_note, "source_event_id": source}

    def stamp(self, tag: TagResult) -> None:
        self.set("tag_method", tag.method.value)
        self.set("tag_precision", tag.precision.value)
        self.tag_note = tag.note  # to the detail item: every change that stamps also writes it (``cold``)

    def owner(self, owner: OwnerChange, *, replace: bool) -> None:
        """The owner's attributes; ``replace``: clear the optional ones the new owner lacks (else leave them)."""
        self.set("owner_id", owner.owner_id)
        self.set("owner_kind", owner.owner_kind)
        self.set("fallback", owner.fallback)
        for attr, value in (("owner_name", owner.owner_name), ("group_id", owner.group_id),
                            ("strategy", owner.strategy)):
            (self.set_or_remove if replace else self.set_given)(attr, value)
        self.set_given("sla_due_at", epoch(owner.sla_due_at) if owner.sla_due_at else None)
        self.set_given("sla_minutes", owner.sla_minutes)
        if owner.counted_rep_id is not None:
            self.set("counted_rep_id", owner.counted_rep_id)
        elif replace:
            self.remove("counted_rep_id")
        if owner.counted_rep_id is not None and owner.sla_due_at is not None:
            self.set("reroute_shard", REROUTE_SHARD)
        else:
            self.remove("reroute_shard")


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


# ----------------------------------------------------------------------------------------------- store


class DynamoLeadStore:
    """:class:`~territory_router.assignment.ports.LeadRoutingStore` on ``LeadsTable`` + ``RoutingTable``."""

    def __init__(self, dynamodb_client: Any, leads_table: str, routing_table: str, rosters: RosterStore) -> None:
        self.ddb = dynamodb_client
        self.leads_table = leads_table
        self.routing_table = routing_table
        self.rosters = rosters

    @classmethod
    def on_tables(cls, dynamodb_client: Any, leads_table: str, routing_table: str, *, s3_client: Any = None,
                  bucket: str | None = None) -> DynamoLeadStore:
        """The store and its roster store on these tables (the compiled roster in ``bucket`` when given)."""
        return cls(dynamodb_client, leads_table, routing_table,
                   RosterStore(dynamodb_client, routing_table, s3_client=s3_client, bucket=bucket))

    # -------------------------------------------------------------------------------------------- roster

    def cached_roster(self) -> Roster | None:
        return self.rosters.cached_roster()

    def active_roster(self, *, refresh: bool = False) -> Roster:
        return self.rosters.active_roster(refresh=refresh)

    def active_roster_or_none(self, *, refresh: bool = True) -> Roster | None:
        return self.rosters.active_roster_or_none(refresh=refresh)

    # --------------------------------------------------------------------------------------------- reads

    @staticmethod
    def _load_key(rep_id: str) -> dict[str, Any]:
        return {"pk": to_attr(f"REP#{rep_id}"), "sk": to_attr(LOAD_SK)}

    @staticmethod
    def _pointer_key(group_id: str) -> dict[str, Any]:
        return {"pk": to_attr(f"GROUP#{group_id}"), "sk": to_attr(POINTER_SK)}

    def snapshot(
        self,
        *,
        lead_id: str | None,
        rep_ids: Iterable[str],
        group_ids: Iterable[str],
        include_active: bool = True,
    ) -> RoutingSnapshot:
        """One BatchGetItem: the lead's hot and detail items, ``ROSTER/ACTIVE``, ``OWNERS/UNUSABLE``, the pointers and
        the counters."""
        routing_keys: list[dict[str, Any]] = []
        if include_active:
            routing_keys.append(ACTIVE_KEY)
        reps = list(dict.fromkeys(rep_ids))
        groups = list(dict.fromkeys(group_ids))
        if reps or groups:  # a decision is coming: it must skip owners Salesforce refused
            routing_keys.append({"pk": to_attr(OWNERS_PK), "sk": to_attr(UNUSABLE_SK)})
        routing_keys += [self._load_key(r) for r in reps]
        routing_keys += [self._pointer_key(g) for g in groups]
        requests: dict[str, list[dict[str, Any]]] = {}
        if routing_keys:
            requests[self.routing_table] = routing_keys
        if lead_id:
            requests.setdefault(self.leads_table, []).extend(
                [{"lead_id": to_attr(lead_id)}, {"lead_id": to_attr(detail_key(lead_id))}])
        got = batch_get(self.ddb, requests) if requests else {}
        lead = None
        if lead_id:
            found = {i.get("lead_id"): i for i in (from_item(raw) or {} for raw in got.get(self.leads_table, []))}
            if lead_id in found:
                lead = record_from_item(merged(found[lead_id], found.get(detail_key(lead_id))))
        active_version = None
        loads: dict[str, RepLoad] = {}
        pointers: dict[str, PointerState] = {}
        unusable: dict[str, str] = {}
        for raw in got.get(self.routing_table, []):
            item = from_item(raw) or {}
            pk, sk = item.get("pk", ""), item.get("sk", "")
            if pk == ROSTER_PK and sk == ACTIVE_SK:
                active_version = item.get("version")
            elif pk == OWNERS_PK and sk == UNUSABLE_SK:
                unusable = unusable_reasons(item)
            elif pk.startswith("REP#") and sk == LOAD_SK:
                loads[pk[4:]] = RepLoad(int(item.get("open_leads", 0)), int(item.get("assigned_total", 0)))
            elif pk.startswith("GROUP#") and sk == POINTER_SK:
                gid = pk[6:]
                pointers[gid] = PointerState(
                    gid,
                    int(item.get("seq", 0)),
                    item.get("last_rep_id"),
                    {k: int(v) for k, v in (item.get("scores") or {}).items()},
                )
        return RoutingSnapshot(lead, active_version, loads, pointers, unusable)

    def loads(self, rep_ids: Iterable[str]) -> dict[str, RepLoad]:
        return self.snapshot(lead_id=None, rep_ids=rep_ids, group_ids=(), include_active=False).loads

    def get_lead(self, lead_id: str) -> dict[str, Any] | None:
        """The lead (plain values: the hot item with ``lead`` and ``decision`` from its detail item), or None: for
        operators and tests of this layout."""
        from territory_router.adapters.lead_detail import read_full

        return read_full(self.ddb, self.leads_table, lead_id)

    def lead(self, lead_id: str) -> LeadRecord | None:
        item = self.get_lead(lead_id)
        return record_from_item(item) if item else None

    def due(self, now: datetime, limit: int) -> DueLeads:
        """A Query of ``RerouteDueIndex`` (``reroute_shard = DUE AND sla_due_at <= now``), never a Scan.

        ``items_read`` is DynamoDB's ``ScannedCount``.
        """
        items: list[dict[str, Any]] = []
        read = 0
        kwargs: dict[str, Any] = {
            "TableName": self.leads_table,
            "IndexName": REROUTE_INDEX,
            "KeyConditionExpression": "reroute_shard = :due AND sla_due_at <= :now",
            "ExpressionAttributeValues": {":due": to_attr(REROUTE_SHARD), ":now": to_attr(epoch(now))},
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
        # The index projects its keys only (template.yaml): re-routing reads the due leads' hot and detail items.
        if items:
            keys = [k for i in items for k in ({"lead_id": to_attr(i["lead_id"])},
                                               {"lead_id": to_attr(detail_key(i["lead_id"]))})]
            got = batch_get(self.ddb, {self.leads_table: keys})
            full = {it["lead_id"]: it for it in (from_item(r) or {} for r in got.get(self.leads_table, []))}
            items = [merged(full[i["lead_id"]], full.get(detail_key(i["lead_id"]))) if i["lead_id"] in full else i
                     for i in items]
        return DueLeads([record_from_item(i) for i in items], read)

    def unusable_owners(self) -> dict[str, dict[str, Any]]:
        resp = self.ddb.get_item(TableName=self.routing_table,
                                 Key={"pk": to_attr(OWNERS_PK), "sk": to_attr(UNUSABLE_SK)}, ConsistentRead=True)
        item = from_item(resp.get("Item")) or {}
        return {k: v for k, v in item.items() if k not in ("pk", "sk") and isinstance(v, dict)}

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

    # ------------------------------------------------------------------------------------ refused owners

    def mark_unusable(self, owner_id: str, *, code: str, reason: str, now: datetime, lead_id: str | None = None) -> None:
        value = {"code": code, "reason": reason[:500], "at": iso(now), "lead_id": lead_id}
        self.ddb.update_item(
            TableName=self.routing_table,
            Key={"pk": to_attr(OWNERS_PK), "sk": to_attr(UNUSABLE_SK)},
            UpdateExpression="SET #o = :v",
            ExpressionAttributeNames={"#o": owner_id},
            ExpressionAttributeValues={":v": to_attr({k: v for k, v in value.items() if v is not None})},
        )

    def clear_unusable(self, owner_id: str) -> bool:
        resp = self.ddb.update_item(
            TableName=self.routing_table,
            Key={"pk": to_attr(OWNERS_PK), "sk": to_attr(UNUSABLE_SK)},
            UpdateExpression="REMOVE #o",
            ExpressionAttributeNames={"#o": owner_id},
            ReturnValues="UPDATED_OLD",
        )
        return owner_id in (resp.get("Attributes") or {})

    # ---------------------------------------------------------------------------------- changes of a lead

    def assign(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        self._first(seen, lead, tag, owner, now=now, status=LeadStatus.ASSIGNED)

    def keep(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime) -> None:
        # counted without a cap and no turn taken: the rep owns the lead already
        self._first(seen, lead, tag, replace(owner, capacity=None, pointer=None), now=now, status=LeadStatus.KEPT_OWNER)

    def _first(self, seen: LeadRecord | None, lead: Lead, tag: TagResult, owner: OwnerChange, *, now: datetime,
               status: LeadStatus) -> None:
        u = _LeadUpdate(seen, now)
        if seen is None:
            u.require("lead_id", None)  # a lead intake has not recorded yet
        else:
            u.require_seen(seen)
            u.require_in("status", [s.value for s in _ASSIGNABLE])
        u.set("status", status.value)
        u.set("assigned_at", iso(now))
        u.owner(owner, replace=False)
        if status is LeadStatus.KEPT_OWNER:
            u.set("kept_owner", True)
        u.stamp(tag)
        for attr, value in (("territory_id", tag.territory_id), ("territory_name", tag.territory_name),
                            ("org_id", lead.org_id)):
            u.set_given(attr, value)
        u.set_if_absent("reroute_count", 0)
        kept = seen.lead if seen is not None and seen.lead is not None else lead  # the lead intake recorded
        u.cold(kept, owner.trail)
        u.set_given("arrived_owner_id", kept.owner_id)  # earlier owners (re-route re-read) without the PII
        u.set_if_absent("received_at", iso(now))
        counters = [CounterMove(owner.counted_rep_id, +1, owner.capacity)] if owner.counted_rep_id else []
        self._transact(lead.lead_id, u, counters, owner.pointer, now)

    def release(self, seen: LeadRecord, status: LeadStatus | None, *, reason: str, now: datetime) -> None:
        u = _LeadUpdate(seen, now)
        u.require_seen(seen)
        u.require("counted_rep_id", seen.counted_rep_id)
        u.set("released_at", iso(now))
        u.set("release_reason", reason)
        u.set_given("status", status.value if status is not None else None)
        u.remove("reroute_shard")
        counters: list[CounterMove] = []
        if seen.counted_rep_id is not None:
            u.remove("counted_rep_id")
            counters.append(CounterMove(seen.counted_rep_id, -1))
        self._transact(seen.lead_id, u, counters, None, now)

    def _reassign(self, seen: LeadRecord, owner: OwnerChange, now: datetime) -> _LeadUpdate:
        u = _LeadUpdate(seen, now)
        u.require_seen(seen)
        u.set("status", LeadStatus.ASSIGNED.value)
        u.set("rerouted_at", iso(now))
        u.set("assigned_at", iso(now))
        u.owner(owner, replace=True)
        u.remove("kept_owner")  # from now on the owner is ours: the writeback sets OwnerId
        u.cold(seen.lead, owner.trail)
        if seen.owner_id and seen.owner_id != owner.owner_id:
            u.append("previous_owners", seen.owner_id)
        return u

    def reroute(self, seen: LeadRecord, owner: OwnerChange, *, reroute_count: int, now: datetime) -> None:
        u = self._reassign(seen, owner, now)
        self._require_waiting(u)
        u.set("reroute_count", reroute_count)
        self._transact(seen.lead_id, u, counter_moves(seen, owner), owner.pointer, now)

    def move(self, seen: LeadRecord, owner: OwnerChange, tag: TagResult, *, now: datetime) -> None:
        u = self._reassign(seen, owner, now)
        u.require("status", LeadStatus.ASSIGNED.value)
        u.set("reroute_count", seen.reroute_count)
        u.stamp(tag)
        u.set_or_remove("territory_id", tag.territory_id)
        u.set_or_remove("territory_name", tag.territory_name)
        u.set("reroute_reason", REASON_GEOCODED)
        self._transact(seen.lead_id, u, counter_moves(seen, owner), owner.pointer, now)

    def escalate(self, seen: LeadRecord, owner: OwnerChange, *, now: datetime) -> None:
        u = _LeadUpdate(seen, now)
        u.require_seen(seen)
        self._require_waiting(u)
        u.set("status", LeadStatus.ESCALATED.value)
        u.set("escalated_at", iso(now))
        u.set("assigned_at", iso(now))
        u.set("owner_id", owner.owner_id)
        u.set("owner_kind", owner.owner_kind)
        u.set("fallback", False)
        u.cold(seen.lead, owner.trail)
        u.set_or_remove("owner_name", owner.owner_name)
        u.remove("reroute_shard", "counted_rep_id", "kept_owner")
        if seen.owner_id:
            u.append("previous_owners", seen.owner_id)
        counters = [CounterMove(seen.counted_rep_id, -1)] if seen.counted_rep_id else []
        self._transact(seen.lead_id, u, counters, None, now)

    def replace_refused_owner(self, seen: LeadRecord, refused: str, owner: OwnerChange, *, now: datetime) -> None:
        u = _LeadUpdate(seen, now)
        u.require_seen(seen)
        u.require("owner_id", refused)
        u.set("assigned_at", iso(now))
        u.owner(owner, replace=True)
        u.cold(seen.lead, owner.trail)
        u.append("previous_owners", refused)
        self._transact(seen.lead_id, u, counter_moves(seen, owner), owner.pointer, now)

    def refine_stamp(self, seen: LeadRecord, tag: TagResult, trail: Mapping[str, Any], *, now: datetime) -> None:
        u = _LeadUpdate(seen, now)
        u.require_seen(seen)
        u.require("status", seen.status.value if seen.status is not None else None)
        u.stamp(tag)
        u.set_or_remove("territory_id", tag.territory_id)
        u.set_or_remove("territory_name", tag.territory_name)
        u.cold(seen.lead, trail)
        self._transact(seen.lead_id, u, [], None, now)

    @staticmethod
    def _require_waiting(u: _LeadUpdate) -> None:
        """Guard of the SLA run: still assigned (or kept in a group that re-routes kept leads) and listed as due."""
        u.require_in("status", [s.value for s in _WAITING])
        u.require("reroute_shard", REROUTE_SHARD)

    # ------------------------------------------------------------------------------------ transactions

    def _counter_op(self, change: CounterMove, now: datetime) -> dict[str, Any]:
        values = {":d": to_attr(change.delta), ":rid": to_attr(change.rep_id), ":now": to_attr(iso(now))}
        update: dict[str, Any] = {
            "TableName": self.routing_table,
            "Key": self._load_key(change.rep_id),
            "UpdateExpression": "ADD open_leads :d SET rep_id = :rid, updated_at = :now",
            "ExpressionAttributeValues": values,
        }
        if change.delta > 0 and change.capacity is not None:
            # A new assignment, within capacity. (A kept lead has no cap: the rep owns it already in Salesforce.)
            update["UpdateExpression"] = "ADD open_leads :d, assigned_total :d SET rep_id = :rid, updated_at = :now"
            update["ConditionExpression"] = "attribute_not_exists(open_leads) OR open_leads < :cap"
            values[":cap"] = to_attr(int(change.capacity))
        return {"Update": update}

    def _pointer_op(self, new: PointerState) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.routing_table,
                "Item": {
                    "pk": to_attr(f"GROUP#{new.group_id}"),
                    "sk": to_attr(POINTER_SK),
                    "seq": to_attr(new.seq),
                    "last_rep_id": to_attr(new.last_rep_id),
                    "scores": to_attr({k: int(v) for k, v in new.scores.items()}),
                },
                "ConditionExpression": "attribute_not_exists(pk) OR seq = :seen",
                "ExpressionAttributeValues": {":seen": to_attr(new.seq - 1)},
            }
        }

    def _transact(self, lead_id: str, lead: _LeadUpdate, counters: list[CounterMove], pointer: PointerState | None,
                  now: datetime) -> None:
        """One TransactWriteItems: the lead (item 0), its detail item (PII + trail, when the change writes it), the
        counters, then the pointer; cancellations become the port's errors (lead first, then a counter, then the
        pointer, else a conflict)."""
        items = [lead.op(self.leads_table, lead_id)]
        if lead.detail is not None:
            items.append(detail_put(self.leads_table, lead_id, *lead.detail, lead.cold_fields()))
        first_counter = len(items)
        items += [self._counter_op(c, now) for c in counters]
        if pointer is not None:
            items.append(self._pointer_op(pointer))
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "TransactionConflictException":
                raise WriteConflict(f"lead {lead_id}: {code}") from exc
            if code not in ("TransactionCanceledException", "TransactionCancelledException"):
                raise
            reasons = _cancel_reasons(exc, len(items))
            if reasons[0] is not None and reasons[0] != "TransactionConflict":
                raise LeadChanged(lead_id) from exc
            for change, reason in zip(counters, reasons[first_counter:], strict=False):
                if reason == "ConditionalCheckFailed":
                    raise RepFull(change.rep_id) from exc
            if pointer is not None and reasons[-1] == "ConditionalCheckFailed":
                raise PointerMoved(pointer.group_id) from exc
            raise WriteConflict(f"lead {lead_id}: transaction cancelled {reasons}") from exc


class StoreSettings(Protocol):
    """What the store needs of a function's settings."""

    leads_table: str
    routing_table: str
    territory_bucket: str


def lead_store_for(settings: StoreSettings, *, with_roster: bool = True) -> DynamoLeadStore:
    """The lead store of a function's settings, on the container's shared clients.

    ``with_roster=False`` for callers that only release counters and so never read the compiled roster from S3.
    """
    from territory_router.adapters import aws

    if not with_roster:
        return DynamoLeadStore.on_tables(aws.client("dynamodb"), settings.leads_table, settings.routing_table)
    return DynamoLeadStore.on_tables(aws.client("dynamodb"), settings.leads_table, settings.routing_table,
                                     s3_client=aws.client("s3"), bucket=settings.territory_bucket)
