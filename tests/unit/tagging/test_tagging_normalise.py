"""Postal code, state/province and country normalisation."""

from __future__ import annotations

import pytest

from territory_router.tagging.postal import guess_country, normalise_postal_code, postal_prefixes
from territory_router.tagging.regions import normalise_country, normalise_state, territory_state


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("94105", "US", "94105"),
        ("94105-1234", "US", "94105"),  # ZIP+4
        ("941051234", "US", "94105"),  # ZIP+4 without the dash
        ("501", "US", "00501"),  # leading zeros lost by a spreadsheet
        ("2134", "US", "02134"),
        ("2134.0", "US", "02134"),  # read as a number
        ("12345678", "US", "01234"),  # ZIP+4 that lost its leading zero
        (" 02134 ", None, "02134"),
        ("ABCDE", "US", None),
        ("", "US", None),
        (None, "US", None),
        ("k1a 0b1", "CA", "K1A0B1"),
        ("SW1A 1AA", "GB", "SW1A1AA"),
        ("10115", "DE", "10115"),
        ("k1a-0b1", None, "K1A0B1"),
        ("@@", "FR", None),
    ],
)
def test_postal_codes(raw, country, expected):
    assert normalise_postal_code(raw, country) == expected


def test_postal_prefixes_and_country_guess():
    assert postal_prefixes("94105", "US") == ("941",)
    assert postal_prefixes("K1A0B1", "CA") == ("K1A",)
    assert postal_prefixes("SW1A1AA", "GB") == ("SW1A",)
    assert postal_prefixes("10115", "DE") == ()
    assert guess_country("94105-1234") == "US" and guess_country("941051234") == "US"
    assert (
        guess_country("K1A 0B1") == "CA"
        and guess_country("501") is None
        and guess_country("SW1A 1AA") is None
    )


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("California", None, ("US", "CA")),
        ("ca", None, ("US", "CA")),
        (" CALIFORNIA ", "US", ("US", "CA")),
        ("Calif.", None, ("US", "CA")),
        ("Washington, D.C.", None, ("US", "DC")),
        ("District of Columbia", "US", ("US", "DC")),
        ("new york", None, ("US", "NY")),
        ("Québec", None, ("CA", "QC")),
        ("Quebec", "CA", ("CA", "QC")),
        ("ON", None, ("CA", "ON")),
        ("Newfoundland", None, ("CA", "NL")),
        ("Puerto Rico", None, ("US", "PR")),
        ("AE", None, ("US", "AE")),  # APO/FPO Armed Forces Europe
        ("Ontario", "US", None),  # not a US state
        ("Texas", "CA", None),
        ("Atlantis", None, None),
        ("jal", "MX", ("MX", "JAL")),  # outside US/CA: the code as typed
        ("", None, None),
        (None, None, None),
    ],
)
def test_states_and_provinces(raw, country, expected):
    assert normalise_state(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("United States", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("U.S.", "US"),
        ("us", "US"),
        ("America", "US"),
        ("Canada", "CA"),
        ("CAN", "CA"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("Deutschland", "DE"),
        ("méxico", "MX"),
        ("Puerto Rico", "US"),  # a US territory: US + state PR
        ("FR", "FR"),
        ("XQ", "XQ"),  # any two letters pass as a code
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_countries(raw, expected):
    assert normalise_country(raw) == expected


def test_territory_named_as_country():
    assert territory_state("Puerto Rico") == "PR" and territory_state("GUM") == "GU"
    assert territory_state("Canada") is None and territory_state(None) is None
