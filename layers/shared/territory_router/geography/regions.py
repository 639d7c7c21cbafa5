"""Normalising what people type for a state, province or country into codes territories use.

States and provinces become USPS / Canada Post codes (``"California"`` -> ``"CA"``, ``"Québec"`` -> ``"QC"``),
countries become ISO 3166 alpha-2 (``"United States"``, ``"USA"``, ``"U.S.A."`` -> ``"US"``). The five
inhabited US territories are states of ``US`` here, as in a USPS address (``"Puerto Rico"`` -> ``("US", "PR")``).
Everything is pure functions over small tables, cached.

Territory files name regions by code (``"US-CA"``, ``"CA-ON"``, ``"CA"`` of the default country) and countries
by ISO alpha-2: :func:`parse_region` and :func:`parse_country` read those, with the same tables, so a file cannot
list a US "state" that no lead can ever be normalised to (``"US-ON"`` is refused: Ontario is a province of CA).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import TypeVar

US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana",
    "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
    "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    # Inhabited territories (own USPS codes) and the military "states" of APO/FPO/DPO addresses.
    "PR": "Puerto Rico", "VI": "United States Virgin Islands", "GU": "Guam", "AS": "American Samoa",
    "MP": "Commonwealth of the Northern Mariana Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}  # fmt: skip

CA_PROVINCES: dict[str, str] = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories", "NU": "Nunavut",
    "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec", "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip

US_TERRITORIES = frozenset({"PR", "VI", "GU", "AS", "MP"})

_STATE_ALIASES: dict[str, tuple[str, str]] = {
    "washington dc": ("US", "DC"), "washington d c": ("US", "DC"), "d c": ("US", "DC"),
    "us virgin islands": ("US", "VI"), "virgin islands": ("US", "VI"), "u s virgin islands": ("US", "VI"),
    "northern mariana islands": ("US", "MP"), "cnmi": ("US", "MP"),
    "newfoundland": ("CA", "NL"), "labrador": ("CA", "NL"), "pei": ("CA", "PE"), "yukon territory": ("CA", "YT"),
    "nwt": ("CA", "NT"), "nfld": ("CA", "NL"), "que": ("CA", "QC"), "calif": ("US", "CA"), "mass": ("US", "MA"),
    "penn": ("US", "PA"), "wash": ("US", "WA"), "fla": ("US", "FL"), "tex": ("US", "TX"),
    "pq": ("CA", "QC"),  # the old "Province de Québec" abbreviation
}  # fmt: skip

# ISO 3166 alpha-2 for the countries leads most often name, with their alpha-3 codes and common names.
_COUNTRIES: dict[str, tuple[str, ...]] = {
    "US": ("USA", "United States", "United States of America", "America", "US of A", "U S", "U S A"),
    "CA": ("CAN", "Canada"),
    "MX": ("MEX", "Mexico", "United Mexican States"),
    "GB": ("GBR", "United Kingdom", "UK", "Great Britain", "Britain", "England", "Scotland", "Wales",
           "Northern Ireland", "U K"),
    "IE": ("IRL", "Ireland", "Republic of Ireland", "Eire"),
    "DE": ("DEU", "Germany", "Deutschland"), "FR": ("FRA", "France"), "ES": ("ESP", "Spain", "Espana"),
    "IT": ("ITA", "Italy", "Italia"), "PT": ("PRT", "Portugal"), "NL": ("NLD", "Netherlands", "Holland",
    "The Netherlands"), "BE": ("BEL", "Belgium"), "LU": ("LUX", "Luxembourg"), "CH": ("CHE", "Switzerland"),
    "AT": ("AUT", "Austria"), "DK": ("DNK", "Denmark"), "SE": ("SWE", "Sweden"), "NO": ("NOR", "Norway"),
    "FI": ("FIN", "Finland"), "IS": ("ISL", "Iceland"), "PL": ("POL", "Poland"), "CZ": ("CZE", "Czechia",
    "Czech Republic"), "SK": ("SVK", "Slovakia"), "HU": ("HUN", "Hungary"), "RO": ("ROU", "Romania"),
    "BG": ("BGR", "Bulgaria"), "GR": ("GRC", "Greece"), "TR": ("TUR", "Turkey", "Turkiye"),
    "UA": ("UKR", "Ukraine"), "RU": ("RUS", "Russia", "Russian Federation"), "IL": ("ISR", "Israel"),
    "AE": ("ARE", "United Arab Emirates", "UAE"), "SA": ("SAU", "Saudi Arabia"), "EG": ("EGY", "Egypt"),
    "ZA": ("ZAF", "South Africa"), "NG": ("NGA", "Nigeria"), "KE": ("KEN", "Kenya"), "IN": ("IND", "India"),
    "PK": ("PAK", "Pakistan"), "CN": ("CHN", "China", "People's Republic of China", "PRC"),
    "HK": ("HKG", "Hong Kong"), "TW": ("TWN", "Taiwan"), "JP": ("JPN", "Japan"),
    "KR": ("KOR", "South Korea", "Korea", "Republic of Korea"), "SG": ("SGP", "Singapore"),
    "MY": ("MYS", "Malaysia"), "TH": ("THA", "Thailand"), "VN": ("VNM", "Vietnam", "Viet Nam"),
    "PH": ("PHL", "Philippines"), "ID": ("IDN", "Indonesia"), "AU": ("AUS", "Australia"),
    "NZ": ("NZL", "New Zealand"), "BR": ("BRA", "Brazil", "Brasil"), "AR": ("ARG", "Argentina"),
    "CL": ("CHL", "Chile"), "CO": ("COL", "Colombia"), "PE": ("PER", "Peru"), "VE": ("VEN", "Venezuela"),
    "CR": ("CRI", "Costa Rica"), "PA": ("PAN", "Panama"), "GT": ("GTM", "Guatemala"),
    "DO": ("DOM", "Dominican Republic"), "JM": ("JAM", "Jamaica"), "BS": ("BHS", "Bahamas"),
    "BM": ("BMU", "Bermuda"),
    # US territories have ISO codes of their own; they map to US + state below.
    "PR": ("PRI", "Puerto Rico"), "VI": ("VIR", "US Virgin Islands", "United States Virgin Islands"),
    "GU": ("GUM", "Guam"), "AS": ("ASM", "American Samoa"), "MP": ("MNP", "Northern Mariana Islands"),
}  # fmt: skip

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str:
    """Case, accent and punctuation insensitive key: ``"Québec "`` -> ``"quebec"``, ``"U.S.A."`` -> ``"u s a"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return _NON_ALNUM.sub(" ", folded).strip()


