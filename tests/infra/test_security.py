"""Security walker over the SAM-transformed template, plus least-privilege checks per function role.

Negative tests mutate a private copy of the transformed template and check that the walker reports each
mutation under the right rule, so a walker that silently passes everything cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.infra.security_walker import ALLOWED_MANAGED_POLICIES, Finding, scan
from tests.infra.template_loader import resources_of_type

BUCKET_ARN_PREFIX = "arn:${AWS::Partition}:s3:::${TerritoryBucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"


def test_transformed_template_passes_the_walker(cfn_template):
    findings = scan(cfn_template)
    assert findings == [], "\n".join(map(str, findings))


def test_the_walker_sees_what_sam_generates(cfn_template):
    # The roles exist only after the transform: make sure the walker actually looked at them.
    roles = resources_of_type(cfn_template, "AWS::IAM::Role")
    assert len(roles) == 9  # one per function
    for role in roles.values():
        arns = role["Properties"]["ManagedPolicyArns"]
        assert {a.rsplit("/", 1)[-1] for a in arns} <= set(ALLOWED_MANAGED_POLICIES)


# ---------------------------------------------------------------- negative tests: each mutation is caught


def _statements(template, role="LeadIntakeFunctionRole") -> list[dict[str, Any]]:
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _env(template, function="SalesforceWritebackFunction") -> dict[str, Any]:
    return template["Resources"][function]["Properties"]["Environment"]["Variables"]


def _add_statement(**statement) -> Callable[[dict], None]:
    return lambda t: _statements(t).append({"Effect": "Allow", **statement})


def _pop(path: list[str]) -> Callable[[dict], None]:
    def mutate(t):
        node = t["Resources"]
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(path: list[str], value) -> Callable[[dict], None]:
    def mutate(t):
        node = t["Resources"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop_bucket_policy(t):
    del t["Resources"]["TerritoryBucketPolicy"]


def _public_queue_policy(t):
    t["Resources"]["IntakeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": "*"}
    )


def _admin_managed_policy(t):
    t["Resources"]["LeadTaggingFunctionRole"]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/AdministratorAccess"
    )


def _standalone_policy(t):
    t["Resources"]["ExtraPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "extra",
            "Roles": [{"Ref": "LeadTaggingFunctionRole"}],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]},
        },
    }


def _noecho_param_in_env(t):
    t["Parameters"]["SalesforcePassword"] = {"Type": "String", "NoEcho": True}
    _env(t)["SALESFORCE_PASSWORD_NAME"] = {"Ref": "SalesforcePassword"}


MUTATIONS: dict[str, tuple[Callable[[dict], None], str, str]] = {
    # name: (mutation, resource expected in the finding, rule)
    "resource star": (_add_statement(Action="dynamodb:GetItem", Resource="*"), "LeadIntakeFunctionRole",
                      "iam-wildcard-resource"),
    "resource star in a list": (_add_statement(Action=["sqs:SendMessage"], Resource=["arn:aws:sqs:::x", "*"]),
                                "LeadIntakeFunctionRole", "iam-wildcard-resource"),
    "resource star with an allowed and a forbidden action": (
        _add_statement(Action=["xray:PutTraceSegments", "s3:GetObject"], Resource="*"),
        "LeadIntakeFunctionRole", "iam-wildcard-resource"),
    "service wildcard action": (_add_statement(Action="s3:*", Resource="arn:aws:s3:::b/*"), "LeadIntakeFunctionRole",
                                "iam-wildcard-action"),
    "NotResource": (_add_statement(Action="s3:GetObject", NotResource="arn:aws:s3:::b/*"), "LeadIntakeFunctionRole",
                    "iam-not-resource"),
    "NotAction": (_add_statement(NotAction="iam:*", Resource="arn:aws:s3:::b/*"), "LeadIntakeFunctionRole",
                  "iam-not-action"),
    "standalone IAM policy with star": (_standalone_policy, "ExtraPolicy", "iam-wildcard-resource"),
    "unknown managed policy": (_admin_managed_policy, "LeadTaggingFunctionRole", "iam-managed-policy"),
    "bucket without encryption": (_pop(["TerritoryBucket", "Properties", "BucketEncryption"]), "TerritoryBucket",
                                  "s3-encryption"),
    "bucket public policy allowed": (
        _set(["TerritoryBucket", "Properties", "PublicAccessBlockConfiguration", "BlockPublicPolicy"], False),
        "TerritoryBucket", "s3-public-access-block"),
    "bucket without public access block": (_pop(["TerritoryBucket", "Properties", "PublicAccessBlockConfiguration"]),
                                           "TerritoryBucket", "s3-public-access-block"),
    "bucket without TLS-only policy": (_drop_bucket_policy, "TerritoryBucket", "s3-tls-only"),
    "queue without SSE": (_pop(["TaggingQueue", "Properties", "SqsManagedSseEnabled"]), "TaggingQueue",
                          "sqs-encryption"),
    "queue SSE switched off": (_set(["WritebackDLQ", "Properties", "SqsManagedSseEnabled"], False), "WritebackDLQ",
                               "sqs-encryption"),
    "table without SSE": (_pop(["LeadsTable", "Properties", "SSESpecification"]), "LeadsTable",
                          "dynamodb-encryption"),
    "table without PITR": (
        _set(["RoutingTable", "Properties", "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"], False),
        "RoutingTable", "dynamodb-pitr"),
    "topic without KMS": (_pop(["AlarmTopic", "Properties", "KmsMasterKeyId"]), "AlarmTopic", "sns-encryption"),
    "literal secret in env": (lambda t: _env(t).__setitem__("SALESFORCE_CLIENT_SECRET", "s3cr3t-value"),
                              "SalesforceWritebackFunction", "env-secret"),
    "literal token in env": (lambda t: _env(t).__setitem__("API_TOKEN", "abc.def.ghi"),
                             "SalesforceWritebackFunction", "env-secret"),
    "password parameter in env": (lambda t: (t["Parameters"].__setitem__("DbPassword", {"Type": "String"}),
                                             _env(t).__setitem__("DB_PASSWORD", {"Ref": "DbPassword"})),
                                  "SalesforceWritebackFunction", "env-secret"),
    "NoEcho parameter in env": (_noecho_param_in_env, "SalesforceWritebackFunction", "env-secret"),
    "public queue policy": (_public_queue_policy, "IntakeQueuePolicy", "public-resource-policy"),
    "log group kept forever": (_pop(["LeadIntakeLogGroup", "Properties", "RetentionInDays"]), "LeadIntakeLogGroup",
                               "log-retention"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_walker_catches(cfn_template, name):
    mutate, resource, rule = MUTATIONS[name]
    mutate(cfn_template)
    findings = scan(cfn_template)
    assert any(f.resource == resource and f.rule == rule for f in findings), findings
    # and only what was broken: every finding is about the mutated resource
    assert {f.resource for f in findings} == {resource}, findings


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("x-ray on star is allowed", _add_statement(Action=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                                                    Resource="*")),
        ("a literal secret *name* is allowed", lambda t: _env(t).__setitem__("OTHER_SECRET_NAME", "team/salesforce")),
        ("a secret ARN reference is allowed",
         lambda t: _env(t).__setitem__("OTHER_SECRET_ARN", {"Ref": "SalesforceCredentialsSecret"})),
        ("an empty token is allowed", lambda t: _env(t).__setitem__("API_TOKEN", "")),
        ("a Deny on star is allowed", lambda t: _statements(t).append(
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})),
    ],
)
def test_walker_allows(cfn_template, name, mutate):
    mutate(cfn_template)
    assert scan(cfn_template) == []


def test_finding_reads_well():
    assert str(Finding("R", "rule", "why")) == "R: [rule] why"


# ---------------------------------------------------------------- least privilege per function


def _role_statements(cfn_template, function_id) -> list[dict[str, Any]]:
    role = cfn_template["Resources"][f"{function_id}Role"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _grants(cfn_template, function_id) -> set[tuple[str, str]]:
    """(action, resource) pairs, resources rendered as a short string (``LeadsTable``, ``S3:compiled/*``...)."""
    out: set[tuple[str, str]] = set()
    for stmt in _role_statements(cfn_template, function_id):
        for resource in _as_list(stmt["Resource"]):
            out |= {(action, _short(resource)) for action in _as_list(stmt["Action"])}
    return out


def _short(resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return resource["Fn::GetAtt"][0]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        if isinstance(sub, list):  # SAM policy templates: [template, {var: value}]
            (value,) = sub[1].values()
            return _short(value)
        if sub.startswith(BUCKET_ARN_PREFIX):
            return "S3:" + (sub[len(BUCKET_ARN_PREFIX) + 1:] or "<bucket>")
        if sub == "${LeadsTable.Arn}/index/RerouteDueIndex":
            return "LeadsTable/index/RerouteDueIndex"
    if isinstance(resource, dict) and "Ref" in resource:
        return resource["Ref"]
    raise AssertionError(f"unexpected resource shape in a policy: {resource!r}")


FUNCTIONS = [
    "TerritoryUploadFunction", "RosterUploadFunction", "LeadIntakeFunction", "LeadTaggingFunction",
    "LeadAssignmentFunction", "LeadRerouteFunction", "LeadReconcileFunction", "SalesforceWritebackFunction",
    "ReportAggregatesFunction",
]


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_no_scan_and_no_wildcard_resources(cfn_template, function_id):
    grants = _grants(cfn_template, function_id)
    assert grants, "no inline policy"
    assert not [a for a, _ in grants if a in {"dynamodb:Scan", "dynamodb:DeleteTable", "s3:DeleteObject"}]
    assert all(r != "*" for _, r in grants)


def _who(cfn_template, predicate) -> set[str]:
    return {f for f in FUNCTIONS if any(predicate(a, r) for a, r in _grants(cfn_template, f))}


SALESFORCE_CALLERS = {
    "SalesforceWritebackFunction",  # writes owners
    "LeadRerouteFunction",  # re-reads the due leads before re-routing them
    "LeadIntakeFunction",  # reads the leads a GAP_* event names; event schemas to decode bitmap change fields
    "LeadReconcileFunction",  # finds the leads no event brought
}


def test_only_the_salesforce_callers_read_the_salesforce_secret(cfn_template):
    assert _who(cfn_template, lambda a, r: a.startswith("secretsmanager:")) == SALESFORCE_CALLERS
    assert _who(cfn_template, lambda a, r: r == "SalesforceCredentialsSecret") == SALESFORCE_CALLERS
    for function_id in SALESFORCE_CALLERS:  # read only, this one secret
        assert {a for a, r in _grants(cfn_template, function_id) if a.startswith("secretsmanager:")} == {
            "secretsmanager:GetSecretValue"
        }


def test_only_intake_uses_the_idempotency_table(cfn_template):
    # intake: powertools idempotency. The aggregates keep per-shard high-water marks on their own items instead of a
    # marker per fact (adapters/aggregates_store.py), so they write only the RoutingTable.
    assert _who(cfn_template, lambda a, r: r == "IdempotencyTable") == {"LeadIntakeFunction"}
    assert {r for _a, r in _grants(cfn_template, "ReportAggregatesFunction")} == {"RoutingTable", "AggregatesDLQ"}
    assert {a for a, r in _grants(cfn_template, "ReportAggregatesFunction") if r == "RoutingTable"} == {
        "dynamodb:UpdateItem", "dynamodb:GetItem"}


def test_only_reroute_queries_the_due_index(cfn_template):
    assert _who(cfn_template, lambda a, r: r.startswith("LeadsTable/index")) == {"LeadRerouteFunction"}
    assert ("dynamodb:Query", "LeadsTable/index/RerouteDueIndex") in _grants(cfn_template, "LeadRerouteFunction")
    assert _who(cfn_template, lambda a, r: a == "dynamodb:Query" and r == "LeadsTable") == set()


def test_only_routing_functions_publish_app_events(cfn_template):
    # Assignment/re-route announce owners; intake announces LeadAttended/LeadClosed for reports; the writeback
    # announces LeadReassigned when Salesforce refused an owner and the lead was decided again.
    assert _who(cfn_template, lambda a, r: a == "events:PutEvents") == {
        "LeadAssignmentFunction",
        "LeadRerouteFunction",
        "LeadIntakeFunction",
        "SalesforceWritebackFunction",
    }
    assert _who(cfn_template, lambda a, r: a == "events:PutEvents" and r != "AppEventBus") == set()


def test_queue_senders(cfn_template):
    def senders(queue):
        return _who(cfn_template, lambda a, r: a.startswith("sqs:SendMessage") and r == queue)

    assert senders("TaggingQueue") == {"LeadIntakeFunction"}
    assert senders("AssignmentQueue") == {"LeadTaggingFunction"}
    assert senders("IntakeDLQ") == {"LeadIntakeFunction"}
    assert senders("TaggingDLQ") == {"LeadTaggingFunction"}
    assert senders("AssignmentDLQ") == {"LeadAssignmentFunction"}
    assert senders("WritebackDLQ") == {"SalesforceWritebackFunction"}
    # EventBridge sends Salesforce's events there; reconciliation sends the leads no event brought, in the same shape
    assert senders("IntakeQueue") == {"LeadReconcileFunction"}
    assert senders("WritebackQueue") == set()  # only EventBridge sends there
    assert senders("AggregatesDLQ") == {"ReportAggregatesFunction"}  # the stream mapping's on-failure destination
    assert senders("ReconcileQueue") == {"LeadIntakeFunction"}  # GAP_OVERFLOW / wildcard ids: run a reconciliation
    assert senders("ReconcileDLQ") == set()


def test_s3_access_by_prefix(cfn_template):
    def s3(function_id, action):
        return {r for a, r in _grants(cfn_template, function_id) if a == action}

    assert s3("TerritoryUploadFunction", "s3:GetObject") == {"S3:territories/*"}
    assert s3("TerritoryUploadFunction", "s3:PutObject") == {"S3:compiled/*", "S3:reports/*", "S3:maps/*"}
    assert s3("RosterUploadFunction", "s3:GetObject") == {"S3:roster/*", "S3:rosters/*"}
    assert s3("RosterUploadFunction", "s3:PutObject") == {"S3:rosters/*", "S3:reports/*"}
    assert s3("LeadTaggingFunction", "s3:GetObject") == {"S3:compiled/*"}
    assert s3("LeadAssignmentFunction", "s3:GetObject") == {"S3:rosters/*"}
    assert s3("LeadRerouteFunction", "s3:GetObject") == {"S3:rosters/*"}
    assert s3("SalesforceWritebackFunction", "s3:GetObject") == {"S3:rosters/*"}  # re-decides refused owners
    # nobody may write what the uploaders read, and only the uploaders write at all
    assert _who(cfn_template, lambda a, r: a == "s3:PutObject") == {"TerritoryUploadFunction", "RosterUploadFunction"}
    assert _who(cfn_template, lambda a, r: a == "s3:PutObject" and r in {"S3:territories/*", "S3:roster/*"}) == set()
    # intake reads the compiled roster: an activity logged by someone the roster counts is attention
    assert s3("LeadIntakeFunction", "s3:GetObject") == {"S3:rosters/*"}
