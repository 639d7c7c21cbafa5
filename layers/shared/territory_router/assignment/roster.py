"""The sales roster: reps, assignment groups, skill rules and fallbacks, and how to read one from a file.

A roster is uploaded as one JSON document or as a CSV of reps (one row per rep; the groups are then derived, one
per territory). ``parse_roster`` validates it and returns a :class:`Roster` or the reasons it was rejected.
The compiled form (``Roster.to_json``) is what the functions cache per container.

Workload counters are not part of the roster: they live in their own items, so uploading a roster never resets them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# The one Salesforce id rule (domain/ids.py): ids typed in a roster file may carry blanks around them.
from territory_router.domain.ids import QUEUE_KEY_PREFIX as QUEUE_PREFIX
from territory_router.domain.ids import USER_KEY_PREFIX as USER_PREFIX
from territory_router.domain.ids import to_18_from_text as sf_id18

# ----------------------------------------------------------------------------------------------- ids

DEFAULT_GROUP_KEY = "*"  # a group whose territories contain "*" takes leads of territories no other group claims


def owner_kind(owner_id: str) -> Literal["USER", "QUEUE"]:
    return "QUEUE" if owner_id.startswith(QUEUE_PREFIX) else "USER"


def _owner_id(value: str | None, what: str) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    oid = sf_id18(str(value))
    if not oid.startswith((USER_PREFIX, QUEUE_PREFIX)):
        raise ValueError(f"{what} must be a User (005...) or Queue (00G...) id, got {value!r}")
    return oid


# -------------------------------------------------------------------------------------- time windows

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


# ------------------------------------------------------------------------------------------- models


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED_ROUND_ROBIN = "weighted_round_robin"
    LEAST_LOADED = "least_loaded"


def _norm_set(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = re.split(r"[;|,]", values)
    out = sorted({str(v).strip().lower() for v in values if str(v).strip()})
    return tuple(out)


def _norm_ids(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = re.split(r"[;|,]", values)
    seen: list[str] = []
    for v in values:
        s = str(v).strip()
        if s and s not in seen:
            seen.append(s)
    return tuple(seen)


class Rep(BaseModel):
    """A sales rep (a Salesforce User)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rep_id: str
    name: str = ""
    email: str | None = None
    territories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = Field(default=50, ge=0, le=100_000)
    weight: int = Field(default=1, ge=1, le=1000)
    working_hours: WorkingHours | None = None  # None: always available
    out_of_office: tuple[OutOfOffice, ...] = ()
    active: bool = True
    manager_id: str | None = None  # escalation target (User or Queue)

    @field_validator("rep_id", mode="before")
    @classmethod
    def _rep_id(cls, v: Any) -> str:
        oid = sf_id18(str(v))
        if not oid.startswith(USER_PREFIX):
            raise ValueError(f"a rep must be a Salesforce User id (005...), got {v!r}")
        return oid

    @field_validator("manager_id", mode="before")
    @classmethod
    def _manager(cls, v: Any) -> str | None:
        return _owner_id(v, "manager_id")

    @field_validator("territories", "groups", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> tuple[str, ...]:
        return _norm_ids(v)

    @field_validator("skills", "languages", mode="before")
    @classmethod
    def _sets(cls, v: Any) -> tuple[str, ...]:
        return _norm_set(v)

    @property
    def abilities(self) -> frozenset[str]:
        return frozenset(self.skills) | frozenset(self.languages)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.rep_id})" if self.name else self.rep_id


class SlaSettings(BaseModel):
    """SLA of a territory (``Roster.territory_sla``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    minutes: int = Field(ge=1, le=60 * 24 * 60)
    business_hours: bool = False
    hours: WorkingHours | None = None


class Group(BaseModel):
    """An assignment group: who may receive the leads of some territories, and how they take turns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")
    name: str = ""
    territories: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # rep ids, in round-robin order
    strategy: Strategy = Strategy.ROUND_ROBIN
    overflow_group: str | None = None
    fallback_owner: str | None = None  # User or Queue id when nobody in this group (or its overflow) can take it
    sla_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 60)
    sla_business_hours: bool = False
    business_hours: WorkingHours | None = None  # the SLA clock (default: Mon-Fri 09:00-17:00 of the group's tz)
    max_reroutes: int | None = Field(default=None, ge=0, le=100)
    escalation_owner: str | None = None
    # Who gets routed (docs/assignment.md, "Who gets routed"): a new lead of this group's territories whose owner
    # is an active rep keeps that owner unless ``always_route``; a kept lead is re-routed by its SLA only when
    # ``reroute_kept_leads``.
    always_route: bool = False
    reroute_kept_leads: bool = False

    @field_validator("territories", mode="before")
    @classmethod
    def _terr(cls, v: Any) -> tuple[str, ...]:
        return _norm_ids(v)

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, v: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(sf_id18(str(m)) for m in _norm_ids(v)))

    @field_validator("fallback_owner", mode="before")
    @classmethod
    def _fb(cls, v: Any) -> str | None:
        return _owner_id(v, "fallback_owner")

    @field_validator("escalation_owner", mode="before")
    @classmethod
    def _esc(cls, v: Any) -> str | None:
        return _owner_id(v, "escalation_owner")


