"""One "latest decision per lead" rule (``writeback_rules.latest_decision``), for the batch and for ``write_back``.

The two copies disagreed: the batch (services) ordered by ``assigned_at`` then ``reroute_count`` and kept the first
of a tie, grouped leads by their exact id and carried a later stamp refinement onto the owner decision;
``write_back`` ordered by ``reroute_count`` then ``assigned_at``, kept the last of a tie, grouped by the 15-character
id and knew nothing of stamp refinements. Each case below is one where they gave different answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from territory_router.domain.ids import to_15, to_18
from territory_router.domain.messages import LeadAssignedDetail
from territory_router.salesforce.writeback_rules import (
    RecordResult,
    WritebackResult,
    latest_decision,
    latest_per_lead,
    write_back,
)
from territory_router.services.writeback_batch import write_back_batch

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEAD = to_18("00Qxx0000000001")
A, B = "005xx000000000AAAA", "005xx000000000BAAA"


def decision(owner: str, *, at: datetime = T0, count: int = 0, lead: str = LEAD, **more) -> LeadAssignedDetail:
    return LeadAssignedDetail(lead_id=lead, owner_id=owner, assigned_at=at, reroute_count=count, **more)


class AcceptingLedger:
    """Every claim succeeds (the ledger's own filtering is tested elsewhere)."""

    def claim(self, lead_id, key, *, message_id, owner_id=None, takeover=False) -> bool:
        return True

    def refused(self, lead_id, key, *, message_id, error_code) -> None:
        pass


class Recorder:
    """The Salesforce client: records what is sent, every record succeeds."""

    last_api_usage = None

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def update_owners(self, records: list[dict]) -> list[RecordResult]:
        self.sent.extend(records)
        return [RecordResult(id=r["id"], success=True) for r in records]


def through_the_batch(details: Sequence[LeadAssignedDetail]) -> list[LeadAssignedDetail]:
    written: list[LeadAssignedDetail] = []

    def write(chosen: Sequence[LeadAssignedDetail]) -> WritebackResult:
        written.extend(chosen)
        return WritebackResult(succeeded=[d.lead_id for d in chosen])

    items = [(f"m{i}", d) for i, d in enumerate(details)]
    result = write_back_batch(items, ledger=AcceptingLedger(), write=write, now=T0)
    assert sorted(result.written) == sorted(m for m, _ in items)  # every message settled by the one write
    return written


def through_write_back(details: Sequence[LeadAssignedDetail]) -> list[dict]:
    client = Recorder()
    write_back(details, client=client)
    return client.sent


def test_the_reroute_count_orders_before_the_clock() -> None:
    # A re-route is stamped with its schedule's time; an assignment with its container's clock, which may read
    # later. The count never goes down on a lead, so the re-route (count 1) is the later decision. The batch used
    # to pick the assignment (later assigned_at) and write the replaced owner.
    reroute = decision(B, at=T0, count=1)
    assignment = decision(A, at=T0 + timedelta(seconds=30), count=0)
    for details in ([assignment, reroute], [reroute, assignment]):
        assert latest_decision(details) == reroute
        assert [d.owner_id for d in through_the_batch(details)] == [B]
        assert [r["OwnerId"] for r in through_write_back(details)] == [B]


def test_a_full_tie_goes_to_the_one_delivered_last() -> None:
    # Same count, same time: the batch used to keep the first, write_back the last.
    first, last = decision(A), decision(B)
    assert latest_decision([first, last]) == last
    assert [d.owner_id for d in through_the_batch([first, last])] == [B]
    assert [r["OwnerId"] for r in through_write_back([first, last])] == [B]


def test_both_id_forms_are_one_lead() -> None:
    # The batch grouped by the exact id: a 15-character id was a second lead, written a second time.
    older = decision(A, lead=to_15(LEAD))
    newer = decision(B, count=1)
    assert [d.owner_id for d in through_the_batch([older, newer])] == [B]
    assert [(r["id"], r["OwnerId"]) for r in through_write_back([older, newer])] == [(LEAD, B)]
    (winner, _), = latest_per_lead([older, newer])
    assert winner == newer


def test_a_later_stamp_refinement_never_hides_the_owner_change() -> None:
    # write_back used to take the stamp-only detail as the latest: no OwnerId was sent and the new owner was lost.
    owner_change = decision(B, count=1, territory_id="WEST", tag_method="POSTAL_CENTROID")
    stamp = decision(B, at=T0 + timedelta(seconds=5), count=1, territory_id="MOUNTAIN", tag_method="POLYGON",
                     tag_precision="ROOFTOP", stamp_only=True)
    for details in ([owner_change, stamp], [stamp, owner_change]):
        chosen = latest_decision(details)
        assert not chosen.stamp_only and chosen.owner_id == B
        assert (chosen.territory_id, chosen.tag_method, chosen.tag_precision) == ("MOUNTAIN", "POLYGON", "ROOFTOP")
        (sent,) = through_write_back(details)
        assert sent["OwnerId"] == B and sent["Territory_Tag_Method__c"] == "POLYGON"
        assert through_the_batch(details) == [chosen]


def test_an_older_stamp_is_not_carried_onto_a_newer_owner_decision() -> None:
    stamp = decision(A, at=T0, count=0, territory_id="MOUNTAIN", stamp_only=True)
    reroute = decision(B, at=T0 - timedelta(seconds=1), count=1, territory_id="WEST")
    assert latest_decision([stamp, reroute]) == reroute


def test_only_stamps_gives_the_latest_stamp() -> None:
    early = decision(A, territory_id="WEST", stamp_only=True)
    late = decision(A, at=T0 + timedelta(minutes=1), territory_id="MOUNTAIN", stamp_only=True)
    assert latest_decision([late, early]) == late


def test_nothing_to_choose_from_is_an_error() -> None:
    with pytest.raises(ValueError):
        latest_decision([])
