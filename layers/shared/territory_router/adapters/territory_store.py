"""Versions of the territory set: S3 objects next to each upload and the ACTIVE pointer in the RoutingTable.

Layout (docs/architecture.md):

- S3 ``reports/<version>.json`` (validation report), ``maps/<version>.html`` (map), ``compiled/<version>.idx``
  (compiled index, valid versions only);
- RoutingTable ``TERRITORYSET`` / ``VERSION#<version>``: one record per upload;
- RoutingTable ``TERRITORYSET`` / ``ACTIVE``: ``version``, ``index_key``, ``activated_at``, ``previous_version``
  (+ ``history``, the versions active before, newest last, used by ``rollback``).

Switching the pointer is one DynamoDB transaction conditioned on the pointer still naming the version read
before, so two concurrent activations cannot interleave: the second fails with ``ActivationConflict``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from territory_router.adapters.dynamo import from_item, to_attr, to_item

PK = "TERRITORYSET"
ACTIVE_SK = "ACTIVE"
VERSION_PREFIX = "VERSION#"
HISTORY_LIMIT = 20  # versions remembered for rollback
ISSUES_KEPT = 25  # errors/warnings copied into the version record (the full list is in the S3 report)

STATUS_ACTIVE = "ACTIVE"
STATUS_VALID = "VALID"
STATUS_REJECTED = "REJECTED"
STATUS_SUPERSEDED = "SUPERSEDED"


class TerritoryStoreError(RuntimeError):
    """Base class of the store's refusals."""


class VersionNotFound(TerritoryStoreError):
    pass


class VersionNotActivatable(TerritoryStoreError):
    """The version was rejected by validation (it has no compiled index)."""


class ActivationConflict(TerritoryStoreError):
    """The ACTIVE pointer changed between reading and writing it (another activation won)."""


class NothingToRollBack(TerritoryStoreError):
    pass


class ActivePointer(NamedTuple):
    """What the tagger needs: the active version and the S3 key of its compiled index."""

    version: str
    index_key: str


@dataclass(frozen=True)
class TerritoryVersion:
    version: str
    status: str
    source_key: str
    created_at: str
    index_key: str | None = None
    report_key: str | None = None
    map_key: str | None = None
    territories: int = 0
    error_count: int = 0
    warning_count: int = 0
    overlap_count: int = 0
    gap_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    sha256: str = ""
    activated_at: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TerritoryVersion:
        names = set(cls.__dataclass_fields__)
        data = {k: v for k, v in item.items() if k in names}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _now() -> datetime:
    return datetime.now(UTC)


def new_version_id(data: bytes, when: datetime | None = None) -> str:
    """``20261128T232501Z-1a2b3c4d``: upload time (UTC) and the first 8 hex digits of the content's sha256."""
    when = (when or _now()).astimezone(UTC)
    return f"{when:%Y%m%dT%H%M%SZ}-{hashlib.sha256(data).hexdigest()[:8]}"


@dataclass(frozen=True)
class UploadedObject:
    key: str
    size: int
    last_modified: datetime
    data: bytes | None  # None when not downloaded (too large)


