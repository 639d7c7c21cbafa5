"""Salesforce ids in a roster: reps are Users (``005``), owners are Users or Queues (``00G``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationInfo

_SF_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
USER_PREFIX = "005"
QUEUE_PREFIX = "00G"


def sf_id18(value: str) -> str:
    """18-character form of a Salesforce id (raises ValueError when it is not one)."""
    value = (value or "").strip()
    if not _SF_ID_RE.match(value):
        raise ValueError(f"not a Salesforce id (15 or 18 letters/digits): {value[:40]!r}")
    id15 = value[:15]
    suffix = ""
    for block in range(3):
        bits = 0
        for pos, ch in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX[bits]
    return id15 + suffix


def owner_kind(owner_id: str) -> Literal["USER", "QUEUE"]:
    return "QUEUE" if owner_id.startswith(QUEUE_PREFIX) else "USER"


def owner_id_or_none(value: str | None, what: str) -> str | None:
    """The 18-character User or Queue id of ``value`` (None when empty); ValueError names ``what`` otherwise."""
    if value is None or str(value).strip() == "":
        return None
    oid = sf_id18(str(value))
    if not oid.startswith((USER_PREFIX, QUEUE_PREFIX)):
        raise ValueError(f"{what} must be a User (005...) or Queue (00G...) id, got {value!r}")
    return oid


def _owner_field(value: Any, info: ValidationInfo) -> str | None:
    return owner_id_or_none(value, info.field_name or "owner")


# A model field holding an optional User or Queue id (18 characters); errors name the field.
OwnerId = Annotated[str | None, BeforeValidator(_owner_field)]
