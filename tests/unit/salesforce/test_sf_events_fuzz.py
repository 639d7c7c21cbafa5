"""Property: whatever a hostile sender puts anywhere in an event, parsing either succeeds or raises InvalidEvent."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory_router.salesforce.events import (
    InvalidEvent,
    LeadChange,
    parse_relay_event,
    parse_relay_message,
)
from territory_router_tools.salesforce.samples import (
    cdc_create_event,
    cdc_update_event,
    platform_event,
    sample_lead,
)

ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
BASES = [
    cdc_create_event(sample_lead(LEAD), org_id=ORG, event_id="e1"),
    cdc_update_event(LEAD, {"Status": "Working", "City": "Oakland", "Phone": None}, org_id=ORG, event_id="e2"),
    platform_event(sample_lead(LEAD), org_id=ORG, event_id="e3"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
lone_surrogates = st.text(max_size=10).map(lambda t: t + "\ud800")  # valid JSON escapes, invalid Unicode


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(_paths(child, (*prefix, index)))
    return paths


def _replace(event: dict, path: tuple, value: Any) -> Any:
    if not path:
        return value
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(range(len(BASES))), pick=st.integers(min_value=0), value=lone_surrogates | json_values,
       delete=st.booleans())
def test_any_mutation_parses_or_raises_invalid_event(base: int, pick: int, value: Any, delete: bool) -> None:
    event = copy.deepcopy(BASES[base])
    paths = _paths(event)
    path = paths[pick % len(paths)]
    if delete and path:
        target = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        mutated = event
    else:
        mutated = _replace(event, path, value)
    try:
        changes = parse_relay_event(mutated, expected_org_id=ORG)
    except InvalidEvent as exc:
        assert exc.reason and len(exc.reason) < 2000
        return
    for change in changes:
        assert isinstance(change, LeadChange)
        assert change.lead_id is None or len(change.lead_id) == 18
        # What we accept must survive the JSON round trip the intake handler makes.
        LeadChange.model_validate(json.loads(change.model_dump_json()))


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_bytes_parse_or_raise_invalid_event(raw: bytes) -> None:
    with contextlib.suppress(InvalidEvent):
        parse_relay_message(raw, expected_org_id=ORG)
