"""Salesforce ids in a roster: reps are Users (``005``), owners are Users or Queues (``00G``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationInfo

# The one Salesforce id rule (domain/ids.py): ids typed in a roster file may carry blanks around them.
from territory_router.domain.ids import QUEUE_KEY_PREFIX as QUEUE_PREFIX
from territory_router.domain.ids import USER_KEY_PREFIX as USER_PREFIX
from territory_router.domain.ids import to_18_from_text as sf_id18

__all__ = ["QUEUE_PREFIX", "USER_PREFIX", "OwnerId", "owner_id_or_none", "owner_kind", "sf_id18"]


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
