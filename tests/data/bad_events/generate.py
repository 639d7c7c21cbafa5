"""Regenerate the corpus of malformed/hostile Event Relay events in this folder.

Run: ``.venv/bin/python tests/data/bad_events/generate.py``. Each case is written as raw bytes
(``<name>.json``, possibly not JSON at all) and ``expected.json`` maps the file name to the exception class and a
substring of the reason ``parse_relay_message(..., expected_org_id=EXPECTED_ORG)`` must give.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from territory_router.salesforce.samples import (
    cdc_activity_event,
    cdc_create_event,
    platform_event,
    sample_lead,
)

HERE = Path(__file__).resolve().parent
EXPECTED_ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _cdc() -> dict[str, Any]:
    event = cdc_create_event(sample_lead(LEAD), org_id=EXPECTED_ORG, event_id="bad-evt", time=T0)
    event["id"] = "00000000-0000-4000-8000-000000000000"
    event["detail"]["payload"]["ChangeEventHeader"]["transactionKey"] = "tx-1"
    return event


def _pe() -> dict[str, Any]:
    event = platform_event(sample_lead(LEAD), org_id=EXPECTED_ORG, event_id="bad-pe", time=T0)
    event["id"] = "00000000-0000-4000-8000-000000000001"
    return event


def _task() -> dict[str, Any]:
    event = cdc_activity_event("Task", "00Txx0000001AbCEAU", {"WhoId": LEAD, "TaskSubtype": "Call"},
                               org_id=EXPECTED_ORG, event_id="bad-task", time=T0)
    event["id"] = "00000000-0000-4000-8000-000000000002"
    event["detail"]["payload"]["ChangeEventHeader"]["transactionKey"] = "tx-2"
    return event


def _mutate(base: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], None]) -> bytes:
    event = copy.deepcopy(base())
    change(event)
    return json.dumps(event, indent=1).encode()


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    return event["detail"]["payload"]


def _header(event: dict[str, Any]) -> dict[str, Any]:
    return event["detail"]["payload"]["ChangeEventHeader"]


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


P = ["detail", "payload"]
H = [*P, "ChangeEventHeader"]
INVALID, FOREIGN = "InvalidEvent", "ForeignOrgEvent"


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def _huge(event: dict[str, Any]) -> None:
    _payload(event)["Description"] = "lorem ipsum " * 25_000  # ~300 KB


CASES: dict[str, tuple[bytes, str, str]] = {
    "01_not_json": (b"hello, this is not JSON", INVALID, "not JSON"),
    "02_empty_file": (b"", INVALID, "not JSON"),
    "03_json_array": (b"[]", INVALID, "must be a JSON object"),
    "04_json_string": (b'"LeadChangeEvent"', INVALID, "must be a JSON object"),
    "05_invalid_utf8": (b'{"version": "0", "id": "\xff\xfe\xc3\x28", "detail": {}}', INVALID, "not valid UTF-8"),
    "06_huge_payload": (_mutate(_cdc, _huge), INVALID, "larger than 256 KB"),
    "07_deeply_nested_array": (b"[" * 100_000 + b"]" * 100_000, INVALID, "nested deeper"),
    "08_deeply_nested_payload": (_mutate(_cdc, _set([*P, "Description"], _nested(40))), INVALID, "nested deeper"),
    "09_missing_detail": (_mutate(_cdc, _delete(["detail"])), INVALID, "detail: Field required"),
    "10_missing_source": (_mutate(_cdc, _delete(["source"])), INVALID, "source: Field required"),
    "11_missing_detail_type": (_mutate(_cdc, _delete(["detail-type"])), INVALID, "detail-type: Field required"),
    "12_detail_not_object": (_mutate(_cdc, _set(["detail"], "payload")), INVALID, "detail: Input should be"),
    "13_missing_payload": (_mutate(_cdc, _delete(P)), INVALID, "detail.payload: Field required"),
    "14_payload_is_list": (_mutate(_cdc, _set(P, [1, 2])), INVALID, "detail.payload: Input should be"),
    "15_source_not_salesforce": (
        _mutate(_cdc, _set(["source"], "aws.partner/example.com/00Dxx0000001gEr/0YL")), INVALID,
        "not a Salesforce partner event source"),
    "16_source_without_relay": (
        _mutate(_cdc, _set(["source"], "aws.partner/salesforce.com/00Dxx0000001gErEAI")), INVALID,
        "aws.partner/salesforce.com/<orgId>/<relayId>"),
    "17_source_org_is_account_id": (
        _mutate(_cdc, _set(["source"], "aws.partner/salesforce.com/001xx0000001gErEAI/0YLxx0000000001GAA")),
        INVALID, "not a Salesforce organization id"),
    "18_foreign_org": (
        _mutate(_cdc, _set(["source"], "aws.partner/salesforce.com/00Dxx0000009zZzAAA/0YLxx0000000001GAA")),
        FOREIGN, "accepts only org 00Dxx0000001gErEAI"),
    "19_foreign_org_15": (
        _mutate(_cdc, _set(["source"], "aws.partner/salesforce.com/00Dxx0000009zZz/0YLxx0000000001GAA")),
        FOREIGN, "event from org 00Dxx0000009zZz"),
    "20_org_id_case_differs": (
        _mutate(_cdc, _set(["source"], "aws.partner/salesforce.com/00DXX0000001GER/0YLxx0000000001GAA")),
        FOREIGN, "accepts only org"),
    "21_unknown_detail_type_account": (
        _mutate(_cdc, _set(["detail-type"], "/data/AccountChangeEvent")), INVALID, "unsupported event channel"),
    "22_unknown_platform_event": (
        _mutate(_pe, _set(["detail-type"], "/event/Order_Placed__e")), INVALID, "unsupported event channel"),
    "23_non_lead_entity": (_mutate(_cdc, _set([*H, "entityName"], "Account")), INVALID, "only Lead changes"),
    "24_missing_change_event_header": (_mutate(_cdc, _delete(H)), INVALID, "ChangeEventHeader: missing"),
    "25_header_not_object": (_mutate(_cdc, _set(H, "CREATE")), INVALID, "ChangeEventHeader: must be an object"),
    "26_unknown_change_type": (_mutate(_cdc, _set([*H, "changeType"], "MERGE")), INVALID, "unknown change type"),
    "27_missing_change_type": (_mutate(_cdc, _delete([*H, "changeType"])), INVALID, "changeType: Field required"),
    "28_no_record_ids": (_mutate(_cdc, _set([*H, "recordIds"], [])), INVALID, "recordIds: no record id"),
    "29_record_id_not_a_lead": (
        _mutate(_cdc, _set([*H, "recordIds"], ["001xx0000001AbCEAU"])), INVALID, "not a Lead id"),
    "30_record_id_malformed": (
        _mutate(_cdc, _set([*H, "recordIds"], ["00Q-'; DROP TABLE"])), INVALID, "recordIds.0: not a 15/18"),
    "31_record_ids_not_list": (_mutate(_cdc, _set([*H, "recordIds"], LEAD)), INVALID, "recordIds: Input should be"),
    "32_too_many_record_ids": (
        _mutate(_cdc, _set([*H, "recordIds"], [LEAD] * 2001)), INVALID, "more than 2000 ids"),
    "33_commit_timestamp_text": (
        _mutate(_cdc, _set([*H, "commitTimestamp"], "yesterday")), INVALID, "commitTimestamp: not an ISO-8601"),
    "34_commit_timestamp_out_of_range": (
        _mutate(_cdc, _set([*H, "commitTimestamp"], 10**20)), INVALID, "commitTimestamp: epoch milliseconds out of range"),
    "35_created_date_garbage": (
        _mutate(_cdc, _set([*P, "CreatedDate"], "31/02/2026")), INVALID, "payload.CreatedDate"),
    "36_latitude_not_a_number": (
        _mutate(_cdc, _set([*P, "Address", "Latitude"], "north")), INVALID, "payload.Latitude: expected a number"),
    "37_latitude_object": (
        _mutate(_cdc, _set([*P, "Address", "Latitude"], {"deg": 37})), INVALID, "payload.Latitude: expected a number"),
    "38_longitude_boolean": (
        _mutate(_cdc, _set([*P, "Address", "Longitude"], True)), INVALID, "payload.Longitude: expected a number"),
    "39_company_is_list": (
        _mutate(_cdc, _set([*P, "Company"], ["Acme", "Inc"])), INVALID, "payload.Company: expected text"),
    "40_address_not_object": (
        _mutate(_cdc, _set([*P, "Address"], "1 Main St")), INVALID, "payload.Address: compound field must be an object"),
    "41_commit_user_malformed": (
        _mutate(_cdc, _set([*H, "commitUser"], "not-a-user")), INVALID, "commitUser: not a 15/18"),
    "42_sequence_number_text": (
        _mutate(_cdc, _set([*H, "sequenceNumber"], "first")), INVALID, "sequenceNumber"),
    "43_event_id_too_long": (_mutate(_cdc, _set(["detail", "id"], "e" * 1000)), INVALID, "event id longer"),
    "44_envelope_id_empty": (_mutate(_cdc, _set(["id"], "")), INVALID, "id: String should have at least 1"),
    "45_platform_missing_lead_id": (
        _mutate(_pe, _delete([*P, "Lead_Id__c"])), INVALID, "Lead_Id__c: Field required"),
    "46_platform_lead_id_is_contact": (
        _mutate(_pe, _set([*P, "Lead_Id__c"], "003A0000005QB3AIAW")), INVALID, "Lead_Id__c: not a Lead id"),
    "47_platform_lead_id_number": (
        _mutate(_pe, _set([*P, "Lead_Id__c"], 12345)), INVALID, "Lead_Id__c: Input should be a valid string"),
    "48_platform_latitude_text": (
        _mutate(_pe, _set([*P, "Latitude__c"], "thirty-seven")), INVALID, "payload.Latitude__c: expected a number"),
    "49_platform_custom_field_object": (
        _mutate(_pe, _set([*P, "City__c"], {"name": "SF"})), INVALID, "payload.City__c: expected text"),
    "50_schema_id_object": (
        _mutate(_cdc, _set(["detail", "schemaId"], {"id": 1})), INVALID, "detail.schemaId"),
    "51_text_field_too_long": (
        _mutate(_cdc, _set([*P, "Company"], "A" * 40_000)), INVALID, "payload.Company: text longer"),
    "52_platform_event_infinity_date": (
        _mutate(_pe, _set([*P, "CreatedDate"], float("inf"))), INVALID, "CreatedDate: epoch milliseconds out of range"),
    "53_lone_surrogate_escape": (
        json.dumps(_cdc()).replace("Analytical Engines Ltd", "Bad \\ud800 Co").encode(), INVALID,
        "invalid Unicode"),
    # Activities (TaskChangeEvent/EventChangeEvent) and wildcard record ids: malformed ones are refused like the rest
    # (an activity on a contact, or a 00Q* wildcard, is valid and is not here).
    "54_activity_who_id_malformed": (
        _mutate(_task, _set([*P, "WhoId"], "00Q-not-an-id")), INVALID, "payload.WhoId: not a 15/18"),
    "55_activity_entity_mismatch": (
        _mutate(_task, _set([*H, "entityName"], "Lead")), INVALID, "a TaskChangeEvent must be about Task"),
    "56_activity_record_id_is_a_lead": (
        _mutate(_task, _set([*H, "recordIds"], [LEAD])), INVALID, "not a Task id"),
    "57_wildcard_of_another_entity": (
        _mutate(_cdc, _set([*H, "recordIds"], ["001*"])), INVALID, "wildcard names records that are not"),
}


def main() -> None:
    for old in HERE.glob("[0-9]*.json"):
        old.unlink()
    expected = {}
    for name, (raw, error, reason) in CASES.items():
        (HERE / f"{name}.json").write_bytes(raw)
        expected[f"{name}.json"] = {"error": error, "reason": reason}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
