"""Optional geocoding: only for leads with an address and no usable coordinates, cached, within a budget."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from shapely.geometry import box

from territory_router.adapters.geocoder_location import LocationServiceGeocoder
from territory_router.domain import TagMethod, TagPrecision, Territory, TerritorySet
from territory_router.tagging.geocoding import BudgetedGeocoder, Geocoder


class FakeGeocoder:
    def __init__(self, answers: dict[str, tuple[float, float] | None], fail: bool = False) -> None:
        self.answers = answers
        self.fail = fail
        self.calls: list[str] = []

    def geocode(self, address: str) -> tuple[float, float] | None:
        self.calls.append(address)
        if self.fail:
            raise TimeoutError("slow")
        return self.answers.get(address)


def test_budget_cache_and_batches():
    fake = FakeGeocoder({"a": (30.0, -100.0), "b": (31.0, -99.0)})
    geo = BudgetedGeocoder(fake, budget_per_batch=2, cache_size=10)
    assert isinstance(geo, Geocoder) and isinstance(fake, Geocoder)
    assert geo.lookup("a").reason == "geocoded"
    assert geo.lookup("  A ").reason == "geocoded (cached)"  # same address, free
    assert geo.lookup("zzz").reason == "not found"
    spent = geo.lookup("b")
    assert spent.coordinates is None and "budget of 2 per batch spent" in spent.reason
    assert geo.lookup("zzz").reason == "not found (cached)"  # misses are cached too
    assert fake.calls == ["a", "zzz"]
    geo.start_batch()
    assert geo.remaining == 2 and geo.geocode("b") == (31.0, -99.0)


def test_cache_is_bounded_and_errors_are_contained():
    fake = FakeGeocoder({"a": (1.0, 1.0), "b": (2.0, 2.0), "c": (3.0, 3.0)})
    geo = BudgetedGeocoder(fake, budget_per_batch=10, cache_size=2)
    for address in ("a", "b", "c", "a"):
        geo.lookup(address)
    assert fake.calls == ["a", "b", "c", "a"]  # "a" was evicted by "c"
    failing = BudgetedGeocoder(FakeGeocoder({}, fail=True), budget_per_batch=1)
    assert failing.lookup("x").reason == "geocoder error: TimeoutError"
    with pytest.raises(ValueError):
        BudgetedGeocoder(fake, budget_per_batch=-1)


def test_unusable_answers_are_treated_as_not_found():
    geo = BudgetedGeocoder(FakeGeocoder({"zero": (0.0, 0.0), "bad": (123.0, 5.0), "junk": ("x", "y")}))
    for address in ("zero", "bad", "junk"):
        assert geo.lookup(address).coordinates is None


def test_tagger_geocodes_only_leads_without_usable_coordinates(tagger_for, lead):
    fake = FakeGeocoder({"1 Main St, Austin": (30.27, -97.74)})
    tagger = tagger_for(geocoder=fake, geocode_budget_per_batch=5)
    address = {"street": "1 Main St", "city": "Austin"}  # no state, no ZIP: the gazetteer cannot place it
    geocoded = tagger.tag(lead(**address))
    assert (geocoded.territory_id, geocoded.method) == ("TX", TagMethod.GEOCODED)
    assert geocoded.precision is TagPrecision.ROOFTOP
    assert "address geocoded (precision ROOFTOP)" in geocoded.note and "30.27" not in geocoded.note
    assert "no coordinates" in geocoded.note
    zero = tagger.tag(lead(latitude=0.0, longitude=0.0, **address))  # (0, 0) is no coordinates: geocode
    assert zero.method is TagMethod.GEOCODED and "address geocoded (cached)" in zero.note
    # A lead with coordinates is never geocoded, nor one without any address, nor one the gazetteer places.
    placed = lead(street="1 Main St", city="Austin", state="TX", postal_code="78701")
    tagger.tag_many([lead(latitude=31.0, longitude=-100.0, **address), lead(), placed])
    assert fake.calls == ["1 Main St, Austin"]  # once: the second was a cache hit
    polygons_only = TerritorySet(territories=(Territory("TX", "Texas", geometry=box(-106, 26, -94, 36)),))
    result = tagger_for(polygons_only, geocoder=fake).tag(placed)
    assert (result.territory_id, result.method) == ("TX", TagMethod.POSTAL_CENTROID)
    assert fake.calls == ["1 Main St, Austin"]


def test_geocoder_precision_comes_through(tagger_for, lead):
    fake = FakeGeocoder({"Austin": (30.27, -97.74, "CITY")})
    tagger = tagger_for(geocoder=fake)
    result = tagger.tag(lead(city="Austin"))
    assert (result.method, result.precision) == (TagMethod.GEOCODED, TagPrecision.CITY)


def test_geocoding_budget_per_batch_falls_back_with_a_reason(tagger_for, lead):
    fake = FakeGeocoder({})
    tagger = tagger_for(geocoder=fake, geocode_budget_per_batch=1)
    results = tagger.tag_many([lead(n, street=f"{n} Elm St", state="NV") for n in range(3)])
    assert len(fake.calls) == 1
    assert [r.method for r in results] == [TagMethod.CATCH_ALL] * 3
    assert "address not geocoded (not found)" in results[0].note
    assert "geocoding budget of 1 per batch spent" in results[2].note
    tagger.tag_many([lead(9, street="9 Elm St")])  # a new batch gets its budget back
    assert len(fake.calls) == 2


def test_geocoding_is_off_by_default(tagger, lead):
    result = tagger.tag(lead(street="1 Main St", city="Austin"))
    assert tagger.geocoder is None and "geocoded" not in result.note


def _location_client():
    return boto3.client("location", region_name="us-east-1")


def test_location_service_adapter_reads_lon_lat_points():
    client = _location_client()
    stubber = Stubber(client)
    stubber.add_response(
        "search_place_index_for_text",
        {
            "Summary": {"Text": "1 Main St Austin", "DataSource": "Esri"},
            "Results": [{"Place": {"Geometry": {"Point": [-97.74, 30.27]}}, "Relevance": 0.95}],
        },
        {"IndexName": "leads-index", "Text": "1 Main St Austin", "MaxResults": 1, "FilterCountries": ["USA"]},
    )
    stubber.add_response(
        "search_place_index_for_text",
        {"Summary": {"Text": "nowhere", "DataSource": "Esri"}, "Results": []},
        {"IndexName": "leads-index", "Text": "nowhere", "MaxResults": 1, "FilterCountries": ["USA"]},
    )
    with stubber:
        geocoder = LocationServiceGeocoder(client, "leads-index", countries=["USA"])
        assert geocoder.geocode("1 Main St   Austin") == (30.27, -97.74)  # (lat, lon)
        assert geocoder.geocode("nowhere") is None
        assert geocoder.geocode("   ") is None  # no call
    stubber.assert_no_pending_responses()


def test_location_service_adapter_skips_weak_matches_and_errors_reach_the_budget_wrapper():
    client = _location_client()
    stubber = Stubber(client)
    stubber.add_response(
        "search_place_index_for_text",
        {
            "Summary": {"Text": "x", "DataSource": "Here"},
            "Results": [{"Place": {"Geometry": {"Point": [-97.0, 30.0]}}, "Relevance": 0.2}],
        },
    )
    stubber.add_client_error(
        "search_place_index_for_text", service_error_code="ThrottlingException", http_status_code=429
    )
    with stubber:
        geocoder = LocationServiceGeocoder(client, "idx", min_relevance=0.5)
        assert geocoder.geocode("x") is None
        outcome = BudgetedGeocoder(geocoder, budget_per_batch=3).lookup("y")
    assert outcome.coordinates is None and outcome.reason == "geocoder error: ThrottlingException"


def test_location_service_adapter_reads_the_precision_and_builds_its_client_lazily():
    client = _location_client()
    stubber = Stubber(client)
    place = {"Geometry": {"Point": [-97.74, 30.27]}, "Municipality": "Austin", "Region": "Texas", "Country": "USA"}
    stubber.add_response(
        "search_place_index_for_text",
        {"Summary": {"Text": "Austin TX", "DataSource": "Esri"}, "Results": [{"Place": place, "Relevance": 0.9}]},
    )
    street = {**place, "Street": "Congress Ave", "AddressNumber": "1100", "PostalCode": "78701"}
    stubber.add_response(
        "search_place_index_for_text",
        {"Summary": {"Text": "1100 Congress", "DataSource": "Esri"}, "Results": [{"Place": street, "Relevance": 1.0}]},
    )
    made = []
    with stubber:
        geocoder = LocationServiceGeocoder(lambda: made.append(1) or client, "idx")
        assert made == []  # no client until the first look-up
        assert geocoder.geocode("Austin TX") == (30.27, -97.74, TagPrecision.CITY)
        assert geocoder.geocode("1100 Congress Ave Austin") == (30.27, -97.74, TagPrecision.ROOFTOP)
        assert made == [1]
    stubber.assert_no_pending_responses()


def test_settings_wire_the_geocoder_only_with_a_place_index():
    from territory_router.config import LeadTaggingSettings, load_settings
    from territory_router.services.tagging import geocoder_for

    stack = {"LEADS_TABLE": "leads", "ROUTING_TABLE": "routing", "TERRITORY_BUCKET": "bucket",
             "ASSIGNMENT_QUEUE_URL": "https://sqs/assignment", "TAGGING_DLQ_URL": "https://sqs/tagging-dlq"}
    assert geocoder_for(load_settings(LeadTaggingSettings, {**stack, "PLACE_INDEX_NAME": ""})) is None
    settings = load_settings(LeadTaggingSettings, {**stack, "PLACE_INDEX_NAME": "stack-leads",
                                                   "GEOCODE_BUDGET_PER_BATCH": "7"})
    geocoder = geocoder_for(settings)
    assert isinstance(geocoder, LocationServiceGeocoder) and geocoder.place_index_name == "stack-leads"
    assert settings.geocode_budget_per_batch == 7 and geocoder.countries == ["USA", "CAN"]
