"""Intake, tagging and writeback orchestration with in-memory fakes (no AWS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest, LeadAssignedDetail, TagRequest
from territory_router.salesforce.events import ChangeKind, EventSource, LeadChange
from territory_router.salesforce.lifecycle import Action, LifecycleAction
from territory_router.salesforce.writeback_rules import WritebackFailure, WritebackResult
from territory_router.services.intake import (
    IntakeDeps,
    IntakeResult,
    handle_change,
    send_tag_requests,
    tag_request_for,
)
from territory_router.services.tagging import ActiveTaggerCache, stamp_and_forward, tag_requests
from territory_router.services.writeback_batch import Delivery, assignment_key, write_back_batch

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEAD_ID = "00QDm0000000001AAA"


def lead(**kw) -> Lead:
    return Lead(lead_id=kw.pop("lead_id", LEAD_ID), last_name="Hopper", company="Acme", **kw)


def change(kind: ChangeKind, **kw) -> LeadChange:
    return LeadChange(
        kind=kind,
        lead_id=kw.pop("lead_id", LEAD_ID),
        org_id="00D5e000000LoClEAK",
        event_id=kw.pop("event_id", "e-1"),
        idempotency_key="e-1:" + LEAD_ID,
        source=EventSource.CDC,
        change_type=kind.value,
        **kw,
    )


class FakeLeads:
    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def create_received(self, lead: Lead, *, received_at, source_event_id) -> bool:
        if lead.lead_id in self.items:
            return False
        self.items[lead.lead_id] = {"lead_id": lead.lead_id, "status": "RECEIVED"}
        return True

    def reopen_deleted(self, lead, *, now, source_event_id) -> bool:
        item = self.items.get(lead.lead_id)
        if item and item["status"] == "DELETED":
            item["status"] = "RECEIVED"
            return True
        return False

    def get(self, lead_id: str):
        return self.items.get(lead_id)

    def mark_tagged(self, lead_id: str, tag: TagResult, *, now) -> bool:
        item = self.items.get(lead_id)
        if not item or item["status"] != "RECEIVED":
            return False
        item.update(status="TAGGED", territory_id=tag.territory_id, tag_method=tag.method.value, tag_note=tag.note)
        return True


class FakePublisher:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail = fail

    def send_batch(self, queue_url: str, messages):
        if self.fail:
            return [m[0] for m in messages]
        self.sent.extend((queue_url, i, b) for i, b in messages)
        return []


@dataclass
class FakeLifecycle:
    calls: list

    def mark_attended(self, lead_id, *, now, reason):
        self.calls.append(("attended", lead_id, reason))
        return True

    def release(self, lead_id, *, new_status, now, reason):
        self.calls.append((new_status.value, lead_id, reason))
        return True


def deps(leads=None, lifecycle=None, classify=None) -> IntakeDeps:
    return IntakeDeps(
        leads=leads or FakeLeads(),
        lifecycle=lifecycle,
        classify_update=classify or (lambda *a, **k: None),
    )


def test_create_records_the_lead_once_and_asks_to_queue_it() -> None:
    d = deps()
    created = change(ChangeKind.CREATE, lead=lead())
    result = handle_change(created, deps=d, now=NOW)
    assert result == IntakeResult(action="queued", lead_id=LEAD_ID, queue=True)  # small: the idempotency record stores it
    assert d.leads.items[LEAD_ID]["status"] == "RECEIVED"
    request = TagRequest.model_validate_json(tag_request_for(created, now=NOW))
    assert request.lead.lead_id == LEAD_ID and request.source_event_id == "e-1"


def test_a_lead_still_received_is_requeued_but_a_later_duplicate_is_not() -> None:
    leads = FakeLeads()
    handle_change(change(ChangeKind.CREATE, lead=lead()), deps=deps(leads), now=NOW)
    # A second delivery while the lead still waits for tagging (the first send may have failed): queue again.
    again = handle_change(change(ChangeKind.CREATE, lead=lead()), deps=deps(leads), now=NOW)
    assert again.action == "requeued" and again.queue
    leads.items[LEAD_ID]["status"] = "TAGGED"
    outcome = handle_change(change(ChangeKind.CREATE, lead=lead()), deps=deps(leads), now=NOW)
    assert outcome.action == "duplicate" and not outcome.queue


def test_send_tag_requests_reports_refused_keys() -> None:
    assert send_tag_requests(FakePublisher(fail=True), "q", [("a", "{}"), ("b", "{}")]) == {"a", "b"}
    ok = FakePublisher()
    assert send_tag_requests(ok, "q", [("a", "{}")]) == set() and ok.sent == [("q", "a", "{}")]
    assert send_tag_requests(FakePublisher(fail=True), "q", []) == set()


def test_undelete_reopens_a_deleted_lead() -> None:
    leads = FakeLeads()
    leads.items[LEAD_ID] = {"lead_id": LEAD_ID, "status": "DELETED"}
    d = deps(leads)
    assert handle_change(change(ChangeKind.UNDELETE, lead=lead()), deps=d, now=NOW).action == "queued"
    assert leads.items[LEAD_ID]["status"] == "RECEIVED"


def test_update_classified_attended_releases_through_the_lifecycle() -> None:
    leads = FakeLeads()
    leads.items[LEAD_ID] = {"lead_id": LEAD_ID, "status": "ASSIGNED", "owner_id": "005A"}
    lifecycle = FakeLifecycle([])

    seen = {}

    def classify(ch, *, integration_user_id, our_owner_id):
        seen["owner"] = our_owner_id
        return LifecycleAction(action=Action.ATTENDED, lead_id=ch.lead_id, reason="status moved to Working")

    d = deps(leads, lifecycle=lifecycle, classify=classify)
    assert handle_change(change(ChangeKind.UPDATE, changed_fields={"Status": "Working"}), deps=d, now=NOW).action == "attended"
    assert lifecycle.calls == [("attended", LEAD_ID, "status moved to Working")]
    assert seen["owner"] == "005A"


def test_delete_releases_with_deleted_status_and_gap_is_reported_not_dropped() -> None:
    lifecycle = FakeLifecycle([])
    d = deps(lifecycle=lifecycle)
    assert handle_change(change(ChangeKind.DELETE), deps=d, now=NOW).action == "deleted"
    assert lifecycle.calls[0][0] == LeadStatus.DELETED.value
    assert handle_change(change(ChangeKind.GAP, gap=True), deps=d, now=NOW).action == "gap_reported"


def test_tagger_cache_reloads_only_when_the_active_version_changes() -> None:
    active = {"v": ("v1", "compiled/v1.idx")}
    loads = []
    cache = ActiveTaggerCache(
        get_active=lambda: active["v"],
        load_bytes=lambda key: loads.append(key) or key.encode(),
        build=lambda data: f"tagger:{data.decode()}",
    )
    assert cache.current() == ("v1", "tagger:compiled/v1.idx")
    assert cache.current() == ("v1", "tagger:compiled/v1.idx")
    assert loads == ["compiled/v1.idx"]
    active["v"] = ("v2", "compiled/v2.idx")
    assert cache.current()[0] == "v2" and loads == ["compiled/v1.idx", "compiled/v2.idx"]


def test_no_active_set_tags_untagged_with_the_reason() -> None:
    request = TagRequest(lead=lead(), received_at=NOW)
    (tagged,) = tag_requests([request], None)
    assert tagged.tag.method is TagMethod.UNTAGGED and "no active territory set" in tagged.tag.note


def test_stamp_and_forward_resends_stored_stamp_on_redelivery() -> None:
    leads = FakeLeads()
    leads.items[LEAD_ID] = {"lead_id": LEAD_ID, "status": "RECEIVED"}
    sent = []
    tag = TagResult(territory_id="WEST", territory_name="West", method=TagMethod.POLYGON)

    class Item:
        request = TagRequest(lead=lead(), received_at=NOW)

    item = Item()
    item.tag = tag
    assert stamp_and_forward(item, leads=leads, send=lambda i, b: sent.append(b), now=NOW) == "forwarded"
    other = Item()
    other.tag = TagResult(territory_id="EAST", method=TagMethod.POLYGON)
    assert stamp_and_forward(other, leads=leads, send=lambda i, b: sent.append(b), now=NOW) == "forwarded"
    assert [AssignRequest.model_validate_json(b).tag.territory_id for b in sent] == ["WEST", "WEST"]
    leads.items[LEAD_ID]["status"] = "ASSIGNED"
    assert stamp_and_forward(other, leads=leads, send=lambda i, b: sent.append(b), now=NOW) == "already_assigned"
    assert len(sent) == 2


class FakeLedger:
    """The ledger's rule (``WritebackLedger``) on a dict: lead -> mark ``(key, message id)``; ``writes`` counts
    its writes (one per decision written, a second only for a refusal)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[str, str]] = {}
        self.errors: dict[str, tuple[str, str]] = {}  # lead -> (key, error code)
        self.owners: dict[str, str] = {}  # lead -> current owner (absent: any owner)
        self.writes = 0

    def claim(self, lead_id, key, *, message_id, owner_id=None, takeover=False):
        mark = self.marks.get(lead_id)
        if mark is not None and mark[0] == key and mark[1] != message_id and not takeover:
            return False
        if owner_id and self.owners.get(lead_id, owner_id) != owner_id:
            return False
        self.marks[lead_id] = (key, message_id)
        self.errors.pop(lead_id, None)
        self.writes += 1
        return True

    def refused(self, lead_id, key, *, message_id, error_code):
        if self.marks.get(lead_id) == (key, message_id):
            del self.marks[lead_id]
            self.errors[lead_id] = (key, error_code)
            self.writes += 1


