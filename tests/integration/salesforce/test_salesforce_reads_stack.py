"""Salesforce's truth through the handlers, on the local stack (moto, template.yaml) with the test org.

The test org (``FakeOrg``) holds the leads, answers SOQL over HTTP and relays every change it makes to the stack's
partner bus, the way Event Relay does; the pipeline learns of a lead only the way it would in production:

* a lead created with a GAP_CREATE event (no field data) -> intake reads the lead -> routed exactly once, even when
  Salesforce sends the gap twice; while Salesforce is unreachable the event is retried, not lost;
* a lead created while the relay was stopped longer than the 72-hour retention (its event is lost) -> the scheduled
  reconciliation finds it -> routed exactly once; the next run sends nothing;
* GAP_OVERFLOW (names no record) -> a ReconciliationRequest -> the reconciliation function runs from its queue;
* a lead that existed before go-live (outside the look-back) -> ``territory-router backfill --since`` -> once;
  ``backfill --from-csv`` (a Data Loader export) the same way; a second backfill sends nothing;
* the re-route reads the due leads back: a lead whose rep logged a call (LastActivityDate changes, no
  LeadChangeEvent; the relay is stopped so even the TaskChangeEvent never arrives) is released as attended, never
  re-routed; with Salesforce unreachable nothing is re-routed until it answers again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from territory_router.domain.ids import to_18

ORG_ID = "00Dxx0000001gErEAI"


def _roster() -> dict[str, Any]:
    doc = json.loads(resources.files("territory_router_tools.data").joinpath("sample_roster.json").read_text())
    for rep in doc["reps"]:  # always at work, room to spare: the tests must not depend on the clock
        rep["capacity"] = 50
        rep.pop("working_hours", None)
        rep.pop("out_of_office", None)
    return doc


class Org:
    """The stack, the test org, and helpers to look at both."""

    def __init__(self, stack, salesforce) -> None:
        from territory_router_tools.demo.leads import make_leads

        self.stack, self.salesforce = stack, salesforce
        self.r = stack.resources
        self._pool = iter(make_leads(300, 7)[0])
        self._seeded = 0

    def fields(self, **extra: Any) -> dict[str, Any]:
        """Realistic lead fields (a US address with coordinates: the assertions need a rep)."""
        lead = next(self._pool)
        while lead.latitude is None:
            lead = next(self._pool)
        values = {"FirstName": lead.first_name, "LastName": lead.last_name, "Company": lead.company or "Acme",
                  "Street": lead.street, "City": lead.city, "State": lead.state, "PostalCode": lead.postal_code,
                  "Country": lead.country, "Latitude": lead.latitude, "Longitude": lead.longitude}
        return {k: v for k, v in {**values, **extra}.items() if v is not None}

    def old_lead(self, days: int) -> str:
        """A lead that has been in the org (untouched, owned by the default lead owner) for ``days`` days."""
        when = self.salesforce.now() - timedelta(days=days)
        self._seeded += 1
        lead_id = to_18(f"00QOLD{self._seeded:09d}")
        self.salesforce.seed_lead(lead_id, **self.fields(CreatedDate=when, SystemModstamp=when, LastModifiedDate=when))
        return lead_id

    def wait(self) -> None:
        assert self.stack.wait_idle(timeout_s=90), "the pipeline did not settle"
        assert not self.stack.activity.handler_errors, self.stack.activity.handler_errors

    def lead(self, lead_id: str) -> dict[str, Any] | None:
        """The lead with its PII and decision trail (its detail item merged in: adapters/lead_detail.py)."""
        from territory_router.adapters.lead_detail import read_full

        return read_full(self.stack.client("dynamodb"), self.r["LeadsTable"], lead_id)

    def writebacks(self, lead_id: str) -> int:
        """Lead updates Salesforce received for ``lead_id`` (sObject Collections records)."""
        return sum(1 for request in self.salesforce.api_requests("PATCH")
                   for record in (request.json() or {}).get("records", []) if record.get("id") == lead_id)

    def load(self, rep_id: str) -> int:
        item = self.stack.client("dynamodb").get_item(
            TableName=self.r["RoutingTable"], Key={"pk": {"S": f"REP#{rep_id}"}, "sk": {"S": "LOAD"}},
            ConsistentRead=True).get("Item") or {}
        return int(item.get("open_leads", {}).get("N", 0))

    def assert_routed_once(self, lead_id: str) -> dict[str, Any]:
        item = self.lead(lead_id)
        assert item is not None, f"{lead_id} was never taken in"
        assert item["status"] == "ASSIGNED" and item["owner_id"] and not item.get("reroute_count")
        assert self.writebacks(lead_id) == 1, f"{lead_id} written back {self.writebacks(lead_id)} times"
        assert self.salesforce.leads[lead_id]["OwnerId"] == item["owner_id"]
        assert self.salesforce.leads[lead_id]["Routing_Status__c"] == "ASSIGNED"
        return item


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Iterator[Org]:
    from territory_router.adapters import aws
    from territory_router.adapters.roster_store import clear_roster_cache
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.fake_org import FakeOrg

    saved_env = dict(os.environ)
    clear_roster_cache()
    try:
        with FakeOrg(org_id=ORG_ID) as salesforce, LocalStack(
            parameter_overrides={"WritebackEnabled": "true", "SalesforceOrgId": ORG_ID,
                                 "SalesforceIntegrationUserId": salesforce.integration_user_id},
            schedule_every_s=24 * 3600,  # the tests fire the schedules themselves
            poll_interval_s=0.1,
        ) as stack:
            r = stack.resources
            stack.client("secretsmanager").put_secret_value(
                SecretId=r["SalesforceCredentialsSecret"], SecretString=json.dumps(salesforce.secret()))
            s3 = stack.client("s3")
            data = resources.files("territory_router_tools.data")
            roster = _roster()
            salesforce.adopt_roster(roster)  # the roster's reps and queues are the org's users and queues
            s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/regions.geojson",
                          Body=data.joinpath("sample_territories.geojson").read_bytes())
            s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/team.json", Body=json.dumps(roster).encode())
            ddb = stack.client("dynamodb")
            deadline = time.monotonic() + 30
            while not all("Item" in ddb.get_item(TableName=r["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}})
                          for pk in ("TERRITORYSET", "ROSTER")):
                assert time.monotonic() < deadline, "the territory set and roster did not activate"
                time.sleep(0.1)
            bus = r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
            salesforce.connect(stack.client("events"), bus)  # the org's relay: every change it makes reaches the bus
            yield Org(stack, salesforce)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        aws.reset_clients()
        clear_roster_cache()
        from aws_lambda_powertools.utilities.parameters import base

        base.DEFAULT_PROVIDERS.clear()


def test_a_gap_create_lead_is_routed_exactly_once(org: Org) -> None:
    sf = org.salesforce
    lead_id = sf.create_lead(org.fields(), owner=sf.default_lead_owner, gap=True)  # GAP_CREATE: ids, no fields
    sf.emit_gap("GAP_CREATE", [lead_id])  # Salesforce may say it twice
    sf.emit_gap("GAP_CREATE", ["00QGAP999999999"])  # a lead deleted (purged) since
    org.wait()
    item = org.assert_routed_once(lead_id)
    assert item["lead"]["city"] == sf.leads[lead_id]["City"]  # the fields came from the read
    assert org.lead(to_18("00QGAP999999999")) is None


def test_a_gap_event_salesforce_cannot_answer_is_retried_not_lost(org: Org) -> None:
    sf = org.salesforce
    failures = org.stack.activity.failures
    sf.unreachable = True
    try:
        lead_id = sf.create_lead(org.fields(), owner=sf.default_lead_owner, gap=True)
        deadline = time.monotonic() + 30
        while org.stack.activity.failures == failures:  # intake failed the message: SQS will deliver it again
            assert time.monotonic() < deadline, "intake never tried the gap event"
            time.sleep(0.05)
        assert org.lead(lead_id) is None
    finally:
        sf.unreachable = False
    assert org.stack.wait_idle(timeout_s=90)
    # A batch whose every record failed makes powertools raise: Lambda retries the whole batch. Expected here.
    errors = org.stack.activity.handler_errors
    assert errors and all(e.startswith("LeadIntakeFunction: BatchProcessingError") for e in errors), errors
    errors.clear()
    org.assert_routed_once(lead_id)
    assert org.stack.queue_depths()["IntakeDLQ"] == 0


def test_a_lead_created_while_the_relay_was_stopped_is_routed_once_by_reconciliation(org: Org) -> None:
    sf = org.salesforce
    sf.stop_relay()
    lead_id = sf.web_to_lead(org.fields())  # its CREATE waits in the org's event bus...
    sf.advance(timedelta(hours=73))
    stats = sf.start_relay()  # ...and is gone when the relay resumes: older than the 72-hour retention
    org.wait()
    assert stats.lost >= 1 and org.lead(lead_id) is None
    summary = org.stack.fire_schedule("LeadReconcileFunction")
    org.wait()
    assert summary["fed"] >= 1
    org.assert_routed_once(lead_id)
    again = org.stack.fire_schedule("LeadReconcileFunction")  # the next hour: its window still covers the lead
    org.wait()
    assert again["fed"] == 0  # it has a routing status in Salesforce now, and a record with us
    org.assert_routed_once(lead_id)


def test_gap_overflow_runs_a_reconciliation_from_the_queue(org: Org) -> None:
    sf = org.salesforce
    lead_id = to_18("00QOVF000000001")
    sf.seed_lead(lead_id, **org.fields())  # changed in the overflowing transaction: no event of its own
    sf.emit_gap("GAP_OVERFLOW")
    org.wait()
    org.assert_routed_once(lead_id)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from territory_router_tools.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_backfill_routes_pre_existing_leads_once(org: Org, tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(org.stack.ready_line())
    lead_id = org.old_lead(days=30)  # before go-live: outside every reconciliation window
    worked = org.old_lead(days=30)
    org.salesforce.leads[worked]["Status"] = "Working - Contacted"  # a rep works it: it keeps its owner
    since = (datetime.now(UTC) - timedelta(days=31)).date().isoformat()

    code, out, err = _cli(["backfill", "--since", since, "--dry-run", "--json", "--stack-file", str(stack_file)])
    assert code == 0, err
    dry = json.loads(out)
    assert dry["dry_run"] and dry["fed"] >= 1 and dry["not_routable"].get("already worked (status moved on)", 0) >= 1
    org.wait()
    assert org.lead(lead_id) is None  # a dry run sends nothing

    code, out, err = _cli(["backfill", "--since", since, "--stack-file", str(stack_file)])
    assert code == 0, err
    assert "sent to intake" in out and "left with their owner" in out
    org.wait()
    org.assert_routed_once(lead_id)
    assert org.lead(worked) is None and org.salesforce.leads[worked]["OwnerId"] == org.salesforce.default_lead_owner

    code, out, err = _cli(["backfill", "--since", since, "--json", "--stack-file", str(stack_file)])
    assert code == 0, err
    assert json.loads(out)["fed"] == 0  # everything of the window is routed now
    org.wait()
    org.assert_routed_once(lead_id)


def test_backfill_from_a_data_loader_csv(org: Org, tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(org.stack.ready_line())
    lead_id = org.old_lead(days=90)
    record = org.salesforce.leads[lead_id]
    columns = ["Id", "FirstName", "LastName", "Company", "Street", "City", "State", "PostalCode", "Country",
               "Latitude", "Longitude", "Status", "OwnerId", "IsConverted"]

    def cell(name: str) -> str:
        value = record.get(name)
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    rows = [",".join(f'"{c.upper()}"' for c in columns),  # Data Loader writes the headers in upper case
            ",".join(f'"{cell(c)}"' for c in columns),
            '"not-an-id","X","Y","","","","","","","","","","",""']
    path = tmp_path / "extract.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    code, out, err = _cli(["backfill", "--from-csv", str(path), "--stack-file", str(stack_file)])
    assert code == 1 and "row 3: Id 'not-an-id' is not a Lead id" in err  # the bad row is named, the good one sent
    org.wait()
    org.assert_routed_once(lead_id)
    code, out, err = _cli(["backfill", "--from-csv", str(path), "--json", "--stack-file", str(stack_file)])
    summary = json.loads(out)
    assert summary["fed"] == 0 and summary["already_known"] == 1


def test_reroute_skips_a_lead_salesforce_shows_worked_and_waits_when_salesforce_is_unreachable(org: Org) -> None:
    sf = org.salesforce
    called, untouched, other = (sf.web_to_lead(org.fields()) for _ in range(3))  # ordinary CDC creates
    org.wait()
    items = {i: org.assert_routed_once(i) for i in (called, untouched, other)}

    # The rep logs a call: a Task on the lead, no Status change, so no LeadChangeEvent (CDC omits LastActivityDate).
    # The relay is stopped too, so not even the TaskChangeEvent arrives: only Salesforce itself knows.
    rep = items[called]["owner_id"]
    sf.stop_relay()
    sf.log_call(called, by=rep)
    load_before = org.load(rep)
    now = datetime.now(UTC)
    summary = org.stack.fire_schedule("LeadRerouteFunction", at=now + timedelta(hours=3))
    org.wait()
    after = org.lead(called)
    assert after["status"] == "ATTENDED" and after["owner_id"] == rep and "counted_rep_id" not in after
    assert "activity logged" in after["release_reason"]
    assert org.load(rep) == load_before - 1  # released exactly once
    assert org.writebacks(called) == 1 and sf.leads[called]["OwnerId"] == rep  # never taken from the rep
    for lead_id in (untouched, other):  # nobody touched them: moved on as before
        assert org.lead(lead_id)["reroute_count"] == 1
    assert summary["attended_in_salesforce"] >= 1 and summary["blocked_salesforce_unreadable"] == 0

    # Salesforce unreachable: the due leads stay where they are; with Salesforce back the next run moves them
    due = {i: org.lead(i) for i in (untouched, other)}
    sf.unreachable = True
    try:
        summary = org.stack.fire_schedule("LeadRerouteFunction", at=now + timedelta(hours=6))
        org.wait()
    finally:
        sf.unreachable = False
    assert summary["rerouted"] == 0 and summary["escalated"] == 0 and summary["blocked_salesforce_unreadable"] >= 2
    for lead_id, before in due.items():
        still = org.lead(lead_id)
        assert (still["owner_id"], still["reroute_count"], still["version"]) == (
            before["owner_id"], 1, before["version"])
        assert still["reroute_shard"] == "DUE" and org.writebacks(lead_id) == 2
    summary = org.stack.fire_schedule("LeadRerouteFunction", at=now + timedelta(hours=9))
    org.wait()
    assert summary["blocked_salesforce_unreadable"] == 0
    assert all(org.lead(i)["owner_id"] != due[i]["owner_id"] for i in due)
    sf.start_relay()
    org.wait()


def test_our_echo_stays_in_salesforce_with_the_channel_filter_and_is_counted_without_it(org: Org, monkeypatch) -> None:
    """The LeadChangeEvent member's echo filter (docs/salesforce.md 1.6) keeps our writeback's echo off the relay;
    without it the echo is still recognised (nothing changes for the lead) and counted as ``EchoesNotFiltered``."""
    from aws_lambda_powertools import Metrics

    from territory_router_tools.salesforce.channel_filter import echo_filter_expression

    # The metrics the handlers add (a spy on the class: stdout capture is unreliable with handlers on threads).
    added: list[str] = []
    add_metric = Metrics.add_metric

    def spy(self, *args, **kwargs):
        added.append(kwargs.get("name") or args[0])
        return add_metric(self, *args, **kwargs)

    monkeypatch.setattr(Metrics, "add_metric", spy)
    sf = org.salesforce
    unfiltered = sf.create_lead(org.fields(), owner=sf.default_lead_owner)
    org.wait()
    org.assert_routed_once(unfiltered)  # the echo changed nothing: routed and written back once
    assert added.count("EchoesNotFiltered") == 1
    added.clear()
    sf.set_channel_filter("LeadChangeEvent", echo_filter_expression(sf.integration_user_id))
    try:
        filtered = sf.relay_stats.filtered
        lead_id = sf.create_lead(org.fields(), owner=sf.default_lead_owner)
        org.wait()
        org.assert_routed_once(lead_id)
        assert sf.relay_stats.filtered == filtered + 1  # its echo never left Salesforce
        assert "LeadChangesReceived" in added and "EchoesNotFiltered" not in added
    finally:
        sf.set_channel_filter("LeadChangeEvent", None)
