"""EnableGeocoder: off by default; on, the stack creates an Amazon Location place index and lets only the tagging
function search it. cfn-lint, the SAM transform and the security walker pass both ways."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint_file

from tests.infra.security_walker import scan
from tests.infra.template_loader import load_template, resources_of_type, transform_template

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
GEOCODER_RESOURCES = {"LeadGeocoderPlaceIndex", "LeadTaggingGeocoderPolicy"}


def _deployed(enabled: bool) -> dict:
    """The transformed template as CloudFormation would deploy it: resources of a false condition left out."""
    cfn = transform_template(parameter_values={"EnableGeocoder": "true" if enabled else "false"})
    assert cfn["Conditions"]["GeocoderEnabled"] == {"Fn::Equals": [{"Ref": "EnableGeocoder"}, "true"]}
    if not enabled:
        cfn["Resources"] = {k: v for k, v in cfn["Resources"].items() if v.get("Condition") != "GeocoderEnabled"}
    return cfn


@pytest.mark.parametrize("enabled", [False, True], ids=["off", "on"])
def test_walker_passes_both_ways(enabled):
    cfn = _deployed(enabled)
    assert (set(cfn["Resources"]) >= GEOCODER_RESOURCES) is enabled
    findings = scan(cfn)
    assert findings == [], "\n".join(map(str, findings))


def test_lint_clean_with_the_geocoder_on(tmp_path):
    sam = load_template()
    sam["Parameters"]["EnableGeocoder"]["Default"] = "true"
    path = tmp_path / "template.json"
    path.write_text(json.dumps(sam))
    matches = lint_file(path, ManualArgs(regions=REGIONS, include_checks=["I"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_off_by_default_and_least_privilege_when_on():
    sam = load_template()
    assert sam["Parameters"]["EnableGeocoder"]["Default"] == "false"
    cfn = _deployed(True)
    index = cfn["Resources"]["LeadGeocoderPlaceIndex"]
    assert index["Condition"] == "GeocoderEnabled"
    assert index["Properties"]["DataSourceConfiguration"] == {"IntendedUse": "SingleUse"}  # results never stored
    policies = {k: v for k, v in resources_of_type(cfn, "AWS::IAM::Policy").items()}
    assert set(policies) == {"LeadTaggingGeocoderPolicy"}
    policy = policies["LeadTaggingGeocoderPolicy"]
    assert policy["Condition"] == "GeocoderEnabled"
    assert policy["Properties"]["Roles"] == [{"Ref": "LeadTaggingFunctionRole"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "geo:SearchPlaceIndexForText"
    assert statement["Resource"] == {"Fn::GetAtt": ["LeadGeocoderPlaceIndex", "Arn"]}
    # no function role grants any other geo: action
    for role in resources_of_type(cfn, "AWS::IAM::Role").values():
        text = json.dumps(role)
        assert '"geo:' not in text
    env = cfn["Resources"]["LeadTaggingFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PLACE_INDEX_NAME"] == {"Fn::If": ["GeocoderEnabled", {"Ref": "LeadGeocoderPlaceIndex"}, ""]}
    assert env["GEOCODE_BUDGET_PER_BATCH"] == {"Ref": "GeocodeBudgetPerBatch"}


def test_walker_catches_a_wildcard_geocoder_grant():
    cfn = _deployed(True)
    statement = cfn["Resources"]["LeadTaggingGeocoderPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Action"] = "geo:*"
    statement["Resource"] = "*"
    assert scan(cfn), "a geo:* on * must be reported"
