"""Normalising lead postal codes the same way territory files are normalised, so the two can be compared.

- US: 5 digits. ZIP+4 (``"94105-1234"``, ``"941051234"``) keeps the first five; ZIPs that lost their leading
  zeros in a spreadsheet (``"501"``, ``"2134"``, ``"2134.0"``) are zero padded.
- Elsewhere: upper case without spaces or dashes (``"k1a 0b1"`` -> ``"K1A0B1"``), 2 to 10 letters/digits.

A postal code can also say which country it belongs to when the lead does not: :func:`guess_country`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_US_ZIP = re.compile(r"^(\d{3,5})(?:-?(\d{4}))?$")
_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
_CA_POSTAL = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[A-Z]\d[A-Z]\d$")
_SPACES = re.compile(r"[\s\-]")


@lru_cache(maxsize=65536)
def normalise_postal_code(code: str | None, country: str | None = "US") -> str | None:
    """The comparable form of a postal code for ``country`` (ISO alpha-2), None when it is not a code."""
    if code is None:
        return None
    value = str(code).strip().upper()
    if not value:
        return None
    if country is None or country == "US":
        if value.endswith(".0"):  # read as a number by a spreadsheet
            value = value[:-2]
        match = _US_ZIP.match(value)
        if match:
            return match.group(1).zfill(5)
        if country == "US":
            return None
    value = _SPACES.sub("", value)
    return value if _CODE.match(value) else None


def postal_prefixes(code: str, country: str) -> tuple[str, ...]:
    """Coarser keys a territory may list instead of the full code: the 3-digit ZIP prefix (SCF) in the US,
    the forward sortation area (first 3 characters) in Canada, the outward code in the UK."""
    if country == "US" and len(code) == 5:
        return (code[:3],)
    if country == "CA" and len(code) == 6:
        return (code[:3],)
    if country == "GB" and 5 <= len(code) <= 7:
        return (code[:-3],)
    return ()


@lru_cache(maxsize=65536)
def guess_country(code: str | None) -> str | None:
    """``"US"`` for a ZIP / ZIP+4, ``"CA"`` for a Canadian postal code, None otherwise."""
    if not code:
        return None
    value = str(code).strip().upper()
    if _US_ZIP.match(value) and len(value.replace("-", "")) in (5, 9):
        return "US"
    if _CA_POSTAL.match(_SPACES.sub("", value)):
        return "CA"
    return None
