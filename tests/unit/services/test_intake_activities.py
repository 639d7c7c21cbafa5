"""Intake of Task/Event activities and of wildcard record ids, with in-memory fakes (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from territory_router.salesforce.events import parse_relay_event
from territory_router.services.intake import IntakeDeps, IntakeResult, handle_change
from territory_router_tools.salesforce.samples import cdc_activity_event, cdc_update_event

from .test_pipeline_services import FakeLeads, FakeLifecycle

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORG = "00Dxx0000001gErEAI"
LEAD = "00Qxx0000001AbCEAU"
TASK = "00Txx0000001AbCEAU"
OWNER = "005xx000001SvUNAA0"
TEAMMATE = "005xx000001SvUOAA0"
INTEGRATION = "005xx000009ZZZZAA0"


class FakeEvents:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, str, dict]] = []
        self.fail = fail

    def publish(self, entries):
        if self.fail:
            return [key for key, _, _ in entries]
        self.published.extend(entries)
        return []


def deps(leads: FakeLeads, lifecycle=None, events=None, people=frozenset()) -> IntakeDeps:
    return IntakeDeps(leads=leads, lifecycle=lifecycle or FakeLifecycle([]), integration_user_id=INTEGRATION,
                      events=events, roster_people=lambda: people)


def activity(commit_user: str = OWNER, who: str = LEAD, **kw):
    (change,) = parse_relay_event(
        cdc_activity_event("Task", TASK, {"WhoId": who, "TaskSubtype": "Call"}, org_id=ORG, commit_user=commit_user, **kw),
        expected_org_id=ORG,
    )
    return change


@pytest.mark.parametrize("status", ["ASSIGNED", "KEPT_OWNER", "ESCALATED"])
def test_a_call_logged_by_the_owner_marks_the_lead_attended_and_announces_it(status: str) -> None:
    leads = FakeLeads()
    leads.items[LEAD] = {"lead_id": LEAD, "status": status, "owner_id": OWNER, "territory_id": "WEST"}
    lifecycle, events = FakeLifecycle([]), FakeEvents()
    result = handle_change(activity(), deps=deps(leads, lifecycle, events), now=NOW)
    assert result == IntakeResult(action="attended", released=True, via="activity")
    assert lifecycle.calls[0][:2] == ("attended", LEAD) and "by its owner" in lifecycle.calls[0][2]
    ((_, detail_type, detail),) = events.published
    assert detail_type == "LeadAttended" and detail["owner_id"] == OWNER and detail["status"] == "ATTENDED"


def test_a_teammate_the_roster_counts_also_attends() -> None:
    leads = FakeLeads()
    leads.items[LEAD] = {"lead_id": LEAD, "status": "ASSIGNED", "owner_id": OWNER}
    lifecycle = FakeLifecycle([])
    handle_change(activity(TEAMMATE), deps=deps(leads, lifecycle, people=frozenset({TEAMMATE})), now=NOW)
    assert lifecycle.calls and "roster counts" in lifecycle.calls[0][2]


@pytest.mark.parametrize(
    ("who", "commit_user", "stored", "reason"),
    [
        (LEAD, OWNER, None, "never routed"),
        ("003A0000005QB3AIAW", OWNER, {"status": "ASSIGNED"}, "not a lead"),
        (LEAD, INTEGRATION, {"status": "ASSIGNED", "owner_id": OWNER}, "integration"),
        (LEAD, TEAMMATE, {"status": "ASSIGNED", "owner_id": OWNER}, "neither"),
    ],
)
def test_activities_that_are_not_attention_are_ignored_cleanly(who, commit_user, stored, reason) -> None:
    leads = FakeLeads()
    if stored:
        leads.items[LEAD] = {"lead_id": LEAD, **stored}
    lifecycle = FakeLifecycle([])
    result = handle_change(activity(commit_user, who=who), deps=deps(leads, lifecycle), now=NOW)
    assert result.action == "activity_ignored" and reason in result.reason
    assert lifecycle.calls == []


class FakeTrigger:
    """The ReconciliationTrigger contract (sf-reads: services/reconciliation.py): request(...) or raise."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[dict] = []
        self.fail = fail

    def request(self, *, reason, now, source_event_id=None, since=None):
        if self.fail:
            raise RuntimeError("could not queue a reconciliation request")
        self.requests.append({"reason": reason, "now": now, "source_event_id": source_event_id, "since": since})


def test_wildcard_asks_for_a_reconciliation_with_its_window() -> None:
    event = cdc_update_event("00Q*", {"Status": "Working"}, org_id=ORG, time=NOW - timedelta(minutes=5))
    (change,) = parse_relay_event(event, expected_org_id=ORG)
    d = deps(FakeLeads())
    d.reconcile = FakeTrigger()
    result = handle_change(change, deps=d, now=NOW)
    assert result == IntakeResult(action="reconciliation_requested", change_type="UPDATE")
    (request,) = d.reconcile.requests
    assert request["source_event_id"] == change.event_id and request["now"] == NOW
    assert request["since"] == NOW - timedelta(minutes=5) - timedelta(hours=1)
    assert "00Q*" in request["reason"] and "did not say which leads" in request["reason"]


def test_a_reconciliation_that_cannot_be_requested_is_retried_not_lost() -> None:
    (change,) = parse_relay_event(cdc_update_event("00Q*", {"Status": "Working"}, org_id=ORG), expected_org_id=ORG)
    d = deps(FakeLeads())
    d.reconcile = FakeTrigger(fail=True)
    with pytest.raises(RuntimeError, match="reconciliation"):
        handle_change(change, deps=d, now=NOW)


def test_without_a_trigger_the_wildcard_is_reported_not_dropped(caplog) -> None:
    (change,) = parse_relay_event(cdc_update_event("00Q*", {"Status": "Working"}, org_id=ORG), expected_org_id=ORG)
    result = handle_change(change, deps=deps(FakeLeads()), now=NOW)
    assert result == IntakeResult(action="reconcile_reported", change_type="UPDATE")
    assert "no reconciliation trigger" in caplog.text


def test_roster_people_are_read_again_after_five_minutes() -> None:
    from territory_router.services.intake import _RoutingLifecycle

    class Roster:
        def __init__(self, people):
            self._people = frozenset(people)

        def people(self):
            return self._people

    class Store:
        def __init__(self) -> None:
            self.active = Roster({OWNER})
            self.refreshes: list[bool] = []

        def active_roster_or_none(self, *, refresh: bool):
            self.refreshes.append(refresh)
            return self.active

    clock = [0.0]
    store = Store()
    lifecycle = _RoutingLifecycle(store, clock=lambda: clock[0])
    assert lifecycle.roster_people() == {OWNER}
    store.active = Roster({OWNER, TEAMMATE})  # a new roster was activated
    clock[0] = 120.0
    lifecycle.roster_people()
    clock[0] = 301.0
    assert lifecycle.roster_people() == {OWNER, TEAMMATE}
    assert store.refreshes == [True, False, True]
