"""Late geocodes through the handlers on the local stack: Salesforce fills Latitude/Longitude after the lead was
taken in (a CDC UPDATE of the Address compound, by its geocode clean rule, not by a person).

- A lead nobody has worked yet that turns out to lie in another territory is moved there: one LeadRerouted
  (reason GEOCODED), the counters moved exactly once, written back with the new owner and territory.
- A lead a rep already works keeps its owner: only its territory stamp is refined, written back without OwnerId.

The sample territories (WEST, MOUNTAIN ...) and roster of the reliability stack; the leads come in with a ZIP only
(89501, Reno NV: WEST by its ZIP centroid) and Salesforce then geocodes their street to Salt Lake City (MOUNTAIN).
"""

from __future__ import annotations

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead
from territory_router_tools.salesforce.samples import cdc_create_event, cdc_update_event

from .pipeline import ORG_ID, Pipeline

GEOCODE_USER = "005xx000001GeoCAAA"  # the user Salesforce's geocode clean rule saves as (not our integration)
SALT_LAKE_CITY = {"Latitude": 40.7608, "Longitude": -111.891, "GeocodeAccuracy": "Address", "Street": "1 Main St"}


def _lead(n: int, tag: str) -> Lead:
    return Lead(lead_id=to_18(f"00Q{tag}{n:09d}"), last_name=f"Geo {n}", company="Acme", postal_code="89501",
                country="US", status="Open - Not Contacted")  # fmt: skip


def _take_in(pipeline: Pipeline, leads: list[Lead]) -> dict[str, dict]:
    pipeline.publish([cdc_create_event(lead, org_id=ORG_ID) for lead in leads])
    pipeline.wait()
    records = {lid: pipeline.leads()[lid] for lid in (lead.lead_id for lead in leads)}
    for record in records.values():
        assert record["status"] == "ASSIGNED" and record["territory_id"] == "WEST", record
        assert (record["tag_method"], record["tag_precision"]) == ("POSTAL_CENTROID", "POSTAL_CODE")
    return records


def test_late_geocode_moves_an_unworked_lead_to_its_territory(pipeline: Pipeline, figures) -> None:
    leads = [_lead(n, "GEO") for n in range(3)]
    before = _take_in(pipeline, leads)
    totals_before = pipeline.assigned_totals()

    geocodes = [cdc_update_event(lead.lead_id, SALT_LAKE_CITY, org_id=ORG_ID, commit_user=GEOCODE_USER)
                for lead in leads]  # fmt: skip
    pipeline.publish(geocodes)
    pipeline.wait()
    pipeline.publish(geocodes)  # the same events again (at-least-once delivery): nothing moves twice
    pipeline.wait()

    mountain = {m for g in _groups(pipeline) if g["group_id"] == "MOUNTAIN" for m in g["members"]}
    for lead in leads:
        record = pipeline.leads()[lead.lead_id]
        old = before[lead.lead_id]
        assert record["status"] == "ASSIGNED" and record["territory_id"] == "MOUNTAIN"
        assert (record["tag_method"], record["tag_precision"]) == ("POLYGON", "ROOFTOP")
        assert record["owner_id"] in mountain and record["counted_rep_id"] == record["owner_id"]
        assert record["reroute_reason"] == "GEOCODED" and int(record["reroute_count"]) == 0  # no SLA was missed
        assert record["previous_owners"] == [old["owner_id"]]
        assert record["lead"]["latitude"] == 40.7608 and record["lead"]["postal_code"] == "89501"
        assert "moved from WEST to MOUNTAIN" in record["decision"]["reroute"]
        # Salesforce got the new owner and territory, once more after the first assignment
        sf = pipeline.salesforce.leads[lead.lead_id]
        assert sf["OwnerId"] == record["owner_id"] and sf["Territory__c"] == "Mountain"
        assert sf["Territory_Tag_Precision__c"] == "ROOFTOP" and sf["Routing_Status__c"] == "REROUTED"
        assert "moved after Salesforce geocoded the lead" in sf["Routing_Reason__c"]
    # counters: the old reps -1, the new ones +1, exactly once (counters equal the open leads, stack-wide)
    pipeline.assert_counters_exact()
    totals_after = pipeline.assigned_totals()
    grew = sum(totals_after.get(r, 0) - totals_before.get(r, 0) for r in totals_after)
    assert grew == len(leads)
    assert sum(pipeline.dlq_depths().values()) == 0
    figures("late_geocode_move", {"leads": len(leads), "moved_to": "MOUNTAIN"})


def test_late_geocode_leaves_a_worked_lead_with_its_owner(pipeline: Pipeline) -> None:
    lead = _lead(0, "GEW")
    before = _take_in(pipeline, [lead])[lead.lead_id]
    owner = before["owner_id"]
    # The rep works it (status moved on), then Salesforce's geocode arrives.
    pipeline.publish([cdc_update_event(lead.lead_id, {"Status": "Working - Contacted"}, org_id=ORG_ID, commit_user=owner)])
    pipeline.wait()
    assert pipeline.leads()[lead.lead_id]["status"] == "ATTENDED"
    patches_before = len(pipeline.writeback_log(lead.lead_id))

    pipeline.publish([cdc_update_event(lead.lead_id, SALT_LAKE_CITY, org_id=ORG_ID, commit_user=GEOCODE_USER)])
    pipeline.wait()

    record = pipeline.leads()[lead.lead_id]
    assert record["status"] == "ATTENDED" and record["owner_id"] == owner  # the owner is kept
    assert record["territory_id"] == "MOUNTAIN" and record["tag_precision"] == "ROOFTOP"  # the stamp is refined
    assert "owner kept: the lead is attended" in record["decision"]["refined"]
    assert not record.get("counted_rep_id") and int(record.get("reroute_count", 0)) == 0
    written = pipeline.writeback_log(lead.lead_id)[patches_before:]
    assert len(written) == 1 and "OwnerId" not in written[0] and "Routing_Status__c" not in written[0]
    assert written[0]["Territory__c"] == "Mountain" and written[0]["Territory_Tag_Method__c"] == "POLYGON"
    assert pipeline.salesforce.leads[lead.lead_id]["OwnerId"] == owner
    pipeline.assert_counters_exact()
    assert sum(pipeline.dlq_depths().values()) == 0


def _groups(pipeline: Pipeline) -> list[dict]:
    from .pipeline import small_roster

    return small_roster()["groups"]
