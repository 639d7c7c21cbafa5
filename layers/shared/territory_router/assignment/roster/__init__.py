"""The sales roster: reps, assignment groups, skill rules and fallbacks, and how to read one from a file.

Split along its jobs: ``ids`` (the Salesforce User/Queue ids a roster names), ``schedule`` (working hours and
absences), ``model`` (the validated ``Roster`` the functions cache by version) and ``parse`` (the uploaded document,
JSON or CSV, as a pydantic ``RosterDocument``, and its cross-checks). The names below are the package's API.
"""

from territory_router.assignment.roster.ids import QUEUE_PREFIX, USER_PREFIX, owner_kind, sf_id18
from territory_router.assignment.roster.model import (
    DEFAULT_GROUP_KEY,
    Group,
    Rep,
    Roster,
    SkillRule,
    SlaSettings,
    Strategy,
)
from territory_router.assignment.roster.parse import (
    RosterDocument,
    RosterParseResult,
    parse_roster,
    roster_change_warnings,
)
from territory_router.assignment.roster.schedule import OutOfOffice, WorkingHours, parse_days

__all__ = [
    "DEFAULT_GROUP_KEY",
    "QUEUE_PREFIX",
    "USER_PREFIX",
    "Group",
    "OutOfOffice",
    "Rep",
    "Roster",
    "RosterDocument",
    "RosterParseResult",
    "SkillRule",
    "SlaSettings",
    "Strategy",
    "WorkingHours",
    "owner_kind",
    "parse_days",
    "parse_roster",
    "roster_change_warnings",
    "sf_id18",
]
