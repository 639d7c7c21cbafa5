"""The one postal-code rule: lead postal codes and territory-file postal codes are normalised here, the same way,
so the two can be compared (and the gazetteer is keyed by the same form).

US (and US territories, which use USPS ZIPs): 5 digits.

- ZIP+4 keeps its first five digits, with a hyphen, a space or nothing in between (``"94105-1234"``,
  ``"94105 1234"``, ``"941051234"``: what web forms and list imports put in ``PostalCode``).
- ZIPs that lost their leading zeros in a spreadsheet are zero padded: ``"501"`` -> ``"00501"``,
  ``"2134"`` -> ``"02134"``, ``"2134.0"`` (read as a number) -> ``"02134"``, and a ZIP+4 that lost one or two
  zeros (``"21341234"`` -> ``"02134"``, ``"5011234"`` -> ``"00501"``).
- One or two digits are **not** a ZIP: the lowest ZIP in use is 00501 (at most two leading zeros can have been
  lost), so ``"12"`` is refused (None) rather than padded to a ZIP that does not exist.

Elsewhere: upper case without spaces or dashes (``"k1a 0b1"`` -> ``"K1A0B1"``), 2 to 10 letters/digits.

These cases were decided once here; before, the territory-file parser and the tagger each had a copy and they
disagreed (``"941051234"``: None vs ``94105``; ``"12"``: ``00012`` vs None). Tests pin both.

A postal code can also say which country it belongs to when the lead does not: :func:`guess_country`.
"""

from __future__ import annotations

import re
from functools import lru_cache

# 3 to 5 digits (up to two leading zeros lost), then an optional +4 after "-", " " or nothing.
_US_ZIP = re.compile(r"^(\d{3,5})(?:[-\s]?(\d{4}))?$")
_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
_CA_POSTAL = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[A-Z]\d[A-Z]\d$")
_SPACES = re.compile(r"[\s\-]")

# Countries whose addresses use USPS ZIP codes (the US and its territories, as ISO alpha-2).
ZIP_COUNTRIES = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


@lru_cache(maxsize=65536)
def normalise_postal_code(code: str | None, country: str | None = "US") -> str | None:
    """The comparable form of a postal code for ``country`` (ISO alpha-2), None when it is not a code.

    ``country=None`` (unknown): a ZIP form is read as a US ZIP, anything else as a code of another country.
    """
    if code is None:
        return None
    value = str(code).strip().upper()
    if not value:
        return None
    cc = country.strip().upper() if country else None
    if cc is None or cc in ZIP_COUNTRIES:
        if value.endswith(".0"):  # read as a number by a spreadsheet
            value = value[:-2]
        match = _US_ZIP.match(value)
        if match:
            return match.group(1).zfill(5)
        if cc is not None:
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
    if _US_ZIP.match(value) and len(_SPACES.sub("", value)) in (5, 9):
        return "US"
    if _CA_POSTAL.match(_SPACES.sub("", value)):
        return "CA"
    return None
