"""When people work: working hours in a time zone (overnight shifts included) and out-of-office absences."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_INDEX = {d.lower(): i for i, d in enumerate(_DAYS)}


def parse_days(spec: str) -> frozenset[int]:
    """``"Mon-Fri"``, ``"Mon,Wed,Fri"``, ``"Sat-Sun"``, ``"Fri-Mon"`` (wraps), ``"*"``/``"daily"`` → weekday numbers."""
    text = (spec or "").strip().lower()
    if text in {"*", "daily", "all", "mon-sun", "every day", "24x7"}:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            if a[:3] not in _DAY_INDEX or b[:3] not in _DAY_INDEX:
                raise ValueError(f"unknown day range {part!r} (use Mon..Sun)")
            i, j = _DAY_INDEX[a[:3]], _DAY_INDEX[b[:3]]
            while True:
                days.add(i)
                if i == j:
                    break
                i = (i + 1) % 7
        else:
            if part[:3] not in _DAY_INDEX:
                raise ValueError(f"unknown day {part!r} (use Mon..Sun)")
            days.add(_DAY_INDEX[part[:3]])
    if not days:
        raise ValueError("no working days")
    return frozenset(days)


def _parse_hhmm(value: str) -> int:
    """Minutes after midnight; ``"24:00"`` is 1440."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", (value or "").strip())
    if not m:
        raise ValueError(f"time must be HH:MM, got {value!r}")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi):
        raise ValueError(f"time out of range: {value!r}")
    return h * 60 + mi


class WorkingHours(BaseModel):
    """When a rep works (or when a group's SLA clock runs), in an IANA time zone.

    ``end`` before ``start`` means an overnight shift (``22:00``-``06:00``); ``00:00``-``24:00`` is all day.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tz: str = "UTC"
    days: str = "Mon-Sun"
    start: str = "00:00"
    end: str = "24:00"

    @field_validator("tz")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name like America/New_York)") from exc
        return v

    @model_validator(mode="after")
    def _check(self) -> WorkingHours:
        parse_days(self.days)
        if _parse_hhmm(self.start) >= 1440:
            raise ValueError("start must be before 24:00")
        if _parse_hhmm(self.start) == _parse_hhmm(self.end):
            raise ValueError("start and end are equal (use 00:00-24:00 for all day)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def always(self) -> bool:
        return len(parse_days(self.days)) == 7 and self._span() == (0, 1440)

    def _span(self) -> tuple[int, int]:
        return _parse_hhmm(self.start), _parse_hhmm(self.end)

    def is_open(self, when: datetime) -> bool:
        local = when.astimezone(self.zone)
        days = parse_days(self.days)
        start, end = self._span()
        minute = local.hour * 60 + local.minute
        if start < end:
            return local.weekday() in days and start <= minute < end
        # overnight: the shift belongs to the day it starts
        if minute >= start:
            return local.weekday() in days
        return minute < end and (local.weekday() - 1) % 7 in days

    def describe(self) -> str:
        return f"{self.days} {self.start}-{self.end} {self.tz}"

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals (aware, local zone) that start on ``day``."""
        if day.weekday() not in parse_days(self.days):
            return []
        start, end = self._span()
        z = self.zone
        s = _local(day, start, z)
        e = _local(day, end, z) if start < end else _local(day + timedelta(days=1), end, z)
        return [(s, e)]


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= 1440:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


class OutOfOffice(BaseModel):
    """An absence. Dates (``2026-12-24``) are whole days in the rep's time zone, ``end`` included;
    datetimes with an offset are exact instants (``end`` excluded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str
    end: str
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> OutOfOffice:
        s, s_date = _parse_when(self.start)
        e, e_date = _parse_when(self.end)
        if s_date == e_date and e < s:  # type: ignore[operator]
            raise ValueError(f"out of office ends ({self.end}) before it starts ({self.start})")
        return self

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        s, s_is_date = _parse_when(self.start)
        e, e_is_date = _parse_when(self.end)
        start = datetime.combine(s, time(0), tzinfo=zone) if s_is_date else s
        end = datetime.combine(e + timedelta(days=1), time(0), tzinfo=zone) if e_is_date else e
        return start, end  # type: ignore[return-value]

    def covers(self, when: datetime, zone: ZoneInfo) -> bool:
        start, end = self.bounds(zone)
        return start <= when < end


def _parse_when(value: str) -> tuple[date | datetime, bool]:
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text), True
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"date-time needs an offset (e.g. Z or -05:00): {value!r}")
    return dt, False
