"""Late geocodes: which Lead UPDATEs change where a lead is, and the stored lead with the new location."""

from __future__ import annotations

from typing import Any

import pytest

from territory_router.domain.leads import Lead
from territory_router.salesforce.events import parse_relay_event
from territory_router.salesforce.geocodes import relocated
from territory_router.salesforce.lifecycle import Action, classify_update
from territory_router_tools.salesforce.samples import cdc_update_event

ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
INTEGRATION_USER = "005xx000000IntgAAC"
GEOCODER = "005xx000000GeoCAAA"
OWNER = "005xx000002RepAAAS"


def _change(changes: dict[str, Any], user: str = GEOCODER):
    (change,) = parse_relay_event(cdc_update_event(LEAD, changes, org_id=ORG, commit_user=user), expected_org_id=ORG)
    return change


def _classify(change):
    return classify_update(change, integration_user_id=INTEGRATION_USER, our_owner_id=OWNER)


@pytest.mark.parametrize(
    "changes",
    [
        {"Latitude": 40.76, "Longitude": -111.89, "GeocodeAccuracy": "Address"},  # Salesforce's geocode clean rule
        {"PostalCode": "84101"},  # an address edit
        {"Street": "1 Main St", "City": "Salt Lake City", "StateCode": "UT"},
        {"Latitude": None, "Longitude": None},  # coordinates cleared
    ],
)
def test_location_changes_are_geocoded(changes) -> None:
    action = _classify(_change(changes))
    assert action.action is Action.GEOCODED and "location changed" in action.reason


def test_attention_and_closing_win_over_a_location_change() -> None:
    assert _classify(_change({"Status": "Working - Contacted", "Latitude": 1.0, "Longitude": 2.0}, user=OWNER)).action is Action.ATTENDED
    assert _classify(_change({"Status": "Closed - Not Converted", "City": "Ogden"})).action is Action.CLOSED
    # our integration never moves a lead: its changes stay echoes
    assert _classify(_change({"City": "Ogden"}, user=INTEGRATION_USER)).action is Action.NONE
    assert _classify(_change({"Industry": "Retail"})).action is Action.NONE


def test_relocated_applies_the_changed_fields_only() -> None:
    lead = Lead(lead_id=LEAD, last_name="Geo", postal_code="89501", state="NV", country="US", city="Reno",
                sf_fields={"Rating": "Hot"})  # fmt: skip
    change = _change({"Latitude": "40.7608", "Longitude": -111.891, "GeocodeAccuracy": "Zip", "City": "Salt Lake City",
                      "State": "Utah", "StateCode": "UT"})  # fmt: skip
    moved = relocated(lead, change.changed_fields)
    assert (moved.latitude, moved.longitude) == (40.7608, -111.891)
    assert (moved.city, moved.state, moved.postal_code, moved.country) == ("Salt Lake City", "UT", "89501", "US")
    assert moved.sf_fields == {"Rating": "Hot", "GeocodeAccuracy": "Zip"}
    assert moved.last_name == "Geo" and moved.lead_id == LEAD


def test_relocated_never_keeps_half_a_coordinate_nor_junk() -> None:
    lead = Lead(lead_id=LEAD, latitude=39.5, longitude=-119.8, sf_fields={"GeocodeAccuracy": "Address"})
    cleared = relocated(lead, _change({"Latitude": None}).changed_fields)
    assert (cleared.latitude, cleared.longitude) == (None, None)
    junk = relocated(lead, {"Latitude": "north", "Longitude": 5.0, "GeocodeAccuracy": None})
    assert (junk.latitude, junk.longitude) == (None, None) and "GeocodeAccuracy" not in junk.sf_fields
    out_of_range = relocated(lead, {"Latitude": 123.0, "Longitude": 5.0})
    assert out_of_range.latitude is None
