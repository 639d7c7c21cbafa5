"""Reading an uploaded roster: one JSON document, or a CSV of reps turned into the same document.

:class:`RosterDocument` is the document as uploaded (pydantic): its top level is validated field by field, the rep
and group entries one by one (``Rep``, ``Group``), so that one upload lists every problem by the rep, group or key it
concerns. Then the cross-checks: reps joining the groups they name, groups derived from the territories reps name,
each territory served once, members that are reps, overflow groups that exist. ``parse_roster`` returns the
:class:`Roster` or the reasons it was rejected.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from territory_router.assignment.roster.ids import OwnerId, owner_id_or_none
from territory_router.assignment.roster.model import Group, Rep, Roster, SkillRule, SlaSettings, Strategy

Problem = dict[str, str]  # {"rep"|"group"|"roster": id, "reason": text}
_VERSION_RE = re.compile(r"[A-Za-z0-9_.\-]{1,60}")


@dataclass
class RosterParseResult:
    """What ``parse_roster`` found. ``errors``/``warnings`` are ``{"rep"|"group"|"roster": id, "reason": text}``."""

    valid: bool
    roster: Roster | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _message(err: ErrorDetails, skip: int = 0) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ())[skip:])
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _pydantic_reason(exc: ValidationError) -> str:
    return "; ".join(_message(err) for err in exc.errors())


class RosterDocument(BaseModel):
    """An uploaded roster as written. Reps and groups stay raw entries here: each is validated on its own."""

    model_config = ConfigDict(extra="allow")  # unknown keys are reported as warnings and ignored

    version: str = ""  # a readable prefix of the version (the content hash is always appended)
    name: str = ""
    description: str = ""
    reps: list[Any] = Field(default_factory=list)
    groups: list[Any] = Field(default_factory=list)
    skill_rules: tuple[SkillRule, ...] = ()
    default_fallback_owner: OwnerId = None
    default_strategy: Strategy = Strategy.ROUND_ROBIN  # of the groups derived from reps' territories
    default_sla_minutes: int | None = Field(default=None, ge=1)
    max_reroutes: int | None = Field(default=None, ge=0)
    territory_sla: dict[str, SlaSettings] = Field(default_factory=dict)
    always_route_owners: tuple[str, ...] = ()

    @field_validator("name", "description", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return str(v or "")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> str:
        label = str(v or "").strip()
        if label and not _VERSION_RE.fullmatch(label):
            raise ValueError(f"version must be 1-60 of A-Z a-z 0-9 _ . -, got {label!r}")
        return label

    @field_validator("skill_rules", "territory_sla", mode="before")
    @classmethod
    def _empty(cls, v: Any, info: ValidationInfo) -> Any:
        return v or ({} if info.field_name == "territory_sla" else ())

    @field_validator("reps", "groups", mode="before")
    @classmethod
    def _entries(cls, v: Any, info: ValidationInfo) -> list[Any]:
        if not v:
            return []
        if not isinstance(v, list):
            raise ValueError(f"{info.field_name} must be a list")
        return v

    @field_validator("default_strategy", mode="before")
    @classmethod
    def _strategy(cls, v: Any) -> Strategy:
        try:
            return Strategy(str(v or Strategy.ROUND_ROBIN.value))
        except ValueError:
            raise ValueError(f"unknown strategy {v!r}") from None

    @field_validator("always_route_owners", mode="before")
    @classmethod
    def _inboxes(cls, v: Any) -> tuple[str, ...]:
        if not v:
            return ()
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise ValueError("always_route_owners must be a list of User or Queue ids")
        reasons, ids = [], []
        for raw in v:
            try:
                ids.append(owner_id_or_none(str(raw), "always_route_owners"))
            except ValueError as exc:
                reasons.append(str(exc))
        if reasons:
            raise ValueError("; ".join(reasons))
        return tuple(i for i in ids if i)


def read_document(doc: Mapping[str, Any], errors: list[Problem], warnings: list[Problem]) -> RosterDocument:
    """The document; a top-level key that does not validate is reported and read as its default."""
    data = dict(doc)
    try:
        document = RosterDocument.model_validate(data)
    except ValidationError as exc:
        bad = set()
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "roster"
            # our own messages name the key already; pydantic's get the path ("max_reroutes: Input should be...")
            errors.append({"roster": key, "reason": _message(err, skip=1 if err["type"] == "value_error" else 0)})
            bad.add(key)
        document = RosterDocument.model_validate({k: v for k, v in data.items() if k not in bad})
    for key in document.model_extra or {}:
        warnings.append({"roster": str(key), "reason": f"unknown top-level key {key!r} ignored"})
    return document


# ---------------------------------------------------------------------------------------------- entries

_Entry = TypeVar("_Entry", Rep, Group)


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


def _valid_entries(raw: list[Any], kind: str, validate: Callable[[dict[str, Any]], _Entry],
                   key: Callable[[_Entry], str], name_of: Callable[[Mapping[str, Any]], Any],
                   errors: list[Problem]) -> dict[str, _Entry]:
    """The entries of ``raw`` that validate, by id; the others reported under ``kind`` with their id."""
    out: dict[str, _Entry] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            errors.append({kind: f"#{i + 1}", "reason": f"each {kind} must be an object"})
            continue
        try:
            item = validate(dict(entry))
        except ValidationError as exc:
            errors.append({kind: str(name_of(entry) or f"#{i + 1}"), "reason": _pydantic_reason(exc)})
            continue
        if key(item) in out:
            errors.append({kind: key(item), "reason": "listed twice"})
            continue
        out[key(item)] = item
    return out


def _reps(raw: list[Any], errors: list[Problem]) -> dict[str, Rep]:
    return _valid_entries(raw, "rep", lambda d: Rep.model_validate(_rep_input(d)), lambda r: r.rep_id,
                          lambda d: d.get("rep_id") or d.get("id") or d.get("user_id"), errors)


def _groups(raw: list[Any], errors: list[Problem]) -> dict[str, Group]:
    return _valid_entries(raw, "group", lambda d: Group.model_validate(_group_input(d)), lambda g: g.group_id,
                          lambda d: d.get("group_id") or d.get("id"), errors)


# ------------------------------------------------------------------------------------------ cross checks


def _join(groups: dict[str, Group], gid: str, rep_id: str) -> None:
    g = groups[gid]
    if rep_id not in g.members:
        groups[gid] = g.model_copy(update={"members": (*g.members, rep_id)})


def _join_named_groups(reps: dict[str, Rep], groups: dict[str, Group], errors: list[Problem]) -> None:
    """Reps naming groups join them."""
    for rep in reps.values():
        for gid in rep.groups:
            if gid not in groups:
                errors.append({"rep": rep.rep_id, "reason": f"unknown group {gid!r}"})
                continue
            _join(groups, gid, rep.rep_id)


def _derive_territory_groups(reps: dict[str, Rep], groups: dict[str, Group], strategy: Strategy,
                             errors: list[Problem]) -> None:
    """Reps naming territories join the group serving it, or a group derived for it (id = territory id)."""
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
                    groups[gid] = Group(group_id=gid, name=terr, territories=(terr,), strategy=strategy)
                except ValidationError as exc:
                    errors.append({"rep": rep.rep_id, "reason": f"territory {terr!r}: {_pydantic_reason(exc)}"})
                    continue
                claimed[terr] = gid
            _join(groups, gid, rep.rep_id)


def _check_groups(reps: dict[str, Rep], groups: dict[str, Group], errors: list[Problem],
                  warnings: list[Problem]) -> None:
    served: dict[str, str] = {}
    for g in groups.values():
        for terr in g.territories:
            if terr in served:
                errors.append({"group": g.group_id, "reason": f"territory {terr!r} is already served by group {served[terr]!r}"})
            else:
                served[terr] = g.group_id
        errors += [{"group": g.group_id, "reason": f"member {m} is not a rep of this roster"} for m in g.members
                   if m not in reps]
        if g.overflow_group and g.overflow_group not in groups:
            errors.append({"group": g.group_id, "reason": f"overflow_group {g.overflow_group!r} does not exist"})
        if g.overflow_group == g.group_id:
            errors.append({"group": g.group_id, "reason": "overflow_group points to itself"})
        if not g.members and not g.overflow_group and not g.fallback_owner:
            warnings.append({"group": g.group_id, "reason": "no members, overflow or fallback: its leads go to the default owner"})
        if not g.territories:
            warnings.append({"group": g.group_id, "reason": "serves no territory (only reachable as an overflow group)"})


def _check_reps(reps: dict[str, Rep], groups: dict[str, Group], warnings: list[Problem]) -> None:
    for rep in reps.values():
        if not rep.active:
            continue
        if not any(rep.rep_id in g.members for g in groups.values()):
            warnings.append({"rep": rep.rep_id, "reason": "in no group and no territory: never receives leads"})
        if rep.capacity == 0:
            warnings.append({"rep": rep.rep_id, "reason": "capacity 0: never receives leads"})


def build_roster(doc: Mapping[str, Any], errors: list[Problem], warnings: list[Problem]) -> Roster | None:
    """The roster of a document, or None with ``errors`` (every problem found, not only the first)."""
    document = read_document(doc, errors, warnings)
    reps = _reps(document.reps, errors)
    groups = _groups(document.groups, errors)
    _join_named_groups(reps, groups, errors)
    _derive_territory_groups(reps, groups, document.default_strategy, errors)
    _check_groups(reps, groups, errors, warnings)
    _check_reps(reps, groups, warnings)
    if document.default_fallback_owner is None and not any(e.get("roster") == "default_fallback_owner" for e in errors):
        errors.append(
            {"roster": "default_fallback_owner", "reason": "required: the User or Queue id that takes leads nobody else can"}
        )
    if errors or document.default_fallback_owner is None:
        return None
    try:
        roster = Roster(
            name=document.name,
            reps=reps,
            groups=groups,
            skill_rules=document.skill_rules,
            default_fallback_owner=document.default_fallback_owner,
            default_sla_minutes=document.default_sla_minutes,
            max_reroutes=document.max_reroutes,
            territory_sla=document.territory_sla,
            always_route_owners=document.always_route_owners,
        )
    except ValidationError as exc:
        errors.append({"roster": "roster", "reason": _pydantic_reason(exc)})
        return None
    # The version always ends with a hash of the content: containers cache rosters by version, so two different
    # rosters must never share one (a "version" in the file is kept as a readable prefix).
    label = document.version
    version = f"{label}-{roster.content_hash()[:8]}" if label else f"r-{roster.content_hash()}"
    return roster.model_copy(update={"version": version})


# ----------------------------------------------------------------------------------------------------- CSV

_CSV_LIST_COLUMNS = ("territories", "groups", "skills", "languages")
_CSV_GROUP_COLUMNS = ("strategy", "fallback_owner", "sla_minutes", "escalation_owner", "always_route", "reroute_kept_leads")
_YES = {"1", "true", "yes", "y"}


def _csv_out_of_office(rep_id: str, text: str, errors: list[Problem]) -> list[dict[str, str]]:
    ranges = []
    for part in re.split(r"[;|]", text):
        part = part.strip()
        if not part:
            continue
        if ".." not in part:
            errors.append({"rep": rep_id, "reason": f"out_of_office {part!r}: use START..END"})
            continue
        s, e = part.split("..", 1)
        ranges.append({"start": s.strip(), "end": e.strip()})
    return ranges


def _csv_rep(r: dict[str, str], line_no: int, errors: list[Problem]) -> dict[str, Any]:
    """One CSV row as a rep entry of the document."""
    rep: dict[str, Any] = {"rep_id": r.get("rep_id") or r.get("id", "")}
    for col in ("name", "email", "manager_id", *_CSV_LIST_COLUMNS):
        if r.get(col):
            rep[col] = r[col]
    for col in ("capacity", "weight"):
        if r.get(col):
            try:
                rep[col] = int(r[col])
            except ValueError:
                errors.append({"rep": rep["rep_id"] or f"line {line_no}", "reason": f"{col} must be a whole number"})
    if r.get("active"):
        rep["active"] = r["active"].lower() in {*_YES, "active"}
    if r.get("tz") or r.get("days") or r.get("start") or r.get("end"):
        rep["working_hours"] = {k: r[k] for k in ("tz", "days", "start", "end") if r.get(k)}
    if r.get("out_of_office"):
        rep["out_of_office"] = _csv_out_of_office(rep["rep_id"], r["out_of_office"], errors)
    return rep


def _csv_groups(settings: dict[str, dict[str, Any]], errors: list[Problem]) -> list[dict[str, Any]]:
    """One group per territory that some row gave settings for (the first row that sets a column wins)."""
    groups = []
    for terr, gs in settings.items():
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
    return groups


def csv_document(text: str, errors: list[Problem]) -> dict[str, Any]:
    """A CSV of reps (one row each) as a roster document."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        errors.append({"roster": "csv", "reason": "empty file"})
        return {}
    cols = {c.strip().lower() for c in reader.fieldnames if c}
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
        rep = _csv_rep(r, line_no, errors)
        reps.append(rep)
        if r.get("route_own_leads", "").lower() in _YES:
            route_own.append(rep["rep_id"])
        for terr in (t.strip() for t in re.split(r"[;|,]", r.get("territories", ""))):
            if terr:
                gs = group_settings.setdefault(terr, {})
                gs.update({col: r[col] for col in _CSV_GROUP_COLUMNS if r.get(col) and col not in gs})
        fallback = fallback or r.get("default_fallback_owner") or None
    return {"reps": reps, "groups": _csv_groups(group_settings, errors), "default_fallback_owner": fallback,
            "always_route_owners": route_own}