T = TypeVar("T")


def _look_up(table: Mapping[str, T], key: str) -> T | None:
    """A ``_key`` in a table of keys, also with its spaces removed ("new york" -> "newyork"); None for no key."""
    if not key:
        return None
    return table.get(key) or table.get(key.replace(" ", ""))


def _build_state_table() -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for country, codes in (("US", US_STATES), ("CA", CA_PROVINCES)):
        for code, name in codes.items():
            table[code.lower()] = (country, code)
            table[_key(name)] = (country, code)
    table.update(_STATE_ALIASES)
    return table


def _build_country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, names in _COUNTRIES.items():
        table[code.lower()] = code
        for name in names:
            table[_key(name)] = code
    # "U.S.A." folds to "u s a", "U.S." to "u s": accept the dotted forms without spaces too.
    table["usa"] = table["us"] = "US"
    return table


_STATES = _build_state_table()
_COUNTRY_TABLE = _build_country_table()


@lru_cache(maxsize=4096)
def normalise_country(value: str | None) -> str | None:
    """ISO alpha-2 for a country name or code, None when empty or unknown (any two letters pass as a code).

    US territories named as countries come back as ``"US"`` (use :func:`territory_state` for the state).
    """
    key = _key(value) if value else ""
    code = _look_up(_COUNTRY_TABLE, key)
    if code is None:
        compact = key.replace(" ", "")
        if len(compact) == 2 and compact.isalpha():
            code = compact.upper()
    if code in US_TERRITORIES:
        return "US"
    return code


@lru_cache(maxsize=4096)
def territory_state(value: str | None) -> str | None:
    """The USPS state code of a US territory named as a country (``"Puerto Rico"`` -> ``"PR"``), else None."""
    code = _look_up(_COUNTRY_TABLE, _key(value) if value else "")
    return code if code in US_TERRITORIES else None


@lru_cache(maxsize=4096)
def normalise_state(value: str | None, country: str | None = None) -> tuple[str, str] | None:
    """``(country, code)`` for a US state / Canadian province name or code, None when not recognised.

    ``country`` (already normalised) only restricts the answer: ``normalise_state("ON", "US")`` is None.
    Outside the US and Canada a short alphanumeric code is kept as typed (upper case), so a territory listing
    ``("MX", "JAL")`` still matches ``state="jal", country="MX"``.
    """
    key = _key(value) if value else ""
    if not key:
        return None
    found = _look_up(_STATES, key)
    if found is not None:
        if country is None or found[0] == country:
            return found
        return None
    if country and country not in {"US", "CA"}:
        compact = key.replace(" ", "").upper()
        if 1 <= len(compact) <= 3:
            return (country, compact)
    return None


_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION = re.compile(r"^[A-Z0-9]{1,3}$")
_SUBDIVISIONS: dict[str, frozenset[str]] = {"US": frozenset(US_STATES), "CA": frozenset(CA_PROVINCES)}


def parse_region(value: str, *, default_country: str = "US") -> tuple[str, str | None] | None:
    """A territory file's region code: ``"US-CA"`` -> ``("US", "CA")``, ``"CA"`` alone -> a state of the default
    country; None if malformed, or not a state/province of the US or Canada when the country is one of them.

    Names (``"California"``) are refused on purpose: a territory file says exactly what it means."""
    text = str(value).strip().upper()
    if "-" in text:
        country, _, sub = text.partition("-")
        if not (_COUNTRY_CODE.match(country) and _SUBDIVISION.match(sub)):
            return None
    elif _SUBDIVISION.match(text) and text.isalpha():
        country, sub = default_country.strip().upper(), text
    else:
        return None
    known = _SUBDIVISIONS.get(country)
    if known is not None and sub not in known:
        return None
    return (country, sub)


def parse_country(value: str) -> tuple[str, None] | None:
    """A territory file's country: ISO alpha-2 (``"us"`` -> ``("US", None)``), None otherwise."""
    text = str(value).strip().upper()
    return (text, None) if _COUNTRY_CODE.match(text) else None
