"""The assignment decision: pure, given everything it needs, with a readable trail ("why this rep").

``decide`` walks the lead's group and then its overflow groups. In each group it filters the members
(see :mod:`territory_router.assignment.eligibility` for the order of the checks) and lets the group's strategy pick
one (see :mod:`territory_router.assignment.strategies`). When nobody in the chain can take the lead, the first group
fallback owner of the chain takes it, else the roster's default fallback owner. Fallback owners (often queues)
have no workload counter and no re-routing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from territory_router.assignment.eligibility import RepLoad, eligible_reps, required_skills
from territory_router.assignment.roster import Group, Roster, owner_kind
from territory_router.assignment.strategies import PointerState, pick
from territory_router.domain.leads import Lead, TagResult

Outcome = Literal["rep", "overflow", "group_fallback", "global_fallback"]


class NoUsableOwner(Exception):
    """Every owner the decision could fall back to was refused by Salesforce."""


@dataclass(frozen=True)
class Decision:
    """Who gets the lead, and why."""

    owner_id: str
    owner_kind: Literal["USER", "QUEUE"]
    owner_name: str | None
    outcome: Outcome
    group_id: str | None  # the group that chose the owner (or whose fallback took it)
    strategy: str | None
    rep_id: str | None  # set when a rep's open-lead counter must count this lead
    rep_capacity: int | None
    pointer: PointerState | None  # the pointer state to write (its ``seq`` - 1 is the one we read)
    pointer_seen: PointerState | None
    trail: dict[str, Any] = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return self.outcome in ("group_fallback", "global_fallback")

    @property
    def counted(self) -> bool:
        return self.rep_id is not None


def decide(
    lead: Lead,
    tag: TagResult | None,
    roster: Roster,
    loads: Mapping[str, RepLoad | int],
    pointers: Mapping[str, PointerState],
    now: datetime,
    *,
    exclude_reps: Mapping[str, str] | Iterable[str] = (),
    group_id: str | None = None,
    unusable_owners: Mapping[str, str] | None = None,
) -> Decision:
    """Choose the owner of ``lead``.

    ``loads``: open-lead counters by rep id (``RepLoad`` or a bare open count); ``pointers``: pointer state by group
    id (missing = fresh); ``exclude_reps``: reps that must not get it (rep id → reason, or just ids);
    ``group_id``: start from this group instead of the territory's (re-routing keeps the lead's group);
    ``unusable_owners``: users and queues Salesforce refused as owners (id → reason): skipped as reps and as
    fallback owners. Raises ``NoUsableOwner`` when even the default fallback owner is unusable.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    unusable = dict(unusable_owners or {})
    excluded = (
        dict(exclude_reps) if isinstance(exclude_reps, Mapping) else dict.fromkeys(exclude_reps, "previous owner")
    )
    for owner, why in unusable.items():
        excluded.setdefault(owner, f"unusable: {why}")
    territory_id = tag.territory_id if tag is not None else None
    needed = required_skills(roster.skill_rules, lead, territory_id)
    trail: dict[str, Any] = {
        "at": now.isoformat(timespec="seconds"),
        "roster_version": roster.version,
        "territory_id": territory_id,
        "tag_method": tag.method.value if tag is not None else None,
        "required_skills": needed,
        "excluded": sorted(excluded),
        "groups": [],
    }
    start = roster.groups.get(group_id) if group_id else None
    if start is None:
        start = roster.group_for_territory(territory_id)
    if start is None:
        trail["groups_note"] = f"no assignment group serves territory {territory_id!r}"
        chain: list[Group] = []
    else:
        chain = roster.overflow_chain(start)

    for depth, group in enumerate(chain):
        eligible, entries = eligible_reps(
            roster, group.members, now=now, needed=needed, loads=loads, excluded=excluded
        )
        pointer = pointers.get(group.group_id) or PointerState(group.group_id)
        g_trail: dict[str, Any] = {
            "group_id": group.group_id,
            "strategy": group.strategy.value,
            "role": "primary" if depth == 0 else "overflow",
            "candidates": entries,
        }
        if group.strategy.value != "least_loaded":
            g_trail["pointer"] = pointer.to_trail()
        trail["groups"].append(g_trail)
        if not eligible:
            g_trail["result"] = "no eligible member"
            _trim(g_trail, None)
            continue
        chosen = pick(group.strategy, group.members, eligible, pointer, loads)
        _trim(g_trail, chosen.rep.rep_id)
        g_trail["chosen"] = chosen.rep.rep_id
        g_trail["why"] = chosen.why
        outcome: Outcome = "rep" if depth == 0 else "overflow"
        summary = f"{chosen.rep.name or chosen.rep.rep_id} from group {group.group_id}: {chosen.why}"
        if depth:
            summary += f" (overflow from {chain[0].group_id})"
        trail.update(outcome=outcome, owner_id=chosen.rep.rep_id, fallback=False, summary=summary)
        return Decision(
            owner_id=chosen.rep.rep_id,
            owner_kind="USER",
            owner_name=chosen.rep.name or None,
            outcome=outcome,
            group_id=group.group_id,
            strategy=group.strategy.value,
            rep_id=chosen.rep.rep_id,
            rep_capacity=chosen.rep.capacity,
            pointer=chosen.new_pointer,
            pointer_seen=pointer if chosen.new_pointer is not None else None,
            trail=trail,
        )

    for group in chain:
        if group.fallback_owner and group.fallback_owner in unusable:
            trail.setdefault("skipped_fallbacks", []).append(
                f"{group.fallback_owner} (group {group.group_id}): {unusable[group.fallback_owner]}")
            continue
        if group.fallback_owner:
            summary = f"nobody eligible in {' → '.join(g.group_id for g in chain)}: fallback owner of group {group.group_id}"
            trail.update(outcome="group_fallback", owner_id=group.fallback_owner, fallback=True, summary=summary)
            return _fallback(roster, group.fallback_owner, "group_fallback", group, trail)
    if roster.default_fallback_owner in unusable:
        raise NoUsableOwner(
            f"nobody eligible and the default fallback owner {roster.default_fallback_owner} is unusable "
            f"({unusable[roster.default_fallback_owner]}): fix it in Salesforce, then `territory-router reps usable`"
        )
    reason = (
        f"nobody eligible in {' → '.join(g.group_id for g in chain)} and no usable group fallback"
        if chain
        else trail.get("groups_note", "no group")
    )
    trail.update(
        outcome="global_fallback", owner_id=roster.default_fallback_owner, fallback=True,
        summary=f"{reason}: default fallback owner",
    )
    return _fallback(roster, roster.default_fallback_owner, "global_fallback", chain[0] if chain else None, trail)