def parse_roster(filename: str, data: bytes, *, default_fallback_owner: str | None = None) -> RosterParseResult:
    """Validate an uploaded roster: ``*.json`` (one document) or ``*.csv`` (one row per rep).

    A CSV derives one group per territory (group id = territory id) with the strategy, fallback owner and SLA of the
    first row that sets them (columns ``strategy``, ``fallback_owner``, ``sla_minutes``, ``escalation_owner``,
    ``always_route``, ``reroute_kept_leads``) and the default fallback owner from a ``default_fallback_owner`` column
    (or the ``default_fallback_owner`` argument). A rep row with ``route_own_leads`` true lists that rep in
    ``always_route_owners``.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
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
        doc = csv_document(text, errors)
        if errors:
            return RosterParseResult(False, None, errors)
    else:
        return RosterParseResult(False, None, [{"roster": filename, "reason": "roster files are .json or .csv"}])
    if default_fallback_owner and not doc.get("default_fallback_owner"):
        doc["default_fallback_owner"] = default_fallback_owner
    roster = build_roster(doc, errors, warnings)
    if roster is None or errors:
        return RosterParseResult(False, None, errors, warnings)
    if not roster.reps:
        warnings.append({"roster": filename, "reason": "no reps: every lead goes to a fallback owner"})
    return RosterParseResult(True, roster, [], warnings)


def roster_change_warnings(old: Roster | None, new: Roster, open_leads: Mapping[str, int]) -> list[Problem]:
    """Warnings about reps that leave (or become inactive) while they still own open leads."""
    out: list[Problem] = []
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
