"""Parsing Event Relay events (CDC LeadChangeEvent and Lead_Routing__e) into LeadChange values."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from territory_router.domain.ids import has_valid_checksum, same_id, to_15, to_18
from territory_router.salesforce.events import (
    ChangeKind,
    EventSource,
    ForeignOrgEvent,
    InvalidEvent,
    LeadChange,
    parse_relay_event,
    parse_relay_message,
)
from territory_router_tools.salesforce.samples import (
    cdc_create_event,
    cdc_delete_event,
    cdc_header_only_event,
    cdc_update_event,
    platform_event,
    sample_lead,
)

ORG = "00Dxx0000001gErEAI"
ORG15 = "00Dxx0000001gEr"
LEAD = "00Qxx0000001AbCEAU"
LEAD15 = "00Qxx0000001AbC"
T0 = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


# --- ids ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        # Published examples of the 15 -> 18 conversion.
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("003A0000005QB3A", "003A0000005QB3AIAW"),
        ("00Qxx0000001AbC", "00Qxx0000001AbCEAU"),
    ],
)
def test_to_18_appends_case_checksum(id15: str, id18: str) -> None:
    assert to_18(id15) == id18
    assert to_18(id18) == id18
    assert to_15(id18) == id15
    assert has_valid_checksum(id18)


def test_same_id_is_case_sensitive_on_the_first_15() -> None:
    assert same_id("00Dxx0000001gEr", "00Dxx0000001gErEAI")
    assert not same_id("00Dxx0000001GEr", "00Dxx0000001gErEAI")
    assert not has_valid_checksum("00Qxx0000001AbCAAA")


# --- CREATE ------------------------------------------------------------------------------------------------


def test_create_with_several_record_ids_fans_out_one_change_per_lead() -> None:
    ids = [LEAD15, "00Qxx0000001AbD", "00Qxx0000001AbE"]
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, record_ids=ids, event_id="evt-1", time=T0)

    changes = parse_relay_event(event, expected_org_id=ORG)

    assert [c.lead_id for c in changes] == [to_18(i) for i in ids]
    assert all(len(c.lead_id) == 18 for c in changes)
    assert {c.kind for c in changes} == {ChangeKind.CREATE}
    assert [c.idempotency_key for c in changes] == [f"evt-1:{to_18(i)}" for i in ids]
    assert len({c.idempotency_key for c in changes}) == 3
    for change in changes:
        assert change.event_id == "evt-1"
        assert change.org_id == ORG
        assert change.source is EventSource.CDC
        assert change.gap is False
        assert change.lead is not None and change.lead.lead_id == change.lead_id
        assert change.lead.org_id == ORG
        assert change.commit_timestamp == T0
        assert change.commit_user == "005xx000001SvUNAA0"


def test_create_flattens_compound_name_and_address() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, time=T0)
    assert "Address" in event["detail"]["payload"] and "City" not in event["detail"]["payload"]

    (change,) = parse_relay_event(event, expected_org_id=None)

    lead = change.lead
    assert lead is not None
    assert (lead.first_name, lead.last_name) == ("Ada", "Lovelace")
    assert (lead.street, lead.city, lead.state, lead.postal_code, lead.country) == (
        "415 Mission Street", "San Francisco", "CA", "94105", "US")
    assert (lead.latitude, lead.longitude) == (37.7897, -122.3972)
    assert lead.company == "Analytical Engines Ltd"
    assert lead.status == "Open - Not Contacted"
    assert lead.created_at == T0
    # Fields that are not Lead attributes are kept by API name; nulls and compound parts are not.
    assert lead.sf_fields["IsConverted"] is False
    assert "GeocodeAccuracy" not in lead.sf_fields and "Salutation" not in lead.sf_fields


def test_create_with_iso_dates_and_string_coordinates() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, time=T0, date_format="iso")
    payload = event["detail"]["payload"]
    assert payload["CreatedDate"] == "2026-03-01T12:30:15.123Z"
    payload["Address"]["Latitude"] = "40.7128"
    payload["Address"]["Longitude"] = "-74.0060"

    (change,) = parse_relay_event(event, expected_org_id=ORG)

    assert change.lead.created_at == T0
    assert (change.lead.latitude, change.lead.longitude) == (40.7128, -74.006)


def test_salesforce_rest_style_offset_is_understood() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, time=T0)
    event["detail"]["payload"]["CreatedDate"] = "2026-03-01T14:30:15.123+0200"
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.created_at == T0


def test_empty_strings_become_none_and_half_coordinates_are_dropped() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG)
    payload = event["detail"]["payload"]
    payload["Company"] = "   "
    payload["Address"]["City"] = ""
    payload["Address"]["Longitude"] = ""
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.company is None and change.lead.city is None
    assert change.lead.latitude is None and change.lead.longitude is None


def test_out_of_range_coordinates_do_not_lose_the_lead() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG)
    event["detail"]["payload"]["Address"]["Latitude"] = 123.0
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.latitude is None and change.lead.longitude is None
    assert change.lead.postal_code == "94105"


def test_numeric_postal_code_is_text() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG)
    event["detail"]["payload"]["Address"]["PostalCode"] = 94105
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.postal_code == "94105"


def test_state_code_preferred_over_free_text_state() -> None:
    event = cdc_create_event(sample_lead(LEAD, state="California"), org_id=ORG)
    event["detail"]["payload"]["Address"]["StateCode"] = "CA"
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.state == "CA"


def test_create_from_api_name_mapping() -> None:
    event = cdc_create_event(
        {"LastName": "Hopper", "Company": "Navy", "City": "Arlington", "State": "VA", "OwnerId": "005xx000001SvUN"},
        org_id=ORG, record_ids=[LEAD15],
    )
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.last_name == "Hopper" and change.lead.state == "VA"
    assert change.lead.owner_id == "005xx000001SvUNAA0"  # expanded to 18


def test_parse_relay_message_accepts_bytes_and_text() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, event_id="e-9")
    raw = json.dumps(event)
    assert parse_relay_message(raw, expected_org_id=ORG)[0].idempotency_key == f"e-9:{LEAD}"
    assert parse_relay_message(raw.encode(), expected_org_id=ORG)[0].lead_id == LEAD


# --- other change types ------------------------------------------------------------------------------------


def test_update_gives_changed_fields_flattened_with_nulls() -> None:
    event = cdc_update_event(
        LEAD15, {"Status": "Working - Contacted", "City": "Oakland", "Phone": None},
        org_id=ORG, commit_user="005xx000001SvUN", change_origin="com/salesforce/api/soap/62.0;client=X",
    )
    header = event["detail"]["payload"]["ChangeEventHeader"]
    assert "Address.City" in header["changedFields"] and header["nulledFields"] == ["Phone"]

    (change,) = parse_relay_event(event, expected_org_id=ORG)

    assert change.kind is ChangeKind.UPDATE and change.lead is None
    assert change.lead_id == LEAD
    assert change.changed_fields["Status"] == "Working - Contacted"
    assert change.changed_fields["City"] == "Oakland"
    assert change.changed_fields["Phone"] is None
    assert "LastModifiedDate" in change.changed_fields
    assert change.commit_user == "005xx000001SvUNAA0"
    assert change.change_origin == "com/salesforce/api/soap/62.0;client=X"


def test_update_with_bitmap_changed_fields_falls_back_to_payload_keys() -> None:
    event = cdc_update_event(LEAD, {"OwnerId": "005xx000001SvUNAA0"}, org_id=ORG)
    event["detail"]["payload"]["ChangeEventHeader"]["changedFields"] = ["0x0400002"]
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.changed_fields["OwnerId"] == "005xx000001SvUNAA0"


def test_delete() -> None:
    (change,) = parse_relay_event(cdc_delete_event(LEAD, org_id=ORG, event_id="d-1"), expected_org_id=ORG)
    assert (change.kind, change.lead, change.idempotency_key) == (ChangeKind.DELETE, None, f"d-1:{LEAD}")


def test_undelete_carries_the_lead() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, change_type="UNDELETE")
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.kind is ChangeKind.UNDELETE
    assert change.lead is not None and change.lead.city == "San Francisco"


@pytest.mark.parametrize("change_type", ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"])
def test_gap_events(change_type: str) -> None:
    event = cdc_header_only_event(change_type, [LEAD, "00Qxx0000001AbD"], org_id=ORG)
    changes = parse_relay_event(event, expected_org_id=ORG)
    assert [c.kind for c in changes] == [ChangeKind.GAP, ChangeKind.GAP]
    assert all(c.gap and c.lead is None and c.change_type == change_type for c in changes)


def test_gap_overflow_without_record_ids_gives_one_change_without_lead_id() -> None:
    event = cdc_header_only_event("GAP_OVERFLOW", [], org_id=ORG, event_id="ov-1")
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.kind is ChangeKind.GAP and change.lead_id is None and change.idempotency_key == "ov-1:*"


def test_platform_event() -> None:
    lead = sample_lead(LEAD15 + "EAU", created_at=T0)
    event = platform_event(lead, org_id=ORG, event_id="pe-1", time=T0)
    event["detail"]["payload"]["Lead_Id__c"] = LEAD15
    payload = event["detail"]["payload"]
    assert payload["Latitude__c"] == "37.7897"

    (change,) = parse_relay_event(event, expected_org_id=ORG15)

    assert change.source is EventSource.PLATFORM_EVENT
    assert change.kind is ChangeKind.CREATE
    assert change.lead_id == LEAD and change.idempotency_key == f"pe-1:{LEAD}"
    assert change.lead.latitude == 37.7897 and change.lead.city == "San Francisco"
    assert change.lead.created_at == T0
    assert change.commit_user == "005xx000001SvUNAA0"
    assert change.lead.sf_fields == {}


def test_platform_event_with_custom_extra_fields_and_bare_detail_type() -> None:
    event = platform_event(
        {"Lead_Id__c": LEAD, "City__c": "Austin", "State__c": "TX", "Segment__c": "SMB",
         "Latitude__c": 30.27, "Longitude__c": -97.74},
        org_id=ORG, date_format="epoch_ms", time=T0,
    )
    event["detail-type"] = "Lead_Routing__e"
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.lead.city == "Austin" and change.lead.sf_fields == {"Segment__c": "SMB"}
    assert change.lead.created_at == T0  # from the event's CreatedDate when the lead's own is absent


def test_event_id_falls_back_to_replay_id_then_envelope_id() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG, replay_id=42)
    del event["detail"]["id"]
    assert parse_relay_event(event, expected_org_id=ORG)[0].event_id == "42"
    del event["detail"]["replayId"]
    assert parse_relay_event(event, expected_org_id=ORG)[0].event_id == event["id"]


def test_lead_change_is_frozen() -> None:
    (change,) = parse_relay_event(cdc_create_event(sample_lead(LEAD), org_id=ORG), expected_org_id=ORG)
    assert isinstance(change, LeadChange)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen instances
        change.kind = ChangeKind.DELETE  # type: ignore[misc]


# --- org checks --------------------------------------------------------------------------------------------


def test_foreign_org_is_rejected_15_and_18_compare_equal() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id=ORG15)
    assert parse_relay_event(event, expected_org_id=ORG)[0].org_id == ORG
    with pytest.raises(ForeignOrgEvent) as info:
        parse_relay_event(event, expected_org_id="00Dxx0000009zZz")
    assert info.value.org_id == ORG
    assert "00Dxx0000009zZz" in str(info.value)


def test_org_ids_differing_only_in_case_are_different_orgs() -> None:
    event = cdc_create_event(sample_lead(LEAD), org_id="00DXX0000001GER")
    with pytest.raises(ForeignOrgEvent):
        parse_relay_event(event, expected_org_id=ORG)


def test_invalid_event_reason_never_echoes_personal_data() -> None:
    event = cdc_create_event(sample_lead(LEAD, email="secret.person@example.com"), org_id=ORG)
    bad = copy.deepcopy(event)
    bad["detail"]["payload"]["Email"] = {"nested": "secret.person@example.com"}
    with pytest.raises(InvalidEvent) as info:
        parse_relay_event(bad, expected_org_id=ORG)
    assert "payload.Email" in info.value.reason
    assert "secret" not in info.value.reason


def test_lead_change_survives_a_json_round_trip() -> None:
    """The intake handler passes changes through powertools idempotency as JSON."""
    events = [
        cdc_create_event(sample_lead(LEAD), org_id=ORG, time=T0),
        cdc_update_event(LEAD, {"Status": "Working", "City": "Oakland", "Phone": None}, org_id=ORG),
        cdc_header_only_event("GAP_OVERFLOW", [], org_id=ORG),
        platform_event(sample_lead(LEAD), org_id=ORG),
    ]
    for event in events:
        for change in parse_relay_event(event, expected_org_id=ORG):
            again = LeadChange.model_validate(json.loads(json.dumps(change.model_dump(mode="json"))))
            assert again == change