class SkillRule(BaseModel):
    """When a lead field has one of ``values`` (case-insensitive; ``"*"`` = any non-empty value), the rep needs
    all of ``skills`` (matched against the rep's skills and languages). ``field`` is a Lead field
    (``country``, ``industry``, ``product_interest``, ``language``, ``state``, ...) or any ``sf_fields`` API name.
    ``territories`` limits the rule to some territories (empty: all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(min_length=1)
    values: tuple[str, ...] = ("*",)
    skills: tuple[str, ...] = Field(min_length=1)
    territories: tuple[str, ...] = ()

    @field_validator("values", "skills", mode="before")
    @classmethod
    def _vals(cls, v: Any) -> tuple[str, ...]:
        return _norm_set(v)

    @field_validator("territories", mode="before")
    @classmethod
    def _terr(cls, v: Any) -> tuple[str, ...]:
        return _norm_ids(v)


class Roster(BaseModel):
    """A validated roster. ``groups`` keeps file order; each territory belongs to at most one group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = ""
    name: str = ""
    reps: dict[str, Rep] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)
    skill_rules: tuple[SkillRule, ...] = ()
    default_fallback_owner: str
    default_sla_minutes: int | None = Field(default=None, ge=1)
    max_reroutes: int | None = Field(default=None, ge=0)
    territory_sla: dict[str, SlaSettings] = Field(default_factory=dict)
    # Owners whose new leads are always routed even when they are reps of this roster (a sales-ops user who
    # imports leads, an SDR whose leads go to account executives). User or Queue ids, 18 characters.
    always_route_owners: tuple[str, ...] = ()

    @field_validator("always_route_owners", mode="before")
    @classmethod
    def _inboxes(cls, v: Any) -> tuple[str, ...]:
        out: list[str] = []
        for raw in _norm_ids(v):
            oid = _owner_id(raw, "always_route_owners")
            if oid and oid not in out:
                out.append(oid)
        return tuple(out)

    def group_for_territory(self, territory_id: str | None) -> Group | None:
        default = None
        for g in self.groups.values():
            if territory_id is not None and territory_id in g.territories:
                return g
            if default is None and DEFAULT_GROUP_KEY in g.territories:
                default = g
        return default

    def overflow_chain(self, group: Group) -> list[Group]:
        """The group, then its overflow group, then that one's... (each once)."""
        chain: list[Group] = []
        g: Group | None = group
        while g is not None and g not in chain:
            chain.append(g)
            g = self.groups.get(g.overflow_group) if g.overflow_group else None
        return chain

    def groups_for_lead(self, territory_id: str | None) -> list[Group]:
        g = self.group_for_territory(territory_id)
        return self.overflow_chain(g) if g else []

    def people(self) -> frozenset[str]:
        """User ids of everyone the roster counts as working leads: its reps, their managers and the groups'
        escalation owners (an activity one of them logs on a lead is attention)."""
        ids = set(self.reps)
        ids.update(r.manager_id for r in self.reps.values() if r.manager_id)
        ids.update(g.escalation_owner for g in self.groups.values() if g.escalation_owner)
        return frozenset(i for i in ids if i.startswith(USER_PREFIX))

    def groups_of_rep(self, rep_id: str) -> list[str]:
        return [g.group_id for g in self.groups.values() if rep_id in g.members]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Roster:
        return cls.model_validate(json.loads(text))

    def content_hash(self) -> str:
        data = self.model_dump(mode="json")
        data["version"] = ""
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:12]


@dataclass
class RosterParseResult:
    """What ``parse_roster`` found. ``errors``/``warnings`` are ``{"rep"|"group"|"roster": id, "reason": text}``."""

    valid: bool
    roster: Roster | None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- parsing


def _pydantic_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _rep_key(raw: Mapping[str, Any], index: int) -> str:
    return str(raw.get("rep_id") or raw.get("id") or raw.get("user_id") or f"#{index + 1}")


