"""Bitmap changedFields/nulledFields (Pub/Sub form), decoded with the event schema or read from the payload keys,
and wildcard record ids (reconciliation, not the DLQ)."""

from __future__ import annotations

import copy

import pytest

from territory_router.adapters.event_schemas import EventSchemaCache
from territory_router.salesforce.bitmap import (
    EventSchema,
    UndecodableBitmap,
    decode_field_list,
    encode_field_list,
    has_bitmaps,
    set_bits,
)
from territory_router.salesforce.events import ChangeKind, InvalidEvent, parse_relay_event
from territory_router.salesforce.lifecycle import Action, classify_update
from territory_router.salesforce.samples import (
    LEAD_CHANGE_EVENT_AVRO,
    cdc_update_event,
    lead_change_event_schema,
)

ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
REP = "005xx000001SvUNAA0"
OTHER_REP = "005xx000001SvUOAA0"
SCHEMA = lead_change_event_schema()


# --- the bitmap itself ------------------------------------------------------------------------------------


def test_bit_order_follows_salesforce_reference_decoder() -> None:
    # The documented example value: bit i (least significant first) is schema field i, as ChangeEventHeaderUtility.py
    # (BitArray(hex).bin reversed) reads it.
    assert set_bits("650004E0") == [5, 6, 7, 10, 24, 26, 29, 30]
    assert set_bits("1") == [0] and set_bits("10") == [4] and set_bits("0") == []
    # the reference's own steps: hex -> binary string -> reversed -> positions of "1"
    for value in ("650004E0", "10", "06", "4E0", "FFFF0001"):
        binary = "".join(f"{int(c, 16):04b}" for c in value)[::-1]
        assert set_bits(value) == [i for i, bit in enumerate(binary) if bit == "1"]


def test_schema_from_avro_follows_unions_and_named_types() -> None:
    doc = {
        "type": "record", "name": "AccountChangeEvent", "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "ChangeEventHeader", "type": "string"},
            {"name": "BillingAddress", "type": ["null", {"type": "record", "name": "Address",
                                                         "fields": [{"name": "Street"}, {"name": "City"}]}]},
            {"name": "Phone", "type": ["null", "string"]},
            {"name": "ShippingAddress", "type": ["null", "com.sforce.eventbus.Address"]},  # named type reuse
        ],
    }
    schema = EventSchema.from_avro(doc, schema_id="abc")
    assert schema.fields == ("ChangeEventHeader", "BillingAddress", "Phone", "ShippingAddress")
    assert schema.nested == {1: ("Street", "City"), 3: ("Street", "City")}
    assert decode_field_list(["0x4", "3-0x2", "1-0x1"], schema) == ["Phone", "ShippingAddress.City", "BillingAddress.Street"]
    with pytest.raises(ValueError, match="fields"):
        EventSchema.from_avro({"type": "record"})


def test_decode_plain_and_nested_and_names_pass_through() -> None:
    names = ["Status", "OwnerId", "LastModifiedDate", "Name.FirstName", "Address.City", "Address.PostalCode"]
    encoded = encode_field_list(names, SCHEMA)
    # Name is field 1 (FirstName its component 1), Address field 5 (City 1, PostalCode 3: 0b1010)
    assert encoded[0].startswith("0x") and encoded[1:] == ["1-0x2", "5-0xA"]
    assert sorted(decode_field_list(encoded, SCHEMA)) == sorted(names)
    assert decode_field_list(["Status"], SCHEMA) == ["Status"]  # the name form is left alone
    assert has_bitmaps(encoded) and not has_bitmaps(["Status", "Address.City", "0xZZ"])


@pytest.mark.parametrize("value", ["0x" + "F" * 20, "2-0x1", "99-0x1", "1-0x1000"])
def test_bitmaps_that_do_not_fit_the_schema_are_refused(value: str) -> None:
    with pytest.raises(UndecodableBitmap):
        decode_field_list([value], SCHEMA)


def test_huge_bitmaps_are_refused_not_computed() -> None:
    with pytest.raises(UndecodableBitmap):
        set_bits("F" * 5000)


# --- parsing UPDATEs with bitmaps --------------------------------------------------------------------------


def status_change(**kw):
    return cdc_update_event(LEAD, {"Status": "Working - Contacted"}, org_id=ORG, commit_user=REP,
                            bitmap_schema=SCHEMA, **kw)


def test_bitmap_decoded_with_the_schema() -> None:
    event = status_change()
    assert event["detail"]["payload"]["ChangeEventHeader"]["changedFields"][0].startswith("0x")
    (change,) = parse_relay_event(event, expected_org_id=ORG, schemas={SCHEMA.schema_id: SCHEMA}.get)
    assert change.changed_fields_source == "bitmap"
    assert change.changed_fields["Status"] == "Working - Contacted"
    assert set(change.changed_fields) == {"Status", "LastModifiedDate"}


