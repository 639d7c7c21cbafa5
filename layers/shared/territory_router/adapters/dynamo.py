"""Small helpers to move between Python values and DynamoDB's typed attribute values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any


@cache
def _codec() -> tuple[Any, Any]:
    """boto3's (TypeSerializer, TypeDeserializer), imported at first use: ``boto3.dynamodb`` imports the whole of
    boto3 (about 100 ms of a cold start), which the handler's first AWS client pays anyway; importing a handler
    does not (docs/benchmarks.md, Cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _clean(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, set | frozenset):
        return [_clean(v) for v in sorted(value)]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return [_plain(v) for v in value]
    return value


def to_attr(value: Any) -> dict[str, Any]:
    return _codec()[0].serialize(_clean(value))


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialise a plain dict (floats allowed) to a DynamoDB item; ``None`` values are dropped."""
    return {k: to_attr(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    deserialize = _codec()[1].deserialize
    return {k: _plain(deserialize(v)) for k, v in item.items()}


def batch_get(ddb, requests: dict[str, list[dict[str, Any]]], *, projection: str | None = None,
              consistent: bool = True, max_rounds: int = 10) -> dict[str, list[dict[str, Any]]]:
    """BatchGetItem over several tables (``{table: [key, ...]}``), 100 keys a call, following UnprocessedKeys.

    Returns the raw items per table. ``projection`` (e.g. ``"lead_id"``) reads only those attributes.
    """
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in requests}
    flat = [(t, k) for t, keys in requests.items() for k in keys]
    for i in range(0, len(flat), 100):
        chunk: dict[str, dict[str, Any]] = {}
        for table, key in flat[i : i + 100]:
            entry = chunk.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
            if projection:
                entry["ProjectionExpression"] = projection
            entry["Keys"].append(key)
        pending: dict[str, Any] | None = chunk
        rounds = 0
        while pending:
            resp = ddb.batch_get_item(RequestItems=pending)
            for table, items in resp.get("Responses", {}).items():
                out.setdefault(table, []).extend(items)
            pending = resp.get("UnprocessedKeys") or None
            rounds += 1
            if rounds > max_rounds and pending:
                raise RuntimeError("BatchGetItem kept returning unprocessed keys")
    return out

