"""SLA due times: calendar minutes, business hours across nights, weekends and DST; where the SLA comes from."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from territory_router.assignment.roster import WorkingHours, parse_roster, sf_id18
from territory_router.assignment.sla import SlaPolicy, due_at, sla_for

NY = WorkingHours(tz="America/New_York", days="Mon-Fri", start="09:00", end="17:00")


def test_calendar_minutes() -> None:
    t = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)
    assert due_at(t, SlaPolicy(60)) == datetime(2026, 11, 27, 23, 30, tzinfo=UTC)


def test_business_hours_friday_evening_is_due_monday() -> None:
    friday_1730_ny = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)
    assert due_at(friday_1730_ny, SlaPolicy(60, True, NY)) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Mon 10:00


def test_business_hours_split_over_two_days() -> None:
    tue_1630_ny = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    # 30 minutes on Tuesday, 90 on Wednesday -> Wednesday 10:30 New York
    assert due_at(tue_1630_ny, SlaPolicy(120, True, NY)) == datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


def test_business_hours_across_dst_change() -> None:
    fri = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Fri 16:30 EST; DST starts Sun 8 March
    # 30 min Friday, 30 min Monday from 09:00 EDT (13:00 UTC)
    assert due_at(fri, SlaPolicy(60, True, NY)) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)


def test_overnight_business_hours() -> None:
    night = WorkingHours(tz="UTC", days="Mon-Fri", start="22:00", end="06:00")
    mon_0500 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # inside Sunday's shift? no: Sunday is not a day -> closed
    assert due_at(mon_0500, SlaPolicy(30, True, night)) == datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    tue_0500 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # tail of Monday's shift: 60 min left
    assert due_at(tue_0500, SlaPolicy(90, True, night)) == datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


def test_where_the_sla_comes_from() -> None:
    q = sf_id18("00G000000000001")
    r1 = sf_id18("005000000000001")
    doc = {
        "default_fallback_owner": q,
        "default_sla_minutes": 90,
        "territory_sla": {"EAST": {"minutes": 20}},
        "reps": [{"rep_id": r1, "working_hours": {"tz": "America/Chicago"}}],
        "groups": [
            {"group_id": "WEST", "territories": ["WEST"], "members": [r1], "sla_minutes": 45, "sla_business_hours": True},
            {"group_id": "EAST", "territories": ["EAST"], "members": [r1]},
        ],
    }
    roster = parse_roster("r.json", json.dumps(doc).encode()).roster
    west = sla_for(roster, roster.groups["WEST"], "WEST", 60)
    assert (west.minutes, west.business_hours, west.hours.tz, west.hours.days) == (45, True, "America/Chicago", "Mon-Fri")
    assert sla_for(roster, roster.groups["EAST"], "EAST", 60).minutes == 20
    assert sla_for(roster, None, "NOWHERE", 60).minutes == 90
    assert sla_for(None, None, None, 60) == SlaPolicy(60, source="settings DEFAULT_SLA_MINUTES")