def detail(lead_id: str, owner: str = "005A", reroutes: int = 0) -> LeadAssignedDetail:
    return LeadAssignedDetail(lead_id=lead_id, owner_id=owner, assigned_at=NOW, reroute_count=reroutes)


def Failure(lead_id: str, code: str) -> WritebackFailure:  # noqa: N802 - reads like the record it builds
    return WritebackFailure(lead_id, code)


def Outcome(succeeded: list, transient: list, permanent: list) -> WritebackResult:  # noqa: N802
    """What ``write_back`` answers (the batch reads its typed result, nothing else)."""
    return WritebackResult(succeeded=succeeded, transient=transient, permanent=permanent)


def test_writeback_batch_skips_duplicates_and_settles_each_result() -> None:
    ledger = FakeLedger()
    calls = []

    def write(details):
        calls.append([d.lead_id for d in details])
        return Outcome(["L1"], [Failure("L2", "UNABLE_TO_LOCK_ROW")], [Failure("L3", "ENTITY_IS_DELETED")])

    items = [("m1", detail("L1")), ("m1b", detail("L1")), ("m2", detail("L2")), ("m3", detail("L3"))]
    result = write_back_batch(items, ledger=ledger, write=write, now=NOW)
    assert calls == [["L1", "L2", "L3"]]
    assert result.written == ["m1"] and result.skipped_duplicates == ["m1b"]
    assert result.retry == ["m2"] and result.permanent == [("m3", "L3", "ENTITY_IS_DELETED")]
    assert ledger.marks["L1"] == (assignment_key(detail("L1")), "m1")  # the mark is the record: no second write
    assert ledger.errors["L3"] == (assignment_key(detail("L3")), "ENTITY_IS_DELETED") and "L3" not in ledger.marks
    assert ledger.writes == 4  # three marks, one refusal
    # The retried message writes again (it holds its mark); another copy of a written decision does not.
    again = write_back_batch([("m1b", detail("L1")), ("m2", detail("L2"))], ledger=ledger,
                             write=lambda d: Outcome([x.lead_id for x in d], [], []), now=NOW)
    assert again.skipped_duplicates == ["m1b"] and again.written == ["m2"]
    # A redriven copy of the refused decision (the key was freed) is written.
    redriven = write_back_batch([("m3r", detail("L3"))], ledger=ledger,
                                write=lambda d: Outcome([x.lead_id for x in d], [], []), now=NOW)
    assert redriven.written == ["m3r"]