def _rep_input(raw: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(raw)
    for alias in ("id", "user_id"):
        if alias in data and "rep_id" not in data:
            data["rep_id"] = data.pop(alias)
    if "ooo" in data and "out_of_office" not in data:
        data["out_of_office"] = data.pop("ooo")
    return data


def _group_input(raw: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(raw)
    if "id" in data and "group_id" not in data:
        data["group_id"] = data.pop("id")
    return data


def _build(
    doc: Mapping[str, Any], errors: list[dict[str, str]], warnings: list[dict[str, str]]
) -> Roster | None:
    known = {
        "version",
        "name",
        "reps",
        "groups",
        "skill_rules",
        "default_fallback_owner",
        "default_sla_minutes",
        "max_reroutes",
        "territory_sla",
        "default_strategy",
        "description",
        "always_route_owners",
    }
    for key in doc:
        if key not in known:
            warnings.append({"roster": str(key), "reason": f"unknown top-level key {key!r} ignored"})

    reps: dict[str, Rep] = {}
    raw_reps = doc.get("reps") or []
    if not isinstance(raw_reps, list):
        errors.append({"roster": "reps", "reason": "reps must be a list"})
        raw_reps = []
    for i, raw in enumerate(raw_reps):
        if not isinstance(raw, Mapping):
            errors.append({"rep": f"#{i + 1}", "reason": "each rep must be an object"})
            continue
        try:
            rep = Rep.model_validate(_rep_input(raw))
        except ValidationError as exc:
            errors.append({"rep": _rep_key(raw, i), "reason": _pydantic_reason(exc)})
            continue
        if rep.rep_id in reps:
            errors.append({"rep": rep.rep_id, "reason": "listed twice"})
            continue
        reps[rep.rep_id] = rep

    groups: dict[str, Group] = {}
    raw_groups = doc.get("groups") or []
    if not isinstance(raw_groups, list):
        errors.append({"roster": "groups", "reason": "groups must be a list"})
        raw_groups = []
    for i, raw in enumerate(raw_groups):
        if not isinstance(raw, Mapping):
            errors.append({"group": f"#{i + 1}", "reason": "each group must be an object"})
            continue
        try:
            g = Group.model_validate(_group_input(raw))
        except ValidationError as exc:
            errors.append({"group": str(raw.get("group_id") or raw.get("id") or f"#{i + 1}"), "reason": _pydantic_reason(exc)})
            continue
        if g.group_id in groups:
            errors.append({"group": g.group_id, "reason": "listed twice"})
            continue
        groups[g.group_id] = g

    default_strategy = str(doc.get("default_strategy") or Strategy.ROUND_ROBIN.value)
    try:
        default_strategy = Strategy(default_strategy).value
    except ValueError:
        errors.append({"roster": "default_strategy", "reason": f"unknown strategy {default_strategy!r}"})
        default_strategy = Strategy.ROUND_ROBIN.value

    # Reps naming groups join them; reps naming territories with no group get a derived group per territory.
    for rep in reps.values():
        for gid in rep.groups:
            g = groups.get(gid)
            if g is None:
                errors.append({"rep": rep.rep_id, "reason": f"unknown group {gid!r}"})
                continue
            if rep.rep_id not in g.members:
                groups[gid] = g.model_copy(update={"members": (*g.members, rep.rep_id)})
    claimed = {t: g.group_id for g in groups.values() for t in g.territories}
    for rep in reps.values():
        for terr in rep.territories:
            gid = claimed.get(terr)
            if gid is None:
                gid = terr
                if gid in groups:
                    errors.append({"group": gid, "reason": f"derived group for territory {terr!r} clashes with a group id"})
                    continue
                try:
                    groups[gid] = Group(group_id=gid, name=terr, territories=(terr,), strategy=Strategy(default_strategy))
                except ValidationError as exc:
                    errors.append({"rep": rep.rep_id, "reason": f"territory {terr!r}: {_pydantic_reason(exc)}"})
                    continue
                claimed[terr] = gid
            g = groups[gid]
            if rep.rep_id not in g.members:
                groups[gid] = g.model_copy(update={"members": (*g.members, rep.rep_id)})

    seen_terr: dict[str, str] = {}
    for g in groups.values():
        for terr in g.territories:
            if terr in seen_terr:
                errors.append(
                    {"group": g.group_id, "reason": f"territory {terr!r} is already served by group {seen_terr[terr]!r}"}
                )
            else:
                seen_terr[terr] = g.group_id
        for m in g.members:
            if m not in reps:
                errors.append({"group": g.group_id, "reason": f"member {m} is not a rep of this roster"})
        if g.overflow_group and g.overflow_group not in groups:
            errors.append({"group": g.group_id, "reason": f"overflow_group {g.overflow_group!r} does not exist"})
        if g.overflow_group == g.group_id:
            errors.append({"group": g.group_id, "reason": "overflow_group points to itself"})
        if not g.members and not g.overflow_group and not g.fallback_owner:
            warnings.append({"group": g.group_id, "reason": "no members, overflow or fallback: its leads go to the default owner"})
        if not g.territories:
            warnings.append({"group": g.group_id, "reason": "serves no territory (only reachable as an overflow group)"})
    for rep in reps.values():
        if not rep.active:
            continue
        if not any(rep.rep_id in g.members for g in groups.values()):
            warnings.append({"rep": rep.rep_id, "reason": "in no group and no territory: never receives leads"})
        if rep.capacity == 0:
            warnings.append({"rep": rep.rep_id, "reason": "capacity 0: never receives leads"})

    fallback = None
    try:
        fallback = _owner_id(doc.get("default_fallback_owner"), "default_fallback_owner")
    except ValueError as exc:
        errors.append({"roster": "default_fallback_owner", "reason": str(exc)})
    if fallback is None and not any(e.get("roster") == "default_fallback_owner" for e in errors):
        errors.append(
            {"roster": "default_fallback_owner", "reason": "required: the User or Queue id that takes leads nobody else can"}
        )

    inboxes = doc.get("always_route_owners") or []
    if isinstance(inboxes, str):
        inboxes = [inboxes]
    if not isinstance(inboxes, list):
        errors.append({"roster": "always_route_owners", "reason": "always_route_owners must be a list of User or Queue ids"})
        inboxes = []
    for raw in inboxes:
        try:
            _owner_id(str(raw), "always_route_owners")
        except ValueError as exc:
            errors.append({"roster": "always_route_owners", "reason": str(exc)})

    if errors:
        return None
    try:
        roster = Roster(
            name=str(doc.get("name") or ""),
            reps=reps,
            groups=groups,
            skill_rules=tuple(doc.get("skill_rules") or ()),
            default_fallback_owner=fallback,
            default_sla_minutes=doc.get("default_sla_minutes"),
            max_reroutes=doc.get("max_reroutes"),
            territory_sla=doc.get("territory_sla") or {},
            always_route_owners=tuple(str(i) for i in inboxes),
        )
    except ValidationError as exc:
        errors.append({"roster": "roster", "reason": _pydantic_reason(exc)})
        return None
    # The version always ends with a hash of the content: containers cache rosters by version, so two different
    # rosters must never share one (a "version" in the file is kept as a readable prefix).
    label = str(doc.get("version") or "").strip()
    if label and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,60}", label):
        errors.append({"roster": "version", "reason": f"version must be 1-60 of A-Z a-z 0-9 _ . -, got {label!r}"})
        return None
    version = f"{label}-{roster.content_hash()[:8]}" if label else f"r-{roster.content_hash()}"
    return roster.model_copy(update={"version": version})


_CSV_LIST_COLUMNS = ("territories", "groups", "skills", "languages")


def _csv_document(text: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        errors.append({"roster": "csv", "reason": "empty file"})
        return {}
    cols = {c.strip().lower(): c for c in reader.fieldnames if c}
    if "rep_id" not in cols and "id" not in cols:
        errors.append({"roster": "csv", "reason": "a rep_id column is required"})
        return {}
    reps: list[dict[str, Any]] = []
    route_own: list[str] = []  # reps whose own new leads are routed anyway (column route_own_leads)
    group_settings: dict[str, dict[str, Any]] = {}
    fallback: str | None = None
    for line_no, row in enumerate(reader, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if not any(r.values()):
            continue
        rep: dict[str, Any] = {"rep_id": r.get("rep_id") or r.get("id", "")}
        if r.get("name"):
            rep["name"] = r["name"]
        if r.get("email"):
            rep["email"] = r["email"]
        for col in _CSV_LIST_COLUMNS:
            if r.get(col):
                rep[col] = r[col]
        for col in ("capacity", "weight"):
            if r.get(col):
                try:
                    rep[col] = int(r[col])
                except ValueError:
                    errors.append({"rep": rep["rep_id"] or f"line {line_no}", "reason": f"{col} must be a whole number"})
        if r.get("active"):
            rep["active"] = r["active"].lower() in {"1", "true", "yes", "y", "active"}
        if r.get("manager_id"):
            rep["manager_id"] = r["manager_id"]
        if r.get("route_own_leads", "").lower() in {"1", "true", "yes", "y"}:
            route_own.append(rep["rep_id"])
        if r.get("tz") or r.get("days") or r.get("start") or r.get("end"):
            wh = {k: r[k] for k in ("tz", "days", "start", "end") if r.get(k)}
            rep["working_hours"] = wh
        if r.get("out_of_office"):
            ranges = []
            for part in re.split(r"[;|]", r["out_of_office"]):
                part = part.strip()
                if not part:
                    continue
                if ".." not in part:
                    errors.append({"rep": rep["rep_id"], "reason": f"out_of_office {part!r}: use START..END"})
                    continue
                s, e = part.split("..", 1)
                ranges.append({"start": s.strip(), "end": e.strip()})
            rep["out_of_office"] = ranges
        reps.append(rep)
        for terr in re.split(r"[;|,]", r.get("territories", "")):
            terr = terr.strip()
            if not terr:
                continue
            gs = group_settings.setdefault(terr, {})
            for col, key in (
                ("strategy", "strategy"),
                ("fallback_owner", "fallback_owner"),
                ("sla_minutes", "sla_minutes"),
                ("escalation_owner", "escalation_owner"),
                ("always_route", "always_route"),
                ("reroute_kept_leads", "reroute_kept_leads"),
            ):
                if r.get(col) and key not in gs:
                    gs[key] = r[col]
        if r.get("default_fallback_owner") and not fallback:
            fallback = r["default_fallback_owner"]
    groups = []
    for terr, gs in group_settings.items():
        if not gs:
            continue
        g: dict[str, Any] = {"group_id": terr, "name": terr, "territories": [terr], **gs}
        if "sla_minutes" in g:
            try:
                g["sla_minutes"] = int(g["sla_minutes"])
            except ValueError:
                errors.append({"group": terr, "reason": "sla_minutes must be a whole number"})
                g.pop("sla_minutes")
        groups.append(g)
    return {"reps": reps, "groups": groups, "default_fallback_owner": fallback, "always_route_owners": route_own}


def parse_roster(filename: str, data: bytes, *, default_fallback_owner: str | None = None) -> RosterParseResult:
    """Validate an uploaded roster: ``*.json`` (one document) or ``*.csv`` (one row per rep).

    A CSV derives one group per territory (group id = territory id) with the strategy, fallback owner and SLA of the
    first row that sets them (columns ``strategy``, ``fallback_owner``, ``sla_minutes``, ``escalation_owner``,
    ``always_route``, ``reroute_kept_leads``) and the default fallback owner from a ``default_fallback_owner`` column
    (or the ``default_fallback_owner`` argument). A rep row with ``route_own_leads`` true lists that rep in
    ``always_route_owners``.
    """
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return RosterParseResult(False, None, [{"roster": filename, "reason": "not UTF-8 text"}])
    lower = filename.lower()
    doc: Any
    if lower.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            return RosterParseResult(False, None, [{"roster": filename, "reason": f"invalid JSON: {exc}"}])
        if not isinstance(doc, dict):
            return RosterParseResult(False, None, [{"roster": filename, "reason": "the JSON must be one object"}])
    elif lower.endswith(".csv"):
        doc = _csv_document(text, errors)
        if errors:
            return RosterParseResult(False, None, errors)
    else:
        return RosterParseResult(False, None, [{"roster": filename, "reason": "roster files are .json or .csv"}])
    if default_fallback_owner and not doc.get("default_fallback_owner"):
        doc["default_fallback_owner"] = default_fallback_owner
    roster = _build(doc, errors, warnings)
    if roster is None or errors:
        return RosterParseResult(False, None, errors, warnings)
    if not roster.reps:
        warnings.append({"roster": filename, "reason": "no reps: every lead goes to a fallback owner"})
    return RosterParseResult(True, roster, [], warnings)


def roster_change_warnings(
    old: Roster | None, new: Roster, open_leads: Mapping[str, int]
) -> list[dict[str, str]]:
    """Warnings about reps that leave (or become inactive) while they still own open leads."""
    out: list[dict[str, str]] = []
    if old is None:
        return out
    for rep_id, rep in old.reps.items():
        count = int(open_leads.get(rep_id, 0))
        if count <= 0:
            continue
        if rep_id not in new.reps:
            out.append({"rep": rep_id, "reason": f"removed from the roster with {count} open lead(s); they stay with them until attended or re-routed"})
        elif rep.active and not new.reps[rep_id].active:
            out.append({"rep": rep_id, "reason": f"made inactive with {count} open lead(s)"})
        elif new.reps[rep_id].capacity < count:
            out.append({"rep": rep_id, "reason": f"capacity {new.reps[rep_id].capacity} is below their {count} open lead(s)"})
    return out
