"""Salesforce truth end to end against the stateful test org (``FakeOrg``): the org makes the changes a real org
would (a rep creates a lead, Web-to-Lead, an import, a logged call, a status edit) and relays its own change events,
bitmap ``changedFields`` included, to the local stack's partner bus.

* a lead a rep creates keeps that rep (KEPT_OWNER): the org's OwnerId is never written, the territory fields are;
* leads owned by the Default Lead Owner queue (Web-to-Lead, import) are routed and written back;
* the new owner logs a call (TaskChangeEvent, Status untouched): attended, never re-routed;
* the other owner changes the Status: the org sends bitmap change fields with its schema id, intake fetches that
  schema from the org (GET eventSchema) and decodes them: attended;
* three hours later the re-route moves none of them; counters equal the leads they count.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

ORG_ID = "00D5e000000TrUtEAK"
SAN_FRANCISCO = {"Company": "Acme", "City": "San Francisco", "State": "CA", "PostalCode": "94105", "Country": "US",
                 "Latitude": 37.7897, "Longitude": -122.3972}


def _roster() -> dict:
    doc = json.loads(resources.files("territory_router_tools.data").joinpath("sample_roster.json").read_text())
    for rep in doc["reps"]:  # always at work: the test must not depend on the clock
        rep.pop("working_hours", None)
        rep.pop("out_of_office", None)
    return doc


@pytest.fixture(scope="module")
def world() -> Iterator[dict]:
    from territory_router.adapters import aws
    from territory_router.adapters.roster_store import clear_roster_cache
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.fake_org import FakeOrg

    saved_env = dict(os.environ)
    clear_roster_cache()
    _forget_powertools_providers()
    roster = _roster()
    try:
        with FakeOrg(org_id=ORG_ID, bitmap_fields=True) as org, LocalStack(
            parameter_overrides={"WritebackEnabled": "true", "SalesforceOrgId": ORG_ID,
                                 "SalesforceIntegrationUserId": org.integration_user_id},
            schedule_every_s=24 * 3600,
            poll_interval_s=0.1,
        ) as stack:
            r = stack.resources
            stack.client("secretsmanager").put_secret_value(SecretId=r["SalesforceCredentialsSecret"],
                                                            SecretString=json.dumps(org.secret()))
            data = resources.files("territory_router_tools.data")
            s3 = stack.client("s3")
            s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/sales-regions.geojson",
                          Body=data.joinpath("sample_territories.geojson").read_bytes())
            s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/sales-team.json", Body=json.dumps(roster).encode())
            org.adopt_roster(roster)
            ddb = stack.client("dynamodb")
            deadline = time.monotonic() + 30
            while not all(
                "Item" in ddb.get_item(TableName=r["RoutingTable"], Key={"pk": {"S": pk}, "sk": {"S": "ACTIVE"}})
                for pk in ("TERRITORYSET", "ROSTER")
            ):
                assert time.monotonic() < deadline, "territories and roster did not activate"
                time.sleep(0.1)
            bus = r.get("SalesforceEventBus") or stack.template.parameters["SalesforceEventBusName"]
            org.connect(stack.client("events"), bus)
            yield {"org": org, "stack": stack, "roster": roster}
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        aws.reset_clients()
        clear_roster_cache()
        _forget_powertools_providers()


def _forget_powertools_providers() -> None:
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()


def _leads(stack) -> dict[str, dict]:
    from territory_router.adapters.dynamo import from_item

    ddb = stack.client("dynamodb")
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=stack.resources["LeadsTable"], ConsistentRead=True):
        items.extend(from_item(i) for i in page["Items"])
    from territory_router.adapters.lead_detail import leads_of

    return {i["lead_id"]: i for i in leads_of(items)}


def _loads(stack) -> dict[str, int]:
    from territory_router.adapters.dynamo import from_item

    ddb = stack.client("dynamodb")
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=stack.resources["RoutingTable"], ConsistentRead=True):
        for raw in page["Items"]:
            item = from_item(raw)
            if item["pk"].startswith("REP#") and item["sk"] == "LOAD" and int(item.get("open_leads", 0)):
                out[item["pk"][4:]] = int(item["open_leads"])
    return out


def test_the_org_s_own_events_keep_route_and_attend(world) -> None:
    org, stack, roster = world["org"], world["stack"], world["roster"]
    west = next(g for g in roster["groups"] if g["group_id"] == "WEST")
    rep = west["members"][0]

    kept = org.create_lead({"LastName": "Referral", **SAN_FRANCISCO}, by=rep)  # the rep's own lead
    by_web = org.web_to_lead({"LastName": "Web form", **SAN_FRANCISCO})  # Default Lead Owner: a queue
    (by_import,) = org.import_leads([{"LastName": "Trade show", **SAN_FRANCISCO}])
    assert stack.wait_idle(timeout_s=90)
    leads = _leads(stack)

    # who gets routed
    assert leads[kept]["status"] == "KEPT_OWNER" and leads[kept]["owner_id"] == rep
    assert org.leads[kept]["OwnerId"] == rep and org.leads[kept]["Routing_Status__c"] == "KEPT_OWNER"
    assert org.leads[kept]["Territory__c"]
    patched = [rec for req in org.api_requests("PATCH") for rec in (req.json() or {}).get("records", [])]
    assert all("OwnerId" not in rec for rec in patched if rec["id"] == kept)
    for lead_id in (by_web, by_import):
        owner = leads[lead_id]["owner_id"]
        assert leads[lead_id]["status"] == "ASSIGNED" and owner in west["members"]
        assert org.leads[lead_id]["OwnerId"] == owner  # written back; the org relayed the echo, which changed nothing
        assert "queue" in leads[lead_id]["decision"]["owner_rule"]

    # attention: a logged call (TaskChangeEvent only), and a status edit sent as bitmap change fields
    emitted_before = len(org.emitted)
    org.log_call(by_web, by=leads[by_web]["owner_id"])
    org.update_lead(by_import, by=leads[by_import]["owner_id"], Status="Working - Contacted")
    assert stack.wait_idle(timeout_s=60)
    relayed = org.emitted[emitted_before:]
    assert [e["detail-type"] for e in relayed] == ["/data/TaskChangeEvent", "/data/LeadChangeEvent"]
    bitmap = relayed[1]["detail"]["payload"]["ChangeEventHeader"]["changedFields"]
    assert bitmap and all(f.startswith("0x") or "-0x" in f for f in bitmap)
    schema_reads = [r for r in org.api_requests("GET") if "/event/eventSchema/" in r.path]
    assert any(r.path.endswith(relayed[1]["detail"]["schemaId"]) for r in schema_reads)
    leads = _leads(stack)
    assert leads[by_web]["status"] == "ATTENDED" and "Task (Call)" in leads[by_web]["release_reason"]
    assert leads[by_import]["status"] == "ATTENDED" and "status moved on" in leads[by_import]["release_reason"]

    # hours later: nothing worked is re-routed; the kept lead (no SLA by default) stays with its rep
    stack.fire_schedule("LeadRerouteFunction", at=datetime.now(UTC) + timedelta(hours=3))
    assert stack.wait_idle(timeout_s=60)
    final = _leads(stack)
    for lead_id in (kept, by_web, by_import):
        assert final[lead_id]["owner_id"] == leads[lead_id]["owner_id"] and not final[lead_id].get("previous_owners")
    assert final[kept]["status"] == "KEPT_OWNER"
    counted = Counter(i["counted_rep_id"] for i in final.values() if i.get("counted_rep_id"))
    assert _loads(stack) == dict(counted) == {rep: 1}
    dlqs = {k: v for k, v in stack.queue_depths().items() if k.endswith("DLQ")}
    assert all(v == 0 for v in dlqs.values()), dlqs