MAX_TRAIL_CANDIDATES = 40  # keeps the trail small on the lead item and in the event (big groups)


def _trim(g_trail: dict[str, Any], chosen: str | None) -> None:
    entries = g_trail["candidates"]
    if len(entries) <= MAX_TRAIL_CANDIDATES:
        return
    kept = [e for e in entries if e["rep_id"] == chosen]
    kept += [e for e in entries if e["rep_id"] != chosen][: MAX_TRAIL_CANDIDATES - len(kept)]
    omitted = [e for e in entries if e not in kept]
    g_trail["candidates"] = [e for e in entries if e in kept]
    g_trail["omitted"] = {
        "count": len(omitted),
        "eligible": sum(1 for e in omitted if e["result"] == "eligible"),
    }


def _fallback(roster: Roster, owner_id: str, outcome: Outcome, group: Group | None, trail: dict[str, Any]) -> Decision:
    rep = roster.reps.get(owner_id)
    return Decision(
        owner_id=owner_id,
        owner_kind=owner_kind(owner_id),
        owner_name=rep.name if rep else None,
        outcome=outcome,
        group_id=group.group_id if group else None,
        strategy=group.strategy.value if group else None,
        rep_id=None,
        rep_capacity=None,
        pointer=None,
        pointer_seen=None,
        trail=trail,
    )


def format_trail(trail: Mapping[str, Any]) -> str:
    """The trail as a few lines a sales manager can read."""
    lines: list[str] = []
    if trail.get("summary"):
        lines.append(f"Decision: {trail['summary']}")
    lines.append(
        f"Territory: {trail.get('territory_id') or '(none)'}"
        + (f" via {trail['tag_method']}" if trail.get("tag_method") else "")
        + f"; roster {trail.get('roster_version') or '?'}; decided at {trail.get('at')}"
    )
    if trail.get("owner_rule"):
        lines.append(f"Who gets routed: {trail['owner_rule']}")
    if trail.get("required_skills"):
        lines.append("Required skills: " + ", ".join(trail["required_skills"]))
    if trail.get("excluded"):
        lines.append("Excluded (previous or refused owners): " + ", ".join(trail["excluded"]))
    if trail.get("refused_owner"):
        lines.append(f"Salesforce refused the previous owner: {trail['refused_owner']}")
    for skipped in trail.get("skipped_fallbacks", []):
        lines.append(f"Fallback owner skipped: {skipped}")
    if trail.get("groups_note"):
        lines.append(trail["groups_note"])
    for g in trail.get("groups", []):
        head = f"Group {g.get('group_id')} ({g.get('role')}, {g.get('strategy')})"
        ptr = g.get("pointer")
        if ptr:
            head += f", pointer: last {ptr.get('last_rep_id') or '-'} turn {ptr.get('seq')}"
        lines.append(head)
        for c in g.get("candidates", []):
            mark = "✓" if c.get("rep_id") == g.get("chosen") else ("·" if c.get("result") == "eligible" else "✗")
            name = f" {c['name']}" if c.get("name") else ""
            status = "eligible" if c.get("result") == "eligible" else c.get("reason", "skipped")
            lines.append(f"  {mark} {c.get('rep_id')}{name} [{c.get('load', '?')}] {status}")
        if g.get("omitted"):
            o = g["omitted"]
            lines.append(f"  … and {o['count']} more member(s), {o['eligible']} of them eligible")
        if g.get("why"):
            lines.append(f"  → {g['why']}")
        elif g.get("result"):
            lines.append(f"  → {g['result']}")
    for extra, label in (("sla", "SLA"), ("reroute", "Re-route"), ("escalation", "Escalation")):
        if trail.get(extra):
            lines.append(f"{label}: {trail[extra]}")
    return "\n".join(lines)