def test_nested_bitmap_and_nulled_bitmap_decoded() -> None:
    event = cdc_update_event(LEAD, {"City": "Oakland", "Phone": None, "FirstName": "Ada"}, org_id=ORG,
                             bitmap_schema=SCHEMA)
    header = event["detail"]["payload"]["ChangeEventHeader"]
    assert any("-0x" in v for v in header["changedFields"]) and header["nulledFields"][0].startswith("0x")
    (change,) = parse_relay_event(event, expected_org_id=ORG, schemas=lambda _id: SCHEMA)
    assert change.changed_fields == {"City": "Oakland", "FirstName": "Ada", "LastModifiedDate": change.changed_fields["LastModifiedDate"],
                                     "Phone": None}


def test_without_the_schema_the_payload_keys_stand_in_and_status_is_not_lost() -> None:
    event = status_change()
    for schemas in (None, lambda _id: None):
        (change,) = parse_relay_event(event, expected_org_id=ORG, schemas=schemas)
        assert change.changed_fields_source == "payload"
        assert change.changed_fields["Status"] == "Working - Contacted"
        action = classify_update(change, integration_user_id=None, our_owner_id=REP)
        assert action.action is Action.ATTENDED and action.status == "Working - Contacted"


def test_a_schema_that_does_not_fit_falls_back_to_the_payload() -> None:
    tiny = EventSchema(schema_id="other", fields=("ChangeEventHeader", "Status"))
    (change,) = parse_relay_event(status_change(), expected_org_id=ORG, schemas=lambda _id: tiny)
    assert change.changed_fields_source == "payload" and change.changed_fields["Status"] == "Working - Contacted"


def test_owner_change_in_bitmap_form_is_seen_either_way() -> None:
    event = cdc_update_event(LEAD, {"OwnerId": OTHER_REP}, org_id=ORG, commit_user=OTHER_REP, bitmap_schema=SCHEMA)
    for schemas in (None, lambda _id: SCHEMA):
        (change,) = parse_relay_event(event, expected_org_id=ORG, schemas=schemas)
        action = classify_update(change, integration_user_id=None, our_owner_id=REP)
        assert action.action is Action.ATTENDED and action.owner_id == OTHER_REP


def test_pubsub_style_payload_with_unchanged_fields_as_null() -> None:
    # Pub/Sub sends every field, unchanged ones null: the non-null keys are the change.
    event = status_change()
    payload = event["detail"]["payload"]
    payload.update({"Company": None, "Email": None, "OwnerId": None, "Address": {"City": None, "Street": None}})
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert set(change.changed_fields) == {"Status", "LastModifiedDate"}


def test_schema_cache_fetches_once_and_backs_off_after_a_failure() -> None:
    calls: list[str] = []
    now = [0.0]

    def fetch(schema_id: str):
        calls.append(schema_id)
        if schema_id == "broken":
            raise OSError("Salesforce unreachable")
        return LEAD_CHANGE_EVENT_AVRO if schema_id == "known" else None

    cache = EventSchemaCache(fetch, retry_after_s=300, clock=lambda: now[0])
    assert cache("known").fields == SCHEMA.fields and cache("known") is cache("known")
    assert cache("broken") is None and cache("broken") is None
    assert cache("unknown") is None
    assert calls == ["known", "broken", "unknown"]
    now[0] = 301.0
    assert cache("broken") is None and calls[-1] == "broken" and len(calls) == 4


# --- wildcard record ids ------------------------------------------------------------------------------------


def test_wildcard_record_ids_ask_for_a_reconciliation() -> None:
    event = cdc_update_event("00Q*", {"Status": "Working"}, org_id=ORG)
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    assert change.kind is ChangeKind.RECONCILE and change.lead_id is None
    assert change.reconcile.record_pattern == "00Q*" and change.reconcile.entity == "Lead"
    assert change.idempotency_key.endswith(":00Q*")


def test_wildcard_next_to_real_ids_keeps_the_real_ones() -> None:
    event = cdc_update_event([LEAD, "00Q*"], {"Status": "Working"}, org_id=ORG)
    kinds = [(c.kind, c.lead_id) for c in parse_relay_event(event, expected_org_id=ORG)]
    assert kinds == [(ChangeKind.UPDATE, LEAD), (ChangeKind.RECONCILE, None)]


@pytest.mark.parametrize("pattern", ["001*", "003*", "00T*"])
def test_wildcard_of_another_entity_is_refused(pattern: str) -> None:
    event = cdc_update_event(LEAD, {"Status": "Working"}, org_id=ORG)
    event = copy.deepcopy(event)
    event["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [pattern]
    with pytest.raises(InvalidEvent, match="wildcard"):
        parse_relay_event(event, expected_org_id=ORG)
