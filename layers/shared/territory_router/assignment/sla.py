"""Service level agreements: how long a rep has to act on a lead before it is re-routed.

The SLA of a lead comes from its assignment group (``sla_minutes``, ``sla_business_hours``), else from the roster's
``territory_sla`` for its territory, else from the roster's ``default_sla_minutes``, else from the deployment
setting ``DEFAULT_SLA_MINUTES``. Business-hours SLAs only count minutes inside the group's business hours (its
``business_hours``, else Mon-Fri 09:00-17:00 in the time zone of the group's first member with working hours,
else UTC), so a lead that arrives Friday at 17:30 New York time with a 60-minute SLA is due Monday at 10:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from territory_router.assignment.roster import Group, Roster, WorkingHours


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    minutes: int
    business_hours: bool = False
    hours: WorkingHours | None = None
    source: str = "default"  # group:<id> | territory:<id> | roster | settings

    def describe(self) -> str:
        if self.business_hours and self.hours is not None:
            return f"{self.minutes} business minutes ({self.hours.describe()}) from {self.source}"
        return f"{self.minutes} minutes from {self.source}"


def _default_business_hours(roster: Roster | None, group: Group | None) -> WorkingHours:
    tz = "UTC"
    if roster is not None and group is not None:
        for m in group.members:
            rep = roster.reps.get(m)
            if rep is not None and rep.working_hours is not None:
                tz = rep.working_hours.tz
                break
    return WorkingHours(tz=tz, days="Mon-Fri", start="09:00", end="17:00")


def sla_for(
    roster: Roster | None, group: Group | None, territory_id: str | None, default_minutes: int
) -> SlaPolicy:
    """The SLA that applies to a lead of ``territory_id`` assigned through ``group``."""
    if group is not None and group.sla_minutes:
        hours = group.business_hours or _default_business_hours(roster, group)
        return SlaPolicy(group.sla_minutes, group.sla_business_hours, hours, f"group {group.group_id}")
    if roster is not None and territory_id and territory_id in roster.territory_sla:
        t = roster.territory_sla[territory_id]
        hours = t.hours or _default_business_hours(roster, group)
        return SlaPolicy(t.minutes, t.business_hours, hours, f"territory {territory_id}")
    if roster is not None and roster.default_sla_minutes:
        return SlaPolicy(roster.default_sla_minutes, source="roster default")
    return SlaPolicy(default_minutes, source="settings DEFAULT_SLA_MINUTES")


def due_at(assigned_at: datetime, sla: SlaPolicy) -> datetime:
    """When the SLA of a lead assigned at ``assigned_at`` (aware) runs out, in UTC."""
    if assigned_at.tzinfo is None:
        raise ValueError("assigned_at must be timezone-aware")
    start = assigned_at.astimezone(UTC)
    if not sla.business_hours or sla.hours is None or sla.hours.always:
        return start + timedelta(minutes=sla.minutes)
    remaining = timedelta(minutes=sla.minutes)
    hours = sla.hours
    day = start.astimezone(hours.zone).date() - timedelta(days=1)  # yesterday's overnight shift may still run
    for _ in range(400):
        for s, e in hours.windows(day):
            s_utc, e_utc = s.astimezone(UTC), e.astimezone(UTC)
            if e_utc <= start:
                continue
            begin = max(s_utc, start)
            available = e_utc - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        day += timedelta(days=1)
    return start + timedelta(minutes=sla.minutes)  # no business hours at all: fall back to the calendar
