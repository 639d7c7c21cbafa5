"""Who gets routed: does a new lead keep the owner Salesforce gave it, or is that owner a routing inbox?

Salesforce gives every new lead an owner (docs/salesforce.md, "Who owns a new lead"): Web-to-Lead and imports get
the org's Default Lead Owner (a user or a queue) unless assignment rules run, an API insert is owned by the calling
user, and a rep who creates a lead owns it. Routing every new lead would take leads away from the reps who created them, so:

* an owner who is an **active rep of the roster** (a person who will work the lead) is **kept**;
* every other owner (a queue ``00G``, our integration user, an admin who imported leads, the default lead owner,
  anyone the roster does not list) is a **routing inbox**: the lead is routed.

The roster can route more: ``always_route_owners`` (e.g. a sales-ops user who is also a rep) and the per-group switch
``always_route`` (the group serving the lead's territory). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from territory_router.assignment.roster import QUEUE_PREFIX, USER_PREFIX, Group, Rep, Roster, sf_id18


@dataclass(frozen=True)
class OwnerRule:
    """The verdict on a new lead's owner. ``keep`` False means: route the lead (``reason`` says why)."""

    keep: bool
    owner_id: str | None
    reason: str
    rep: Rep | None = None
    group_id: str | None = None  # the group serving the lead's territory (its switches were applied)

    def trail(self) -> str:
        verb = "kept" if self.keep else "routed"
        return f"owner {self.owner_id or '(none)'} {verb}: {self.reason}"


def _norm(owner_id: str | None) -> str | None:
    if not owner_id:
        return None
    try:
        return sf_id18(owner_id)
    except ValueError:
        return None


def owner_rule(
    owner_id: str | None,
    territory_id: str | None,
    roster: Roster,
    *,
    integration_user_id: str | None = None,
) -> OwnerRule:
    """Keep ``owner_id`` (the lead's OwnerId when it was created) or route the lead. First rule that applies wins."""
    owner = _norm(owner_id)
    group: Group | None = roster.group_for_territory(territory_id)
    gid = group.group_id if group else None
    if owner is None:
        return OwnerRule(False, None, "the event names no owner", group_id=gid)
    if owner.startswith(QUEUE_PREFIX):
        return OwnerRule(False, owner, "the owner is a queue (a routing inbox)", group_id=gid)
    if not owner.startswith(USER_PREFIX):
        return OwnerRule(False, owner, "the owner is not a user", group_id=gid)
    if integration_user_id and _norm(integration_user_id) == owner:
        return OwnerRule(False, owner, "the owner is the integration user", group_id=gid)
    if owner in roster.always_route_owners:
        return OwnerRule(False, owner, "the owner is listed in the roster's always_route_owners", group_id=gid)
    if owner == roster.default_fallback_owner:
        return OwnerRule(False, owner, "the owner is the roster's default fallback owner", group_id=gid)
    rep = roster.reps.get(owner)
    if rep is None:
        return OwnerRule(
            False, owner,
            "the owner is not a rep of the active roster (integration user, importing admin, default lead owner…)",
            group_id=gid,
        )
    if not rep.active:
        return OwnerRule(False, owner, f"the owner {rep.label} is inactive in the roster", rep=rep, group_id=gid)
    if group is not None and group.always_route:
        return OwnerRule(False, owner, f"group {group.group_id} always routes its leads (always_route)", rep=rep,
                         group_id=gid)
    return OwnerRule(True, owner, f"{rep.label} is an active rep of the roster", rep=rep, group_id=gid)
