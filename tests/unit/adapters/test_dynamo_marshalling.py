"""The one DynamoDB marshaller (adapters/dynamo.py): the cases where the routing store's former copy disagreed."""

from __future__ import annotations

from datetime import UTC, datetime

from territory_router.adapters.dynamo import from_item, to_attr, to_item


def test_sets_become_sorted_lists_not_string_sets() -> None:
    # the routing store's copy sent sets to DynamoDB as SS (unordered, and an empty set was refused)
    assert to_attr({"b", "a"}) == {"L": [{"S": "a"}, {"S": "b"}]}
    assert to_attr(set()) == {"L": []}


def test_floats_are_exact_decimals_and_bools_stay_bools() -> None:
    assert to_attr(0.1) == {"N": "0.1"}
    assert to_attr(True) == {"BOOL": True}
    assert to_attr({"lat": 39.7392, "ok": False}) == {"M": {"lat": {"N": "39.7392"}, "ok": {"BOOL": False}}}


def test_datetimes_are_iso_strings_and_none_values_are_dropped_from_items() -> None:
    at = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert to_item({"a": at, "b": None, "c": (1, 2)}) == {"a": {"S": "2026-11-30T15:00:00+00:00"},
                                                          "c": {"L": [{"N": "1"}, {"N": "2"}]}}


def test_reading_back_gives_plain_json_values() -> None:
    item = {"n": {"N": "3"}, "f": {"N": "2.5"}, "m": {"M": {"x": {"L": [{"N": "1"}]}}}, "ss": {"SS": ["a"]}}
    assert from_item(item) == {"n": 3, "f": 2.5, "m": {"x": [1]}, "ss": ["a"]}
    assert isinstance(from_item(item)["n"], int)
    assert from_item(None) is None
