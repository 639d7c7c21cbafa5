"""Logs never contain a lead's email, phone or street."""

from __future__ import annotations

import io
import json

from territory_router.observability import REDACTED, make_logger, redact


def test_redact_keys_nested_and_patterns_in_text() -> None:
    record = {
        "lead": {"Email": "ada@example.com", "Phone": "+1 415 555 0100", "Street": "1 Main St", "City": "Austin"},
        "message": "could not reach grace@example.org at (415) 555-0199",
        "lead_id": "00QDm0000000001AAA",
        "items": [{"email": "x@y.io"}],
    }
    out = redact(record)
    assert out["lead"] == {"Email": REDACTED, "Phone": REDACTED, "Street": REDACTED, "City": "Austin"}
    assert "grace@example.org" not in out["message"] and "555-0199" not in out["message"]
    assert out["lead_id"] == "00QDm0000000001AAA"  # Salesforce ids are not phone numbers
    assert out["items"] == [{"email": REDACTED}]
    assert record["lead"]["Email"] == "ada@example.com"  # the original is untouched


def test_handler_logger_writes_no_contact_data() -> None:
    stream = io.StringIO()
    logger = make_logger(service="test", stream=stream)
    logger.info("lead received", extra={"lead": {"email": "ada@example.com", "phone": "4155550100", "street": "1 Main"}})
    logger.warning("bad address for ada@example.com")
    text = stream.getvalue()
    for secret in ("ada@example.com", "4155550100", "1 Main"):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["lead"]["email"] == REDACTED and lines[1]["message"] == f"bad address for {REDACTED}"