class TerritoryStore:
    """Territory set versions in S3 + the RoutingTable. Takes boto3 clients; makes none itself."""

    def __init__(self, s3_client, dynamodb_client, bucket: str, routing_table: str, *, clock=_now) -> None:
        self.s3 = s3_client
        self.dynamodb = dynamodb_client
        self.bucket = bucket
        self.table = routing_table
        self._clock = clock

    # ------------------------------------------------------------------------------------------- keys

    @staticmethod
    def report_key(version: str) -> str:
        return f"reports/{version}.json"

    @staticmethod
    def map_key(version: str) -> str:
        return f"maps/{version}.html"

    @staticmethod
    def index_key(version: str) -> str:
        return f"compiled/{version}.idx"

    # ------------------------------------------------------------------------------------------- S3

    def read_upload(self, bucket: str, key: str, *, max_bytes: int | None = None) -> UploadedObject:
        """The uploaded object; not downloaded (``data`` None) when larger than ``max_bytes``."""
        head = self.s3.head_object(Bucket=bucket, Key=key)
        size = int(head["ContentLength"])
        last_modified = head["LastModified"]
        if max_bytes is not None and size > max_bytes:
            return UploadedObject(key, size, last_modified, None)
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return UploadedObject(key, len(body), last_modified, body)

    def load_bytes(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    # ------------------------------------------------------------------------------------------- versions

    def save(
        self,
        *,
        version: str,
        source_key: str,
        report: dict[str, Any],
        map_html: str | None = None,
        index_bytes: bytes | None = None,
        sha256: str = "",
    ) -> TerritoryVersion:
        """Store an upload as a version (VALID when it has an index, else REJECTED). Never touches ACTIVE.

        S3 objects are written first, the record last and only if the version is new (a retried upload event
        finds its record and gets it back unchanged).
        """
        existing = self.get_version(version)
        if existing is not None:
            return existing
        report_key = self.report_key(version)
        self._put(report_key, json.dumps(report, indent=2, default=str).encode(), "application/json")
        map_key = None
        if map_html is not None:
            map_key = self.map_key(version)
            self._put(map_key, map_html.encode("utf-8"), "text/html; charset=utf-8")
        index_key = None
        if index_bytes is not None:
            index_key = self.index_key(version)
            self._put(index_key, index_bytes, "application/octet-stream")
        record = TerritoryVersion(
            version=version,
            status=STATUS_VALID if index_key and report.get("valid") else STATUS_REJECTED,
            source_key=source_key,
            created_at=self._clock().isoformat(),
            index_key=index_key,
            report_key=report_key,
            map_key=map_key,
            territories=int(report.get("territories", 0)),
            error_count=len(report.get("errors", [])),
            warning_count=len(report.get("warnings", [])),
            overlap_count=len(report.get("overlaps", [])),
            gap_count=len(report.get("gaps", [])),
            errors=[_short(i) for i in report.get("errors", [])[:ISSUES_KEPT]],
            warnings=[_short(i) for i in report.get("warnings", [])[:ISSUES_KEPT]],
            sha256=sha256,
        )
        item = to_item({"pk": PK, "sk": VERSION_PREFIX + version, **record.to_dict()})
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(sk)"
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return self.get_version(version) or record
        return record

    def get_version(self, version: str) -> TerritoryVersion | None:
        item = self._get(VERSION_PREFIX + version)
        return TerritoryVersion.from_item(item) if item else None

    def list_versions(self, limit: int | None = None) -> list[TerritoryVersion]:
        """Every version, newest first."""
        out: list[TerritoryVersion] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": PK}, ":prefix": {"S": VERSION_PREFIX}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            out.extend(TerritoryVersion.from_item(from_item(i)) for i in page.get("Items", []))
            if limit is not None and len(out) >= limit:
                return out[:limit]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------------------------------- ACTIVE

    def get_active(self) -> ActivePointer | None:
        item = self._get(ACTIVE_SK)
        if not item or not item.get("version") or not item.get("index_key"):
            return None
        return ActivePointer(item["version"], item["index_key"])

    def get_active_record(self) -> dict[str, Any] | None:
        """The full ACTIVE item (``version``, ``index_key``, ``activated_at``, ``previous_version``, ``history``)."""
        return self._get(ACTIVE_SK)

    def activate(self, version: str) -> ActivePointer:
        """Make ``version`` the live set. Raises ``ActivationConflict`` if the pointer moved meanwhile."""
        current = self.get_active_record()
        history = list((current or {}).get("history") or [])
        if current and current.get("version"):
            if current["version"] == version:
                return ActivePointer(version, current["index_key"])
            history = (history + [current["version"]])[-HISTORY_LIMIT:]
        return self._switch(version, current, history)

    def rollback(self) -> ActivePointer:
        """Go back to the version that was active before the current one (repeatable, like undo)."""
        current = self.get_active_record()
        history = list((current or {}).get("history") or [])
        if not current or not history:
            raise NothingToRollBack("no earlier active territory set to roll back to")
        target = history.pop()
        return self._switch(target, current, history)

    def _switch(self, version: str, current: dict[str, Any] | None, history: list[str]) -> ActivePointer:
        target = self.get_version(version)
        if target is None:
            raise VersionNotFound(f"territory set version {version!r} does not exist")
        if target.status == STATUS_REJECTED or not target.index_key:
            raise VersionNotActivatable(
                f"territory set version {version!r} was rejected by validation "
                f"({target.error_count} errors) and cannot be activated"
            )
        now = self._clock().isoformat()
        previous = current.get("version") if current else None
        pointer = {
            "pk": PK,
            "sk": ACTIVE_SK,
            "version": version,
            "index_key": target.index_key,
            "activated_at": now,
            "previous_version": history[-1] if history else None,
            "history": history,
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(pointer)}
        if previous:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": to_attr(previous)}
        else:
            put["ConditionExpression"] = "attribute_not_exists(pk) OR attribute_not_exists(version)"
        items: list[dict[str, Any]] = [
            {"Put": put},
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": to_attr(PK), "sk": to_attr(VERSION_PREFIX + version)},
                    "UpdateExpression": "SET #s = :active, activated_at = :now",
                    "ConditionExpression": "attribute_exists(sk) AND #s <> :rejected",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":active": to_attr(STATUS_ACTIVE),
                        ":now": to_attr(now),
                        ":rejected": to_attr(STATUS_REJECTED),
                    },
                }
            },
        ]
        if previous and previous != version:
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": to_attr(PK), "sk": to_attr(VERSION_PREFIX + previous)},
                        "UpdateExpression": "SET #s = :superseded",
                        "ConditionExpression": "attribute_exists(sk)",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":superseded": to_attr(STATUS_SUPERSEDED)},
                    }
                }
            )
        try:
            self.dynamodb.transact_write_items(TransactItems=items)
        except self.dynamodb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            raise ActivationConflict(
                f"could not activate {version!r}: the active territory set changed meanwhile "
                f"(expected {previous!r}; {reasons}); read it again and retry"
            ) from exc
        return ActivePointer(version, target.index_key)

    # ------------------------------------------------------------------------------------------- helpers

    def _get(self, sk: str) -> dict[str, Any] | None:
        resp = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": PK}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return from_item(resp.get("Item"))


def _short(issue: dict[str, Any]) -> dict[str, Any]:
    return {"territory": str(issue.get("territory", ""))[:200], "reason": str(issue.get("reason", ""))[:500]}
