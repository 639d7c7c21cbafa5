"""The local stack's reading of template.yaml: parameters, intrinsics, functions and their event wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from territory_router_tools.local.runtime import merge_environments
from territory_router_tools.local.stack import parse_rate
from territory_router_tools.local.template import FunctionSpec, Template, TemplateError

ROOT = Path(__file__).resolve().parents[3]
PARAMS = {"SalesforceEventBusName": "sf-local-bus", "SalesforceOrgId": "00D5e000000LoClEAK"}


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml", parameter_overrides=PARAMS)


def test_every_function_has_code_and_a_trigger(template: Template) -> None:
    functions = {f.logical_id: f for f in template.functions()}
    assert set(functions) == {
        "TerritoryUploadFunction",
        "RosterUploadFunction",
        "LeadIntakeFunction",
        "LeadTaggingFunction",
        "LeadAssignmentFunction",
        "LeadRerouteFunction",
        "LeadReconcileFunction",
        "SalesforceWritebackFunction",
        "ReportAggregatesFunction",
    }
    for spec in functions.values():
        module = spec.handler.rpartition(".")[0]
        assert (spec.code_uri / f"{module}.py").is_file(), spec.logical_id
        assert spec.events, f"{spec.logical_id} has no trigger"


def test_sqs_events_point_at_declared_queues_and_report_partial_failures(template: Template) -> None:
    queue_arns = {template.arn(lid) for lid in template.of_type("AWS::SQS::Queue")}
    sqs_events = [
        (f.logical_id, ev["Properties"]) for f in template.functions() for ev in f.events.values() if ev["Type"] == "SQS"
    ]
    assert {lid for lid, _ in sqs_events} == {
        "LeadIntakeFunction",
        "LeadTaggingFunction",
        "LeadAssignmentFunction",
        "SalesforceWritebackFunction",
        "LeadReconcileFunction",
    }
    for _lid, props in sqs_events:
        assert props["Queue"] in queue_arns
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_report_aggregates_ride_the_leads_table_stream(template: Template) -> None:
    stream_events = [(f.logical_id, ev["Properties"]) for f in template.functions() for ev in f.events.values()
                     if ev["Type"] == "DynamoDB"]
    assert [lid for lid, _ in stream_events] == ["ReportAggregatesFunction"]
    (_, props), = stream_events
    assert template.resolve(props["Stream"]) == template.resolve({"Fn::GetAtt": ["LeadsTable", "StreamArn"]})
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["TumblingWindowInSeconds"] > 0  # the shard id comes with the batch only with a window


def test_environment_is_resolved_to_physical_names(template: Template) -> None:
    env = next(f for f in template.functions() if f.logical_id == "LeadIntakeFunction").environment
    assert env["LEADS_TABLE"] == template.physical["LeadsTable"]
    assert env["SALESFORCE_ORG_ID"] == PARAMS["SalesforceOrgId"]
    assert env["TAGGING_QUEUE_URL"].endswith("/" + template.physical["TaggingQueue"])
    assert env["TERRITORY_BUCKET"] == template.physical["TerritoryBucket"]


def test_rules_resolve_to_the_parameter_bus_and_queue_targets(template: Template) -> None:
    rule = template.resolve(template.resources()["SalesforceLeadEventsRule"]["Properties"])
    assert rule["EventBusName"] == "sf-local-bus"
    assert rule["Targets"][0]["Arn"] == template.arn("IntakeQueue")


def test_intrinsics() -> None:
    tpl = Template.load(ROOT / "template.yaml", parameter_overrides=PARAMS)
    assert tpl.resolve({"Fn::Sub": "${AWS::Region}-${SalesforceOrgId}"}) == "us-east-1-00D5e000000LoClEAK"
    assert tpl.resolve({"Fn::Sub": ["${A}/${LeadsTable.Arn}", {"A": "x"}]}) == "x/" + tpl.arn("LeadsTable")
    assert tpl.resolve({"Fn::Join": ["-", ["a", {"Ref": "AWS::AccountId"}]]}) == "a-123456789012"
    assert tpl.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    with pytest.raises(TemplateError, match="not supported"):
        tpl.resolve({"Fn::ImportValue": "x"})


def test_unknown_parameter_override_is_refused() -> None:
    with pytest.raises(TemplateError, match="unknown parameter"):
        Template.load(ROOT / "template.yaml", parameter_overrides={**PARAMS, "Nope": "1"})


def test_conflicting_environments_are_refused() -> None:
    a = FunctionSpec("A", Path("."), "m.h", {"X": "1", "Y": "same"}, 3, 128, {})
    b = FunctionSpec("B", Path("."), "m.h", {"X": "2", "Y": "same"}, 3, 128, {})
    assert merge_environments([a]) == {"X": "1", "Y": "same"}
    with pytest.raises(ValueError, match="X differs between A"):
        merge_environments([a, b])


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)]
)
def test_parse_rate(expression: str, seconds: int) -> None:
    assert parse_rate(expression) == seconds


def test_cron_schedules_are_reported() -> None:
    with pytest.raises(ValueError, match="only rate"):
        parse_rate("cron(0 12 * * ? *)")