def test_the_message_holding_the_mark_is_written_again_and_a_redrive_takes_it_over() -> None:
    ledger = FakeLedger()
    ledger.marks["L1"] = (assignment_key(detail("L1")), "m1")  # m1 marked, then its container died
    sent = []

    def write(details):
        sent.extend(d.lead_id for d in details)
        return Outcome([x.lead_id for x in details], [], [])

    other = write_back_batch([("m2", detail("L1"))], ledger=ledger, write=write, now=NOW)
    assert other.skipped_duplicates == ["m2"] and sent == []  # another copy: m1 is still in the queue
    again = write_back_batch([("m1", detail("L1"))], ledger=ledger, write=write, now=NOW)
    assert again.written == ["m1"] and sent == ["L1"]  # m1's redelivery writes it (an identical update)
    redriven = write_back_batch([("m9", detail("L1"))], ledger=ledger, write=write, now=NOW,
                                deliveries={"m9": Delivery(redriven=True)})
    assert redriven.written == ["m9"] and ledger.marks["L1"][1] == "m9"


def test_writeback_call_failure_keeps_the_mark_for_the_retry() -> None:
    ledger = FakeLedger()

    def boom(details):
        raise ConnectionError("salesforce down")

    result = write_back_batch([("m1", detail("L1"))], ledger=ledger, write=boom, now=NOW)
    assert result.retry == ["m1"] and ledger.writes == 1  # nothing released: the message keeps its mark
    again = write_back_batch([("m1", detail("L1"))], ledger=ledger,
                             write=lambda d: Outcome([x.lead_id for x in d], [], []), now=NOW)
    assert again.written == ["m1"]


