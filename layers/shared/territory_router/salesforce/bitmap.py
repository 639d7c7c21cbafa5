"""The bitmap form of ``changedFields`` / ``nulledFields`` / ``diffFields`` in Change Data Capture headers.

Salesforce's Pub/Sub API (and Event Relay, which is built on it) may send these header fields as bitmaps instead of
field names (https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-deserialization-considerations.html):

* the list's first element, ``"0x650004E0"``, is a hexadecimal bitmap of the event schema's top-level fields: bit
  ``i`` set (counting from the least significant bit) means the field at position ``i`` of the Avro schema changed;
* further elements, ``"{ParentFieldPosition}-{NestedFieldBitmap}"`` such as ``"4-0x10"``, are compound fields:
  the field at position 4 is a record (``Name``, ``Address``) and ``0x10`` indexes that record's own fields.

Decoding needs the schema the event was written with (``detail.schemaId``; Salesforce serves it at
``/services/data/vXX.X/event/eventSchema/{schemaId}``, https://developer.salesforce.com/docs/platform/api-rest/guide/resources-event-eventschema.html).
Salesforce's reference decoder is ``ChangeEventHeaderUtility.py`` in github.com/forcedotcom/pub-sub-api; this module
follows the same bit order and the same union handling. Without the schema the caller falls back to the payload's own
keys (see ``territory_router.salesforce.events``). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_TOP = re.compile(r"^0x([0-9A-Fa-f]+)$")
_NESTED = re.compile(r"^(\d{1,4})-0x([0-9A-Fa-f]+)$")
MAX_HEX_DIGITS = 1024  # 4096 fields: far above any Salesforce object, far below an abuse


class UndecodableBitmap(ValueError):
    """The bitmap names positions the schema does not have (or a nested bitmap on a field that is no record)."""


def is_bitmap(value: str) -> bool:
    return bool(_TOP.match(value) or _NESTED.match(value))


def has_bitmaps(values: Iterable[str]) -> bool:
    return any(is_bitmap(v) for v in values)


def set_bits(hex_digits: str) -> list[int]:
    """Positions of the bits set in a hexadecimal bitmap, least significant first (bit 0 = schema field 0)."""
    if len(hex_digits) > MAX_HEX_DIGITS:
        raise UndecodableBitmap(f"bitmap longer than {MAX_HEX_DIGITS} hexadecimal digits")
    number = int(hex_digits, 16)
    return [i for i in range(number.bit_length()) if number >> i & 1]


class EventSchema(BaseModel):
    """What decoding needs from an event's Avro schema: the top-level field names in schema order, and the field
    names of each top-level field that is a record (compound fields), by position."""

    # defer_build: validators are built at first use, not at import (cold start: docs/benchmarks.md)
    model_config = ConfigDict(defer_build=True, frozen=True)

    schema_id: str | None = None
    fields: tuple[str, ...]
    nested: dict[int, tuple[str, ...]] = Field(default_factory=dict)

    @classmethod
    def from_avro(cls, doc: Mapping[str, Any], schema_id: str | None = None) -> EventSchema:
        """From the Avro record schema (JSON) Salesforce returns for a schema id.

        A field's type may be a record, a union holding one record (``["null", {...record...}]``) or the name of a
        record defined earlier in the schema (Avro named types); anything else is a plain field.
        """
        if not isinstance(doc, Mapping) or not isinstance(doc.get("fields"), list):
            raise ValueError("not an Avro record schema: no 'fields' list")
        named: dict[str, Mapping[str, Any]] = {}
        _collect_named(doc, named, doc.get("namespace"))
        names: list[str] = []
        nested: dict[int, tuple[str, ...]] = {}
        for position, field in enumerate(doc["fields"]):
            if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
                raise ValueError(f"not an Avro record schema: field {position} has no name")
            names.append(field["name"])
            record = _record_of(field.get("type"), named)
            if record is not None:
                nested[position] = tuple(
                    str(f.get("name")) for f in record.get("fields") or [] if isinstance(f, Mapping)
                )
        return cls(schema_id=schema_id or _text(doc.get("uuid")), fields=tuple(names), nested=nested)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _collect_named(node: Any, named: dict[str, Mapping[str, Any]], namespace: str | None) -> None:
    if isinstance(node, list):
        for item in node:
            _collect_named(item, named, namespace)
        return
    if not isinstance(node, Mapping):
        return
    ns = node.get("namespace") or namespace
    if node.get("type") == "record" and isinstance(node.get("name"), str):
        name = node["name"]
        named[name] = node
        if ns and "." not in name:
            named[f"{ns}.{name}"] = node
        for field in node.get("fields") or []:
            if isinstance(field, Mapping):
                _collect_named(field.get("type"), named, ns)
    elif "type" in node and not isinstance(node.get("type"), str):
        _collect_named(node["type"], named, ns)


def _record_of(avro_type: Any, named: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if isinstance(avro_type, Mapping):
        if avro_type.get("type") == "record":
            return avro_type
        return _record_of(avro_type.get("type"), named) if not isinstance(avro_type.get("type"), str) else None
    if isinstance(avro_type, list):  # a union: the record in it, if any (Salesforce: ["null", record])
        for member in avro_type:
            found = _record_of(member, named)
            if found is not None:
                return found
        return None
    if isinstance(avro_type, str):
        return named.get(avro_type)
    return None


def decode_field_list(values: Sequence[str], schema: EventSchema) -> list[str]:
    """Field names of a ``changedFields``-style list: bitmaps decoded against ``schema`` (compound components as
    ``Parent.Child``, e.g. ``Name.FirstName``), plain names kept. Raises ``UndecodableBitmap`` when a bitmap does not
    fit the schema (the schema is not the one the event was written with)."""
    names: list[str] = []
    for value in values:
        top = _TOP.match(value)
        if top:
            for bit in set_bits(top.group(1)):
                if bit >= len(schema.fields):
                    raise UndecodableBitmap(f"bit {bit} is beyond the schema's {len(schema.fields)} fields")
                names.append(schema.fields[bit])
            continue
        nested = _NESTED.match(value)
        if nested:
            position = int(nested.group(1))
            children = schema.nested.get(position)
            if position >= len(schema.fields) or children is None:
                raise UndecodableBitmap(f"field {position} of the schema is not a compound field")
            parent = schema.fields[position]
            for bit in set_bits(nested.group(2)):
                if bit >= len(children):
                    raise UndecodableBitmap(f"bit {bit} is beyond the {len(children)} fields of {parent}")
                names.append(f"{parent}.{children[bit]}")
            continue
        names.append(value)
    return names


def encode_field_list(names: Sequence[str], schema: EventSchema) -> list[str]:
    """The bitmap form of field names (``Name.FirstName`` for compound components), as Salesforce sends it: the
    top-level bitmap first ("the first element of the array contains a bitmap for the individual non-compound
    fields": ``"0x0"`` when only compound fields are named), then one ``"{position}-0x.."`` per compound field.
    The inverse of :func:`decode_field_list` (test doubles, demo). Raises ``ValueError`` for a name the schema lacks."""
    top = 0
    nested: dict[int, int] = {}
    for name in names:
        parent, _, child = name.partition(".")
        if child:
            position = schema.fields.index(parent)
            children = schema.nested.get(position)
            if children is None:
                raise ValueError(f"{parent} is not a compound field of the schema")
            nested[position] = nested.get(position, 0) | 1 << children.index(child)
        else:
            top |= 1 << schema.fields.index(name)
    out = [f"0x{top:X}"]
    out += [f"{position}-0x{bits:X}" for position, bits in sorted(nested.items())]
    return out
