"""``leads explain`` text for assigned, re-routed and escalated leads (pure formatting)."""

from __future__ import annotations

from datetime import UTC, datetime

from territory_router_tools.cli.leads import explain_text

NOW = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def test_rerouted_lead() -> None:
    item = {
        "lead_id": "00Q000000000001EAA",
        "status": "ASSIGNED",
        "version": 5,
        "owner_id": "005000000000002AAA",
        "owner_name": "Diego",
        "owner_kind": "USER",
        "group_id": "WEST",
        "assigned_at": "2026-11-30T16:01:00Z",
        "territory_id": "WEST",
        "tag_method": "POLYGON",
        "sla_due_at": int(datetime(2026, 11, 30, 16, 31, tzinfo=UTC).timestamp()),
        "reroute_shard": "DUE",
        "reroute_count": 1,
        "previous_owners": ["005000000000001AAA"],
        "counted_rep_id": "005000000000002AAA",
        "decision": {
            "summary": "Diego from group WEST: round robin: next eligible member after 005000000000001AAA (turn 4)",
            "territory_id": "WEST",
            "excluded": ["005000000000001AAA"],
            "groups": [
                {
                    "group_id": "WEST", "role": "primary", "strategy": "round_robin",
                    "pointer": {"seq": 3, "last_rep_id": "005000000000001AAA"},
                    "candidates": [
                        {"rep_id": "005000000000001AAA", "name": "Ava", "load": "3/5", "result": "skipped",
                         "reason": "excluded: current owner (missed the SLA)"},
                        {"rep_id": "005000000000002AAA", "name": "Diego", "load": "1/5", "result": "eligible"},
                    ],
                    "chosen": "005000000000002AAA",
                    "why": "round robin: next eligible member after 005000000000001AAA (turn 4)",
                }
            ],
            "reroute": "re-route 1 of 2: 005000000000001AAA missed the SLA due 2026-11-30T16:00:00Z",
        },
    }
    text = explain_text(item, now=NOW)
    assert "SLA due: 2026-11-30T16:31Z (waiting for a first touch) - LATE" in text
    assert "Re-routed 1 time(s); previous owners: 005000000000001AAA" in text
    assert "✗ 005000000000001AAA Ava [3/5] excluded: current owner (missed the SLA)" in text
    assert "✓ 005000000000002AAA Diego [1/5] eligible" in text
    assert "Re-route: re-route 1 of 2" in text
    assert "Located by: the lead's own coordinates (precision ROOFTOP)" in text  # a record from before precision


def test_precision_of_a_postal_centroid_tag() -> None:
    item = {"lead_id": "00Q000000000001EAA", "status": "TAGGED", "territory_id": "WEST", "tag_method": "POSTAL_CENTROID",
            "tag_precision": "POSTAL_CODE", "tag_note": "no coordinates; placed at the ZIP 94105 centroid"}  # fmt: skip
    text = explain_text(item, now=NOW)
    assert "Territory: WEST by POSTAL_CENTROID: no coordinates; placed at the ZIP 94105 centroid" in text
    assert "Located by: its postal code (centroid or a territory's postal list) (precision POSTAL_CODE)" in text


def test_escalated_lead_to_a_queue() -> None:
    item = {
        "lead_id": "00Q000000000001EAA",
        "status": "ESCALATED",
        "owner_id": "00G000000000001EAA",
        "owner_kind": "QUEUE",
        "decision": {"summary": "escalated to 00G000000000001EAA (escalation owner of group WEST)",
                     "escalation": "previous owners 005000000000001AAA, 005000000000002AAA"},
    }
    text = explain_text(item, now=NOW)
    assert "Owner: 00G000000000001EAA [queue]" in text
    assert "Decision: escalated to 00G000000000001EAA" in text
    assert "Escalation: previous owners" in text
    assert "SLA due" not in text
