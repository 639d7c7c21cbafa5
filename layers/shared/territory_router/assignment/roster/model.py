"""The roster: reps, assignment groups, skill rules and fallbacks (validated, frozen, cached by version).

The compiled form (``Roster.to_json``) is what the functions cache per container. Workload counters are not part of
the roster: they live in their own items, so uploading a roster never resets them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from territory_router.assignment.roster.ids import USER_PREFIX, OwnerId, owner_id_or_none, sf_id18
from territory_router.assignment.roster.schedule import OutOfOffice, WorkingHours

DEFAULT_GROUP_KEY = "*"  # a group whose territories contain "*" takes leads of territories no other group claims


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
    manager_id: OwnerId = None  # escalation target (User or Queue)

    @field_validator("rep_id", mode="before")
    @classmethod
    def _rep_id(cls, v: Any) -> str:
        oid = sf_id18(str(v))
        if not oid.startswith(USER_PREFIX):
            raise ValueError(f"a rep must be a Salesforce User id (005...), got {v!r}")
        return oid

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
    fallback_owner: OwnerId = None  # User or Queue id when nobody in this group (or its overflow) can take it
    sla_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 60)
    sla_business_hours: bool = False
    business_hours: WorkingHours | None = None  # the SLA clock (default: Mon-Fri 09:00-17:00 of the group's tz)
    max_reroutes: int | None = Field(default=None, ge=0, le=100)
    escalation_owner: OwnerId = None
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
            oid = owner_id_or_none(raw, "always_route_owners")
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