def test_a_stale_assignment_never_overwrites_a_newer_owner() -> None:
    ledger = FakeLedger()
    ledger.owners["L1"] = "005B"  # re-routed to B before A's LeadAssigned was written back
    written = []
    result = write_back_batch([("old", detail("L1", owner="005A")), ("new", detail("L1", owner="005B", reroutes=1))],
                              ledger=ledger, write=lambda d: written.extend(d) or Outcome([x.lead_id for x in d], [], []),
                              now=NOW)
    assert [d.owner_id for d in written] == ["005B"]
    assert result.skipped_duplicates == ["old"] and result.written == ["new"]


def test_a_later_stamp_refinement_never_hides_an_owner_change_in_the_same_batch() -> None:
    from datetime import timedelta

    ledger = FakeLedger()
    written = []
    assigned = detail("L1", owner="005A").model_copy(update={"territory_id": "WEST", "tag_method": "POSTAL_CENTROID"})
    stamp = detail("L1", owner="005A").model_copy(update={
        "territory_id": "MOUNTAIN", "tag_method": "POLYGON", "tag_precision": "ROOFTOP", "stamp_only": True,
        "assigned_at": NOW + timedelta(seconds=5),
    })  # fmt: skip
    result = write_back_batch([("assigned", assigned), ("stamp", stamp)], ledger=ledger,
                              write=lambda d: written.extend(d) or Outcome([x.lead_id for x in d], [], []), now=NOW)  # fmt: skip
    (sent,) = written
    assert not sent.stamp_only and sent.owner_id == "005A"  # the owner still reaches Salesforce...
    assert (sent.territory_id, sent.tag_method, sent.tag_precision) == ("MOUNTAIN", "POLYGON", "ROOFTOP")  # ...refined
    assert sorted(result.written) == ["assigned", "stamp"]
