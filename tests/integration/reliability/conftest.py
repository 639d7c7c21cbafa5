"""One local stack for the reliability tests: every resource of template.yaml on the embedded moto server, the
handlers in this process, writeback ON against the local Salesforce stand-in, the sample territories active and a
roster of small capacities.

The tests share it (starting a stack costs seconds) and each works on its own leads; the invariants they check
(one record, one assignment, one writeback per lead; counters equal the open leads they count) hold for the
whole stack at every quiet moment, so they also hold across tests.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from importlib import resources

import pytest

from .pipeline import ORG_ID, Pipeline, small_roster


@pytest.fixture(scope="package")
def pipeline() -> Iterator[Pipeline]:
    from territory_router.adapters import aws
    from territory_router.adapters.roster_store import clear_roster_cache
    from territory_router_tools.local.stack import LocalStack
    from territory_router_tools.salesforce.fake_org import FakeOrg

    saved_env = dict(os.environ)
    clear_roster_cache()
    _forget_powertools_providers()
    try:
        with FakeOrg() as salesforce, LocalStack(
            parameter_overrides={"WritebackEnabled": "true", "SalesforceOrgId": ORG_ID},
            schedule_every_s=24 * 3600,  # the tests fire the re-route themselves
            poll_interval_s=0.1,
        ) as stack:
            r = stack.resources
            stack.client("secretsmanager").put_secret_value(
                SecretId=r["SalesforceCredentialsSecret"], SecretString=json.dumps(salesforce.secret())
            )
            s3 = stack.client("s3")
            data = resources.files("territory_router_tools.data")
            s3.put_object(Bucket=r["TerritoryBucket"], Key="territories/sales-regions.geojson",
                          Body=data.joinpath("sample_territories.geojson").read_bytes())
            s3.put_object(Bucket=r["TerritoryBucket"], Key="roster/sales-team.json",
                          Body=json.dumps(small_roster()).encode())
            salesforce.adopt_roster(small_roster())  # the roster's reps and queues are the org's users and queues
            p = Pipeline(stack, salesforce)
            deadline = time.monotonic() + 30
            while not (p.active("TERRITORYSET") and p.active("ROSTER")):
                if time.monotonic() > deadline:
                    raise RuntimeError("the territory set and roster did not activate")
                time.sleep(0.1)
            yield p
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        aws.reset_clients()
        clear_roster_cache()
        _forget_powertools_providers()


def _forget_powertools_providers() -> None:
    """powertools parameters keeps one provider (and its boto3 client, bound to our endpoint) per process."""
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()


@pytest.fixture(scope="package")
def figures_sink(pipeline: Pipeline) -> Iterator[dict]:
    """The figures each test measured; written as JSON to $RELIABILITY_FIGURES when set (docs/reliability.md)."""
    target = os.environ.get("RELIABILITY_FIGURES")
    collected: dict = {}
    yield collected
    collected["transient_counter_mismatches"] = pipeline.transient_mismatches
    if target:
        with open(target, "w", encoding="utf-8") as fh:
            json.dump(collected, fh, indent=2, sort_keys=True, default=str)


@pytest.fixture
def figures(figures_sink: dict):
    def record(name: str, values: dict) -> None:
        figures_sink[name] = values

    return record
