"""Salesforce record ids: 15-character (case-sensitive) and 18-character (case-safe) forms.

The 18-character id is the 15-character id plus a 3-character checksum that encodes, for each block of
five characters, which of them are upper-case letters. Two ids name the same record when their first 15
characters are equal (case-sensitively).

This is the one id rule of the project (the roster, the CLI, events, SOQL, the writeback use it): a pure leaf
module, importable from any package. ``to_18`` is strict (an id read from Salesforce or from our own records);
``to_18_from_text`` is for an id a person typed (a roster cell, a CLI argument), where blanks around it are noise.
"""

from __future__ import annotations

import re

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

LEAD_KEY_PREFIX = "00Q"
USER_KEY_PREFIX = "005"
QUEUE_KEY_PREFIX = "00G"  # Group (queues are groups of type Queue)
ORG_KEY_PREFIX = "00D"


class InvalidSalesforceId(ValueError):
    """The text is not a 15- or 18-character Salesforce id."""


def is_salesforce_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


def _checksum(id15: str) -> str:
    suffix = []
    for block in range(3):
        bits = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def _refuse(value: object) -> InvalidSalesforceId:
    shown = value[:40] if isinstance(value, str) else value
    return InvalidSalesforceId(f"not a Salesforce id (15 or 18 letters/digits): {shown!r}")


def to_18(value: str) -> str:
    """The 18-character form of a Salesforce id (an 18-character id gets its checksum recomputed).

    Raises ``InvalidSalesforceId`` (a ``ValueError``) for anything else, ``None`` and non-strings included."""
    if not is_salesforce_id(value):
        raise _refuse(value)
    id15 = value[:15]
    return id15 + _checksum(id15)


def to_18_from_text(text: str | None) -> str:
    """The 18-character form of an id a person typed (a roster cell, a CLI argument): blanks around it are ignored,
    anything else that is not an id is refused like ``to_18`` refuses it."""
    return to_18(text.strip() if isinstance(text, str) else text)


def to_15(value: str) -> str:
    if not is_salesforce_id(value):
        raise _refuse(value)
    return value[:15]


def record_key(value: str) -> str:
    """What names a record whatever the form of its id (15 or 18 characters): its first 15 characters.

    No validation: for grouping values that are already ids (a lead id of our own records and events)."""
    return value[:15]


def same_id(a: str, b: str) -> bool:
    """True when two ids (15 or 18 characters, in any combination) name the same record."""
    return to_15(a) == to_15(b)


def has_valid_checksum(value: str) -> bool:
    """An 18-character id whose suffix matches its first 15 characters (a 15-character id is always valid)."""
    if not is_salesforce_id(value):
        return False
    return len(value) == 15 or value[15:].upper() == _checksum(value[:15])
