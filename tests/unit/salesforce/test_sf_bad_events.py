"""Every malformed or hostile event of the corpus gives a clear InvalidEvent/ForeignOrgEvent, fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from territory_router.salesforce.events import (
    ForeignOrgEvent,
    InvalidEvent,
    parse_relay_event,
    parse_relay_message,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "bad_events"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
EXPECTED_ORG = "00Dxx0000001gErEAI"


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.glob("[0-9]*.json"))
    assert len(files) >= 30
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_event_is_rejected_with_a_clear_reason(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    expected = EXPECTED[name]
    cls = ForeignOrgEvent if expected["error"] == "ForeignOrgEvent" else InvalidEvent

    started = time.perf_counter()
    with pytest.raises(InvalidEvent) as info:
        parse_relay_message(raw, expected_org_id=EXPECTED_ORG)
    elapsed = time.perf_counter() - started

    assert type(info.value) is cls, f"{name}: {type(info.value).__name__}: {info.value.reason}"
    assert expected["reason"] in info.value.reason, f"{name}: {info.value.reason!r}"
    assert len(info.value.reason) < 1000
    assert elapsed < 2.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_event_as_dict_is_rejected_too(name: str) -> None:
    """The SQS handler may hand over an already-decoded dict: same verdict when the bytes were JSON."""
    try:
        event = json.loads((CORPUS / name).read_bytes())
    except (ValueError, RecursionError):
        pytest.skip("not JSON: only reachable as raw bytes")
    if len(json.dumps(event)) > 256 * 1024:
        expected_reason = "larger than 256 KB"
    else:
        expected_reason = EXPECTED[name]["reason"]
    with pytest.raises(InvalidEvent) as info:
        parse_relay_event(event, expected_org_id=EXPECTED_ORG)
    assert expected_reason in info.value.reason


def test_the_good_base_events_of_the_corpus_parse() -> None:
    """The corpus mutates valid events: make sure the unmutated ones are accepted (so each case tests one flaw)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_events_generate", CORPUS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)

    assert parse_relay_event(module._cdc(), expected_org_id=EXPECTED_ORG)[0].lead_id == module.LEAD
    assert parse_relay_event(module._pe(), expected_org_id=EXPECTED_ORG)[0].lead_id == module.LEAD
