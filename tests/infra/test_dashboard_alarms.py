"""The dashboard and the alarms: valid JSON, every resource they name exists, and every custom metric they show is
one the functions really emit (read from the handlers' ``metrics.add_metric`` calls)."""

from __future__ import annotations

import ast
import json
import re

import pytest

from territory_router.domain.leads import TagMethod
from tests.infra.template_loader import REPO_ROOT, resolve_sub, resources_of_type, sub_variables

DLQS = ["IntakeDLQ", "TaggingDLQ", "AssignmentDLQ", "WritebackDLQ", "AggregatesDLQ", "ReconcileDLQ"]
QUEUES = ["IntakeQueue", "TaggingQueue", "AssignmentQueue", "WritebackQueue", "ReconcileQueue"]
NAMESPACE = "TerritoryRouter"


def _emitted_metric_patterns() -> list[re.Pattern[str]]:
    """Metric names the handlers emit, as regexes (an f-string name becomes a prefix + wildcard)."""
    patterns: list[re.Pattern[str]] = []

    def add(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            patterns.append(re.compile(re.escape(node.value)))
        elif isinstance(node, ast.IfExp):
            add(node.body)
            add(node.orelse)
        elif isinstance(node, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
            patterns.append(re.compile("".join(parts)))

    for path in sorted((REPO_ROOT / "functions").glob("*/handle_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                for kw in node.keywords:
                    if kw.arg == "name":
                        add(kw.value)
    return patterns


def _dashboard(cfn_template) -> tuple[dict, str]:
    body = cfn_template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    values = {v: f"<{v}>" for v in sub_variables(body)}
    return json.loads(resolve_sub(body, values)), body


def _metric_rows(dashboard: dict) -> list[list]:
    return [row for w in dashboard["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def test_dashboard_body_is_valid_json_with_known_variables(cfn_template):
    dashboard, body = _dashboard(cfn_template)
    resources = cfn_template["Resources"]
    for variable in sub_variables(body):
        name = variable.split(".", 1)[0]
        assert name.startswith("AWS::") or name in resources, f"dashboard names unknown ${{{variable}}}"
    assert all(w["properties"].get("region") == "<AWS::Region>" for w in dashboard["widgets"] if w["type"] == "metric")
    # widgets fit the 24-column grid and do not overlap
    cells: set[tuple[int, int]] = set()
    for w in dashboard["widgets"]:
        assert w["x"] >= 0 and w["x"] + w["width"] <= 24
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & mine, f"widget {w['properties'].get('title')} overlaps another"
        cells |= mine


def test_dashboard_custom_metrics_are_emitted_by_the_functions(cfn_template):
    patterns = _emitted_metric_patterns()
    assert len(patterns) >= 10, "no add_metric calls found in functions/*/handle_*.py"
    service = cfn_template["Resources"]["LeadIntakeFunction"]["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    rows = [r for r in _metric_rows(_dashboard(cfn_template)[0]) if r[0] == NAMESPACE]
    assert len(rows) >= 20
    for row in rows:
        name = row[1]
        assert any(p.fullmatch(name) for p in patterns), f"dashboard shows {name!r}, which no handler emits"
        assert row[2:4] == ["service", service], f"{name}: powertools emits the dimension service={service}"


def _territory_metric_names() -> set[str]:
    """Metric names the handlers emit with the Territory dimension (``territory_metrics.add_metric`` calls)."""
    names: set[str] = set()
    for path in sorted((REPO_ROOT / "functions").glob("*/handle_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric"
                    and getattr(node.func.value, "id", None) == "territory_metrics"):
                for kw in node.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                        names.add(kw.value.value)
    return names


def test_per_territory_widgets_search_emitted_territory_metrics(cfn_template):
    dashboard, _ = _dashboard(cfn_template)
    expressions = [r[0]["expression"] for r in _metric_rows(dashboard) if isinstance(r[0], dict) and "expression" in r[0]]
    searched = set()
    for expression in expressions:
        m = re.fullmatch(
            r"SEARCH\('\{TerritoryRouter,Territory,service\} MetricName=\"(\w+)\" service=\"territory-router\"', "
            r"'(Sum|Average|p90)', \d+\)",
            expression,
        )
        assert m, f"unexpected SEARCH expression {expression!r}"
        searched.add(m.group(1))
    emitted = _territory_metric_names()
    assert searched, "no per-territory widget"
    assert searched <= emitted, f"dashboard searches {sorted(searched - emitted)}, which no handler emits per territory"
    assert {"LeadsTagged", "LeadsAssigned", "LeadsRerouted", "LeadsEscalated", "SlaBreaches", "TimeToFirstTouch"} <= searched


def test_dashboard_covers_the_lead_flow(cfn_template):
    names = {r[1] for r in _metric_rows(_dashboard(cfn_template)[0]) if r[0] == NAMESPACE}
    assert {"LeadChangesReceived", "LeadsAssigned", "LeadsRerouted", "LeadsEscalated", "SlaBreaches"} <= names
    assert {f"LeadsTagged_{m.value}" for m in TagMethod} <= names  # one series per TagMethod, UNTAGGED included


def test_dashboard_shows_every_queue_dlq_and_function(cfn_template):
    rows = _metric_rows(_dashboard(cfn_template)[0])
    depth = {r[3] for r in rows if r[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}
    assert depth == {f"<{q}.QueueName>" for q in QUEUES + DLQS}
    errors = {r[3] for r in rows if r[:2] == ["AWS/Lambda", "Errors"]}
    assert errors == {f"<{f}>" for f in resources_of_type(cfn_template, "AWS::Lambda::Function")}


def test_dashboard_alarm_widget_lists_every_alarm(cfn_template):
    dashboard, _ = _dashboard(cfn_template)
    (widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    alarms = set(resources_of_type(cfn_template, "AWS::CloudWatch::Alarm"))
    assert set(widget["properties"]["alarms"]) == {f"<{a}.Arn>" for a in alarms}


@pytest.mark.parametrize("dlq", DLQS)
def test_every_dlq_alarms_on_its_first_message(cfn_template, dlq):
    alarms = [
        a["Properties"]
        for a in resources_of_type(cfn_template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_sla_alarm_watches_the_emitted_metric(cfn_template):
    alarm = cfn_template["Resources"]["SlaBreachAlarm"]["Properties"]
    env = cfn_template["Resources"]["LeadRerouteFunction"]["Properties"]["Environment"]["Variables"]
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert any(p.fullmatch(alarm["MetricName"]) for p in _emitted_metric_patterns())
    assert alarm["Threshold"] == {"Ref": "SlaBreachAlarmThreshold"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(cfn_template):
    res = cfn_template["Resources"]
    topic = res["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}  # not alias/aws/sns: CloudWatch could not publish
    key = res["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = [s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(grants) == 1
    assert set(grants[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_email_subscription_only_with_an_address(cfn_template):
    sub = cfn_template["Resources"]["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert cfn_template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert sub["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert sub["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_metric_drift_is_detected(cfn_template):
    # A dashboard row for a metric nobody emits must fail the check above.
    patterns = _emitted_metric_patterns()
    assert not any(p.fullmatch("TimeToAssignMsThatNobodyEmits") for p in patterns)
    assert any(p.fullmatch("LeadsTagged_POLYGON") for p in patterns)
