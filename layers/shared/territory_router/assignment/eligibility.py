"""Who may receive a lead right now. The checks run in this order and the first that fails is the reason:

1. active (and not excluded, e.g. a previous owner when re-routing)
2. inside working hours (the rep's own time zone)
3. not out of office
4. has every required skill / language
5. under capacity (open leads < capacity)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from territory_router.assignment.roster import Rep, Roster, SkillRule
from territory_router.domain.leads import Lead


@dataclass(frozen=True, slots=True)
class RepLoad:
    """A rep's workload counter (``REP#<id>/LOAD``)."""

    open_leads: int = 0
    assigned_total: int = 0


def as_load(value: RepLoad | int | None) -> RepLoad:
    if value is None:
        return RepLoad()
    if isinstance(value, RepLoad):
        return value
    return RepLoad(open_leads=int(value))


def lead_field(lead: Lead, name: str) -> str | None:
    """A lead field by our name (``product_interest``) or by Salesforce API name (``sf_fields``)."""
    if name in Lead.model_fields and name != "sf_fields":
        value = getattr(lead, name)
    else:
        value = lead.sf_fields.get(name)
        if value is None:  # tolerate case differences in API names
            lowered = name.lower()
            for k, v in lead.sf_fields.items():
                if k.lower() == lowered:
                    value = v
                    break
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def rule_matches(rule: SkillRule, lead: Lead, territory_id: str | None) -> bool:
    if rule.territories and territory_id not in rule.territories:
        return False
    value = lead_field(lead, rule.field)
    if value is None:
        return False
    return "*" in rule.values or value.lower() in rule.values


def required_skills(rules: Iterable[SkillRule], lead: Lead, territory_id: str | None) -> list[str]:
    needed: set[str] = set()
    for rule in rules:
        if rule_matches(rule, lead, territory_id):
            needed.update(rule.skills)
    return sorted(needed)


def _weekday(dt: datetime) -> str:
    return dt.strftime("%a")


def skip_reason(
    rep: Rep,
    *,
    now: datetime,
    needed: Iterable[str],
    load: RepLoad,
    excluded: Mapping[str, str] | None = None,
) -> str | None:
    """Why ``rep`` cannot take the lead now, or None when eligible."""
    if not rep.active:
        return "inactive"
    if excluded and rep.rep_id in excluded:
        return f"excluded: {excluded[rep.rep_id]}"
    wh = rep.working_hours
    if wh is not None and not wh.is_open(now):
        local = now.astimezone(wh.zone)
        return (
            f"outside working hours ({_weekday(local)} {local:%H:%M} {wh.tz}; "
            f"works {wh.days} {wh.start}-{wh.end})"
        )
    z = wh.zone if wh is not None else ZoneInfo("UTC")
    for ooo in rep.out_of_office:
        if ooo.covers(now, z):
            _, end = ooo.bounds(z)
            note = f" ({ooo.note})" if ooo.note else ""
            return f"out of office until {end.isoformat(timespec='minutes')}{note}"
    abilities = rep.abilities
    missing = [s for s in needed if s not in abilities]
    if missing:
        return "missing skill " + ", ".join(missing)
    if load.open_leads >= rep.capacity:
        return f"at capacity {load.open_leads}/{rep.capacity}"
    return None


def eligible_reps(
    roster: Roster,
    member_ids: Iterable[str],
    *,
    now: datetime,
    needed: Iterable[str],
    loads: Mapping[str, RepLoad | int],
    excluded: Mapping[str, str] | None = None,
) -> tuple[list[Rep], list[dict[str, str]]]:
    """(eligible reps in member order, one trail entry per member)."""
    needed = list(needed)
    eligible: list[Rep] = []
    trail: list[dict[str, str]] = []
    for rep_id in member_ids:
        rep = roster.reps.get(rep_id)
        if rep is None:
            trail.append({"rep_id": rep_id, "result": "skipped", "reason": "not in the roster"})
            continue
        load = as_load(loads.get(rep_id))
        reason = skip_reason(rep, now=now, needed=needed, load=load, excluded=excluded)
        entry = {
            "rep_id": rep_id,
            "name": rep.name,
            "load": f"{load.open_leads}/{rep.capacity}",
            "result": "skipped" if reason else "eligible",
        }
        if reason:
            entry["reason"] = reason
        else:
            eligible.append(rep)
        trail.append(entry)
    return eligible, trail
