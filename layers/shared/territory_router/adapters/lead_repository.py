"""The lead records in ``LeadsTable`` (schema: docs/architecture.md). Every write is conditional."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from territory_router.adapters.dynamo import batch_get, from_item, to_attr, to_item
from territory_router.assignment.records import iso
from territory_router.domain.leads import Lead, LeadStatus, TagResult


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _written(write: Callable[..., Any], **request: Any) -> bool:
    """Make a conditional write: True when it was made, False when its condition did not hold (other errors raise)."""
    try:
        write(**request)
    except ClientError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


class LeadRepository:
    def __init__(self, dynamodb_client, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def create_received(self, lead: Lead, *, received_at: datetime, source_event_id: str | None) -> bool:
        """Record a new lead. Returns False when the lead is already known (an at-least-once duplicate)."""
        item = to_item(
            {
                "lead_id": lead.lead_id,
                "org_id": lead.org_id,
                "status": LeadStatus.RECEIVED.value,
                "version": 1,
                "received_at": iso(received_at),  # whole seconds, "Z": 20 bytes instead of 32 on every lead
                "updated_at": iso(received_at),
                "source_event_id": source_event_id,
                "lead": lead.model_dump(mode="json", exclude_none=True),
                "reroute_count": 0,
            }
        )
        return _written(
            self._ddb.put_item, TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(lead_id)"
        )

    def get(self, lead_id: str, *, consistent: bool = True) -> dict[str, Any] | None:
        resp = self._ddb.get_item(
            TableName=self._table, Key={"lead_id": {"S": lead_id}}, ConsistentRead=consistent
        )
        return from_item(resp.get("Item"))

    def get_full(self, lead_id: str) -> dict[str, Any] | None:
        """The lead with its PII (``lead``) and decision trail (``decision``) from its detail item once assigned
        (``adapters/lead_detail.py``): one strongly consistent BatchGetItem of both items."""
        from territory_router.adapters.lead_detail import read_full

        return read_full(self._ddb, self._table, lead_id)

    def known_ids(self, lead_ids: list[str]) -> set[str]:
        """The ids among ``lead_ids`` (18-character) that have a lead record: BatchGetItem of the key only."""
        keys = [{"lead_id": {"S": i}} for i in dict.fromkeys(lead_ids)]
        found = batch_get(self._ddb, {self._table: keys}, projection="lead_id") if keys else {}
        return {item["lead_id"]["S"] for item in found.get(self._table, [])}

    def mark_tagged(self, lead_id: str, tag: TagResult, *, now: datetime) -> bool:
        """Stamp the territory. Only a RECEIVED lead moves to TAGGED; a redelivered message changes nothing."""
        values = {
            ":received": to_attr(LeadStatus.RECEIVED.value),
            ":tagged": to_attr(LeadStatus.TAGGED.value),
            ":method": to_attr(tag.method.value),
            ":precision": to_attr(tag.precision.value),
            ":note": to_attr(tag.note or ""),
            ":now": to_attr(iso(now)),
            ":one": to_attr(1),
        }
        sets = ["#s = :tagged", "tag_method = :method", "tag_precision = :precision", "tag_note = :note",
                "updated_at = :now", "version = version + :one"]  # fmt: skip
        removes = []
        if tag.territory_id is not None:
            sets.append("territory_id = :tid")
            values[":tid"] = to_attr(tag.territory_id)
        else:
            removes.append("territory_id")
        if tag.territory_name is not None:
            sets.append("territory_name = :tname")
            values[":tname"] = to_attr(tag.territory_name)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return _written(
            self._ddb.update_item,
            TableName=self._table,
            Key={"lead_id": {"S": lead_id}},
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(lead_id) AND #s = :received",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )

    def update_location(self, lead: Lead, *, at: datetime, now: datetime) -> bool:
        """Store the lead with its new location (a late geocode). ``at`` (the change's commit time) guards against
        an older change delivered after a newer one: False when a later location is already recorded. The same
        change applied twice writes the same values (a retry is harmless)."""
        return _written(
            self._ddb.update_item,
            TableName=self._table,
            Key={"lead_id": {"S": lead.lead_id}},
            UpdateExpression="SET #l = :lead, location_at = :at, updated_at = :now, version = version + :one",
            ConditionExpression="attribute_exists(lead_id) AND (attribute_not_exists(location_at) OR location_at <= :at)",
            ExpressionAttributeNames={"#l": "lead"},
            ExpressionAttributeValues={
                ":lead": to_attr(lead.model_dump(mode="json", exclude_none=True)),
                ":at": to_attr(at.isoformat()),
                ":now": to_attr(now.isoformat()),
                ":one": to_attr(1),
            },
        )

    def reopen_deleted(self, lead: Lead, *, now: datetime, source_event_id: str | None) -> bool:
        """An UNDELETE brings a DELETED lead back to RECEIVED so it is routed again."""
        return _written(
            self._ddb.update_item,
            TableName=self._table,
            Key={"lead_id": {"S": lead.lead_id}},
            UpdateExpression=(
                "SET #s = :received, updated_at = :now, version = version + :one, #l = :lead, "
                "source_event_id = :eid REMOVE owner_id, owner_kind, territory_id, territory_name"
            ),
            ConditionExpression="#s = :deleted",
            ExpressionAttributeNames={"#s": "status", "#l": "lead"},
            ExpressionAttributeValues={
                ":received": to_attr(LeadStatus.RECEIVED.value),
                ":deleted": to_attr(LeadStatus.DELETED.value),
                ":now": to_attr(now.isoformat()),
                ":one": to_attr(1),
                ":lead": to_attr(lead.model_dump(mode="json", exclude_none=True)),
                ":eid": to_attr(source_event_id or ""),
            },
        )


WRITEBACK_MARK = "wb"  # the writeback's one attribute on the hot item: "<assignment key>|<message tag>"
_LEGACY_MARKS = ("writeback_claim", "writeback_claimed_at", "writeback_done", "writeback_failed")


def message_tag(message_id: str) -> str:
    """The part of an SQS message id the mark keeps: enough to tell the message's own redelivery from another
    message of the same decision (a collision costs one repeated, identical Salesforce update, nothing more)."""
    return message_id.replace("-", "")[:8]


class WritebackLedger:
    """One conditional write per decision written back: the mark ``wb = "<key>|<message>"`` on the lead's hot item.

    ``claim`` writes the mark before Salesforce is called, only while the lead still has the decision's owner, and
    only when no other message holds the same key: a second message of the same decision (a re-announcement, or a
    copy racing it in another container) is skipped. The message that wrote the mark may always write it again:
    its redelivery after a crash or a deferral (SQS keeps the message id), or botocore's retry of a claim whose
    answer was lost, writes the same decision again (an identical update). A message redriven from the DLQ
    (``takeover``) takes the mark over. On success nothing more is written: the mark is the record. Only a refusal
    writes again (``refused``): it records the error and frees the key, so a redrive after the fix writes it.
    See docs/reliability.md, "One write per writeback".
    """

    def __init__(self, dynamodb_client, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def claim(self, lead_id: str, key: str, *, message_id: str, owner_id: str | None = None,
              takeover: bool = False) -> bool:
        """Mark the writeback of assignment ``key`` by ``message_id``. With ``owner_id``, only while the lead still
        has that owner: an old ``LeadAssigned`` delivered after a ``LeadRerouted`` (Salesforce down longer than the
        SLA) must not put the previous owner back."""
        mine = f"{key}|{message_tag(message_id)}"
        condition = "attribute_exists(lead_id)"
        values: dict[str, Any] = {":m": {"S": mine}}
        if not takeover:
            condition += " AND (attribute_not_exists(#wb) OR #wb = :m OR NOT begins_with(#wb, :k))"
            values[":k"] = {"S": key + "|"}
        if owner_id:
            condition += " AND owner_id = :owner"
            values[":owner"] = {"S": owner_id}
        return _written(
            self._ddb.update_item,
            TableName=self._table,
            Key={"lead_id": {"S": lead_id}},
            UpdateExpression="SET #wb = :m REMOVE writeback_error, " + ", ".join(_LEGACY_MARKS),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#wb": WRITEBACK_MARK},
            ExpressionAttributeValues=values,
        )

    def refused(self, lead_id: str, key: str, *, message_id: str, error_code: str) -> None:
        """Salesforce refused the update, or it waited too long: record why (``writeback_error``,
        ``writeback_failed``) and free the key, so that redriving the message once the cause is fixed writes it."""
        _written(  # taken over by a redriven copy meanwhile: that copy records its own outcome
            self._ddb.update_item,
            TableName=self._table,
            Key={"lead_id": {"S": lead_id}},
            UpdateExpression="SET writeback_failed = :k, writeback_error = :e REMOVE #wb",
            ConditionExpression="#wb = :m",
            ExpressionAttributeNames={"#wb": WRITEBACK_MARK},
            ExpressionAttributeValues={":k": {"S": key}, ":e": {"S": error_code},
                                       ":m": {"S": f"{key}|{message_tag(message_id)}"}},
        )
