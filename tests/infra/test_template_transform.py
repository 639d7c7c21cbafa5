"""template.yaml against docs/architecture.md, checked on the SAM template and on its offline SAM transform."""

from __future__ import annotations

import json
import re

import pytest

from territory_router.domain import messages
from tests.infra.template_loader import (
    REPO_ROOT,
    dependencies,
    find_cycle,
    references,
    resources_of_type,
    transform_template,
)

# docs/architecture.md, "Functions (logical id -> CodeUri / Handler)"
FUNCTIONS = {
    "TerritoryUploadFunction": ("functions/territory_upload/", "handle_territory_upload.lambda_handler"),
    "RosterUploadFunction": ("functions/roster_upload/", "handle_roster_upload.lambda_handler"),
    "LeadIntakeFunction": ("functions/lead_intake/", "handle_lead_intake.lambda_handler"),
    "LeadTaggingFunction": ("functions/lead_tagging/", "handle_lead_tagging.lambda_handler"),
    "LeadAssignmentFunction": ("functions/lead_assignment/", "handle_lead_assignment.lambda_handler"),
    "LeadRerouteFunction": ("functions/lead_reroute/", "handle_lead_reroute.lambda_handler"),
    "LeadReconcileFunction": ("functions/lead_reconcile/", "handle_lead_reconcile.lambda_handler"),
    "SalesforceWritebackFunction": ("functions/salesforce_writeback/", "handle_salesforce_writeback.lambda_handler"),
    "ReportAggregatesFunction": ("functions/report_aggregates/", "handle_report_aggregates.lambda_handler"),
}

# function -> (queue, DLQ, batch size, batching window or None)
SQS_TRIGGERS = {
    "LeadIntakeFunction": ("IntakeQueue", "IntakeDLQ", 10, None),
    "LeadTaggingFunction": ("TaggingQueue", "TaggingDLQ", 100, 1),
    "LeadAssignmentFunction": ("AssignmentQueue", "AssignmentDLQ", 10, None),
    "SalesforceWritebackFunction": ("WritebackQueue", "WritebackDLQ", 50, 5),
    "LeadReconcileFunction": ("ReconcileQueue", "ReconcileDLQ", 10, 5),
}

# docs/architecture.md, "Resources and environment variables": env var -> the resource it must point at
RESOURCE_ENV = {
    "LEADS_TABLE": {"Ref": "LeadsTable"},
    "ROUTING_TABLE": {"Ref": "RoutingTable"},
    "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "TAGGING_QUEUE_URL": {"Ref": "TaggingQueue"},
    "ASSIGNMENT_QUEUE_URL": {"Ref": "AssignmentQueue"},
    "INTAKE_DLQ_URL": {"Ref": "IntakeDLQ"},
    "TAGGING_DLQ_URL": {"Ref": "TaggingDLQ"},
    "ASSIGNMENT_DLQ_URL": {"Ref": "AssignmentDLQ"},
    "WRITEBACK_DLQ_URL": {"Ref": "WritebackDLQ"},
    "APP_EVENT_BUS": {"Ref": "AppEventBus"},
    "RECONCILE_QUEUE_URL": {"Ref": "ReconcileQueue"},
    "INTAKE_QUEUE_URL": {"Ref": "IntakeQueue"},
    "RECONCILE_LOOKBACK_MINUTES": {"Ref": "ReconcileLookbackMinutes"},
    "RECONCILE_MAX_LEADS": {"Ref": "ReconcileMaxLeads"},
    "SALESFORCE_SECRET_NAME": {"Ref": "SalesforceCredentialsSecret"},
    "SALESFORCE_ORG_ID": {"Ref": "SalesforceOrgId"},
    "SALESFORCE_INTEGRATION_USER_ID": {"Ref": "SalesforceIntegrationUserId"},
    "SALESFORCE_API_VERSION": {"Ref": "SalesforceApiVersion"},
    "WRITEBACK_ENABLED": {"Ref": "WritebackEnabled"},
    "SALESFORCE_EXTRA_LEAD_FIELDS": {"Ref": "SalesforceExtraLeadFields"},
    "NEAREST_TOLERANCE_KM": {"Ref": "NearestToleranceKm"},
    "CATCH_ALL_TERRITORY_ID": {"Ref": "CatchAllTerritoryId"},
    "DEFAULT_SLA_MINUTES": {"Ref": "DefaultSlaMinutes"},
    "MAX_REROUTES": {"Ref": "MaxReroutes"},
    "AUTO_ACTIVATE_TERRITORIES": {"Ref": "AutoActivateTerritories"},
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
}

BUCKET_NAME_SUB = "${TerritoryBucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"


# Global variables: what powertools reads itself (every function); the rest is each function's settings model.
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def settings_model_of(logical_id: str):
    """The settings model the function's handler loads at import: ``config = load_settings(<Model>)``."""
    import ast

    from territory_router import config

    code_uri, handler = FUNCTIONS[logical_id]
    source = (REPO_ROOT / code_uri / f"{handler.rpartition('.')[0]}.py").read_text()
    calls = [
        node.value.args[0].id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "load_settings" and node.value.args
        and isinstance(node.value.args[0], ast.Name)
    ]
    assert len(calls) == 1, f"{logical_id}: the handler must call load_settings(<its model>) once at module level"
    return getattr(config, calls[0])


def _function(cfn_template, logical_id):
    return cfn_template["Resources"][logical_id]["Properties"]


# ---------------------------------------------------------------- the transform itself


def test_transform_leaves_only_cloudformation_resources(cfn_template):
    kinds = {r["Type"] for r in cfn_template["Resources"].values()}
    assert not [k for k in kinds if k.startswith("AWS::Serverless::")]
    assert set(resources_of_type(cfn_template, "AWS::Lambda::Function")) == set(FUNCTIONS)
    assert len(resources_of_type(cfn_template, "AWS::Lambda::LayerVersion")) == 1
    assert "Transform" not in cfn_template


def test_transformed_template_has_no_circular_dependency(cfn_template):
    assert find_cycle(dependencies(cfn_template)) is None


def test_cycle_detector_sees_the_s3_notification_cycle(cfn_template):
    # Referencing the bucket from a notified function is the classic SAM S3-event cycle: the detector must see it.
    env = _function(cfn_template, "TerritoryUploadFunction")["Environment"]["Variables"]
    env["TERRITORY_BUCKET"] = {"Ref": "TerritoryBucket"}
    cycle = find_cycle(dependencies(cfn_template))
    assert cycle is not None and {"TerritoryBucket", "TerritoryUploadFunction"} <= set(cycle)


def test_transform_with_all_parameters_overridden():
    cfn = transform_template(
        parameter_values={
            "RerouteScheduleRate": "rate(1 minute)",
            "WritebackEnabled": "true",
            "AlarmEmail": "a@b.c",
            "SalesforceRoutingEventBusName": "aws.partner/salesforce.com/00D000000000001EAA/0YL000000000002GAA",
        }
    )
    assert "LeadRerouteFunctionRerouteSchedule" in cfn["Resources"]


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_code_and_handler(sam_template, cfn_template, logical_id):
    code_uri, handler = FUNCTIONS[logical_id]
    sam_props = sam_template["Resources"][logical_id]["Properties"]
    assert (sam_props["CodeUri"], sam_props["Handler"]) == (code_uri, handler)
    props = _function(cfn_template, logical_id)
    assert props["Handler"] == handler
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Layers"] == [{"Ref": next(iter(resources_of_type(cfn_template, "AWS::Lambda::LayerVersion")))}]
    assert props["MemorySize"] >= 512 and props["Timeout"] >= 30


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_environment_is_exactly_its_settings_model(cfn_template, logical_id):
    env = _function(cfn_template, logical_id)["Environment"]["Variables"]
    wanted = settings_model_of(logical_id).variables()  # name -> required
    missing = {name for name, required in wanted.items() if required} - set(env)
    assert not missing, f"{logical_id}: its settings model requires {sorted(missing)}, which the template does not give"
    unread = set(env) - POWERTOOLS_ENV - set(wanted)
    assert not unread, f"{logical_id}: the template gives {sorted(unread)}, which its settings model does not read"
    assert set(wanted) <= set(env), f"{logical_id}: optional settings left to their defaults: {sorted(set(wanted) - set(env))}"
    for name, expected in RESOURCE_ENV.items():
        if name in env:
            assert env[name] == expected, name
    if "TERRITORY_BUCKET" in env:
        assert env["TERRITORY_BUCKET"] == {"Fn::Sub": BUCKET_NAME_SUB}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "TerritoryRouter"
    assert env["POWERTOOLS_SERVICE_NAME"] == "territory-router"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_every_resource_variable_reaches_some_function(cfn_template):
    given = {name for logical_id in FUNCTIONS for name in _function(cfn_template, logical_id)["Environment"]["Variables"]}
    assert set(RESOURCE_ENV) | {"TERRITORY_BUCKET", "WRITEBACK_QUEUE_URL"} <= given


def test_bucket_name_in_env_is_the_bucket_name(sam_template):
    bucket = sam_template["Resources"]["TerritoryBucket"]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": BUCKET_NAME_SUB}


def test_shared_layer_is_built_for_arm64(sam_template):
    layer = sam_template["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # Built by the root Makefile's build-SharedLayer target (SAM runs it with ARTIFACTS_DIR; docs/deploy.md);
    # tests/infra/test_lambda_build.py runs that target and checks what it ships.
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64", "ContextPath": "."}
    assert "\nbuild-SharedLayer:" in (REPO_ROOT / "Makefile").read_text()
    assert (REPO_ROOT / "layers/shared/requirements.txt").is_file()
    assert (REPO_ROOT / "layers/shared/territory_router/__init__.py").is_file()


def test_every_function_is_built_by_the_makefile(sam_template):
    # Each function's folder goes through the Makefile's build-%Function rule (the handler files, hash-based
    # bytecode): SAM's python3.12 builder would copy the folder as it is and ship no valid bytecode.
    functions = {k: r for k, r in sam_template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for logical_id, resource in functions.items():
        assert logical_id.endswith("Function"), f"{logical_id}: the Makefile's pattern rule is build-%Function"
        assert resource.get("Metadata") == {"BuildMethod": "makefile", "ContextPath": "."}, logical_id
    assert "\nbuild-%Function:" in (REPO_ROOT / "Makefile").read_text()


def test_tracing_is_lambdas_own_and_a_tracer_would_find_its_sdk(sam_template):
    # Tracing: Active: Lambda records every sampled invocation (its segments: initialization, invocation, overhead)
    # with no SDK in the function, and botocore forwards the trace header on every AWS call. A handler that wants
    # subsegments of its own uses powertools' Tracer, which imports aws_xray_sdk at cold start (100-150 ms,
    # docs/benchmarks.md): the Lambda Python runtime does not include it, so the layer must then ship it.
    assert sam_template["Globals"]["Function"]["Tracing"] == "Active"
    handlers = [p.read_text() for p in (REPO_ROOT / "functions").glob("*/handle_*.py")]
    assert len(handlers) >= 9
    uses_tracer = any(re.search(r"\bTracer\(", src) for src in handlers)
    requirements = (REPO_ROOT / "layers/shared/requirements.txt").read_text().lower()
    ships_sdk = "aws-xray-sdk" in requirements or re.search(r"aws-lambda-powertools\[[^\]]*\b(tracer|all)\b", requirements)
    assert ships_sdk or not uses_tracer, (
        "a handler uses the powertools Tracer but layers/shared/requirements.txt lacks aws-xray-sdk: it would fail "
        "at cold start"
    )


@pytest.mark.parametrize("function_id", sorted(SQS_TRIGGERS))
def test_sqs_event_source_mappings(cfn_template, function_id):
    queue, _dlq, batch, window = SQS_TRIGGERS[function_id]
    mappings = [
        r["Properties"]
        for r in resources_of_type(cfn_template, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert len(mappings) == 1
    esm = mappings[0]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert esm["BatchSize"] == batch
    assert esm.get("MaximumBatchingWindowInSeconds") == window
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 2 <= esm["ScalingConfig"]["MaximumConcurrency"] <= 50


@pytest.mark.parametrize("function_id", sorted(SQS_TRIGGERS))
def test_queue_visibility_redrive_and_dlq(cfn_template, function_id):
    queue_id, dlq_id, _batch, window = SQS_TRIGGERS[function_id]
    resources = cfn_template["Resources"]
    queue = resources[queue_id]["Properties"]
    timeout = _function(cfn_template, function_id)["Timeout"]
    # AWS: visibility timeout >= 6 x function timeout (+ batching window).
    assert queue["VisibilityTimeout"] >= 6 * timeout + (window or 0)
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                      "maxReceiveCount": 500 if queue_id == "WritebackQueue" else 5}
    assert queue["SqsManagedSseEnabled"] is True
    dlq = resources[dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True
    if queue_id == "WritebackQueue":
        from territory_router.salesforce.writeback_rules import MAX_DEFER_AGE_S, deferral_seconds

        # A day of REQUEST_LIMIT_EXCEEDED (each receive waits >= 15 min) never reaches the DLQ ...
        assert receives > 86_400 / deferral_seconds("REQUEST_LIMIT_EXCEEDED", None, 1)
        # ... neither do 3 days of it (the age at which the function sets a write aside itself) ...
        assert receives > MAX_DEFER_AGE_S / deferral_seconds("REQUEST_LIMIT_EXCEEDED", None, 1)
        # ... which comes before the retention could drop it, whatever the visibility it waited with (<= 12 h).
        assert queue["MessageRetentionPeriod"] > MAX_DEFER_AGE_S + 43_200
        # a crashing function (no deferral: the queue's visibility each time) reaches the DLQ before retention ends
        assert queue["MessageRetentionPeriod"] > receives * queue["VisibilityTimeout"]
    else:
        # a message must not expire in the queue before it has had its 5 tries
        assert queue["MessageRetentionPeriod"] > 5 * queue["VisibilityTimeout"]


def test_s3_uploads_notify_their_functions(cfn_template):
    bucket = cfn_template["Resources"]["TerritoryBucket"]
    configs = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    by_prefix = {c["Filter"]["S3Key"]["Rules"][0]["Value"]: c for c in configs}
    assert set(by_prefix) == {"territories/", "roster/"}
    assert by_prefix["territories/"]["Function"] == {"Fn::GetAtt": ["TerritoryUploadFunction", "Arn"]}
    assert by_prefix["roster/"]["Function"] == {"Fn::GetAtt": ["RosterUploadFunction", "Arn"]}
    assert all(c["Event"] == "s3:ObjectCreated:*" for c in configs)
    # S3 may invoke them, only from this account, and the bucket waits for the permissions.
    permissions = resources_of_type(cfn_template, "AWS::Lambda::Permission")
    s3_permissions = {p["Properties"]["FunctionName"]["Ref"]: p for p in permissions.values()
                      if p["Properties"]["Principal"] == "s3.amazonaws.com"}
    assert set(s3_permissions) == {"TerritoryUploadFunction", "RosterUploadFunction"}
    assert all(p["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"} for p in s3_permissions.values())
    assert set(bucket["DependsOn"]) == {lid for lid, p in permissions.items()
                                        if p["Properties"]["Principal"] == "s3.amazonaws.com"}


@pytest.mark.parametrize(
    ("rule_id", "parameter", "function_id"),
    [
        ("LeadRerouteFunctionRerouteSchedule", "RerouteScheduleRate", "LeadRerouteFunction"),
        ("LeadReconcileFunctionReconcileSchedule", "ReconcileScheduleRate", "LeadReconcileFunction"),
    ],
)
def test_scheduled_functions_run_on_their_schedule_parameter(cfn_template, rule_id, parameter, function_id):
    rules = {lid: r for lid, r in resources_of_type(cfn_template, "AWS::Events::Rule").items()
             if "ScheduleExpression" in r["Properties"]}
    assert sorted(rules) == ["LeadReconcileFunctionReconcileSchedule", "LeadRerouteFunctionRerouteSchedule"]
    rule = rules[rule_id]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": parameter}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_has_a_log_group_with_retention(cfn_template, logical_id):
    groups = [g["Properties"] for g in resources_of_type(cfn_template, "AWS::Logs::LogGroup").values()
              if g["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}]
    assert len(groups) == 1
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ---------------------------------------------------------------- storage


def _keys(props):
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in props["KeySchema"]]


def test_table_schemas(cfn_template):
    res = cfn_template["Resources"]
    leads = res["LeadsTable"]["Properties"]
    assert _keys(leads) == [("lead_id", "HASH", "S")]
    (gsi,) = leads["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "RerouteDueIndex"
    types = {a["AttributeName"]: a["AttributeType"] for a in leads["AttributeDefinitions"]}
    assert [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in gsi["KeySchema"]] == [
        ("reroute_shard", "HASH", "S"),
        ("sla_due_at", "RANGE", "N"),
    ]
    # KEYS_ONLY: only writes that set or remove the index keys bill an index write; the re-route reads its leads.
    assert gsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert _keys(res["RoutingTable"]["Properties"]) == [("pk", "HASH", "S"), ("sk", "RANGE", "S")]
    idem = res["IdempotencyTable"]["Properties"]
    assert _keys(idem) == [("id", "HASH", "S")]
    assert idem["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for table in ("LeadsTable", "RoutingTable", "IdempotencyTable"):
        assert res[table]["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "TableName" not in res[table]["Properties"]  # generated: several stacks per account


@pytest.mark.parametrize("logical_id", ["TerritoryBucket", "LeadsTable", "RoutingTable", "IdempotencyTable"])
def test_data_survives_stack_deletion(cfn_template, logical_id):
    res = cfn_template["Resources"][logical_id]
    assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain"


def test_bucket_versioning_ownership_and_lifecycle(cfn_template):
    props = cfn_template["Resources"]["TerritoryBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r and r["Status"] == "Enabled" for r in rules)


# ---------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("rule_id", "bus_parameter"),
    [("SalesforceLeadEventsRule", "SalesforceEventBusName"), ("SalesforceRoutingEventsRule", "SalesforceRoutingEventBusName")],
)
def test_salesforce_rules_read_the_partner_buses_into_intake(cfn_template, rule_id, bus_parameter):
    from territory_router.salesforce.events import (
        ACTIVITY_DETAIL_TYPES,
        CDC_DETAIL_TYPES,
        PLATFORM_DETAIL_TYPES,
    )

    rule = cfn_template["Resources"][rule_id]["Properties"]
    assert rule["EventBusName"] == {"Ref": bus_parameter}
    assert rule["EventPattern"]["source"] == [{"prefix": "aws.partner/salesforce.com"}]
    # exactly what the intake parser accepts: the rule neither drops events it handles nor feeds it others
    assert set(rule["EventPattern"]["detail-type"]) == CDC_DETAIL_TYPES | ACTIVITY_DETAIL_TYPES | PLATFORM_DETAIL_TYPES
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["IntakeDLQ", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_writeback_rule_matches_the_app_events(cfn_template):
    rule = cfn_template["Resources"]["WritebackRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "AppEventBus"}
    assert rule["EventPattern"]["source"] == [messages.APP_EVENT_SOURCE]
    assert sorted(rule["EventPattern"]["detail-type"]) == sorted(
        [messages.DETAIL_LEAD_ASSIGNED, messages.DETAIL_LEAD_KEPT, messages.DETAIL_LEAD_REROUTED,
         messages.DETAIL_LEAD_ESCALATED, messages.DETAIL_LEAD_REASSIGNED,
         messages.DETAIL_LEAD_RETAGGED]  # a late geocode refining the stamp: written back without OwnerId
    )
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["WritebackQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["WritebackDLQ", "Arn"]}}


def test_aggregates_ride_the_leads_table_stream(cfn_template):
    """ReportAggregatesFunction reads LeadsTable's stream: the settings its exactly-once argument relies on
    (docs/reliability.md, "Report aggregates") and the filter that keeps other item kinds and uncounted statuses out."""
    from territory_router.reporting.lead_changes import COUNTED_STATUSES

    resources = cfn_template["Resources"]
    assert resources["LeadsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "AggregatesQueue" not in resources and "AggregatesRule" not in resources
    (esm,) = [r["Properties"] for r in resources_of_type(cfn_template, "AWS::Lambda::EventSourceMapping").values()
              if r["Properties"]["FunctionName"] == {"Ref": "ReportAggregatesFunction"}]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["LeadsTable", "StreamArn"]}
    assert esm["StartingPosition"] == "TRIM_HORIZON"
    assert esm.get("ParallelizationFactor", 1) == 1  # one batch per shard at a time: the marks need it
    assert esm["TumblingWindowInSeconds"] > 0  # the event carries shardId only with a window
    assert esm["BisectBatchOnFunctionError"] is True
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["MaximumRetryAttempts"] > 0 and esm["MaximumRecordAgeInSeconds"] <= 86400
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["AggregatesDLQ", "Arn"]}
    (pattern,) = [json.loads(f["Pattern"]) for f in esm["FilterCriteria"]["Filters"]]
    assert pattern == {"dynamodb": {"NewImage": {"status": {"S": list(COUNTED_STATUSES)}}}}
    dlq = resources["AggregatesDLQ"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600 and dlq["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(
    ("policy_id", "rule_id", "queues"),
    [
        ("IntakeQueuePolicy", "SalesforceLeadEventsRule", ["IntakeQueue", "IntakeDLQ"]),
        ("WritebackQueuePolicy", "WritebackRule", ["WritebackQueue", "WritebackDLQ"]),
    ],
)
def test_only_our_rule_may_send_to_its_queues(cfn_template, policy_id, rule_id, queues):
    props = cfn_template["Resources"][policy_id]["Properties"]
    assert props["Queues"] == [{"Ref": q} for q in queues]
    allows = [s for s in props["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == [{"Fn::GetAtt": [q, "Arn"]} for q in queues]
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert _as_list(source_arns)[0] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_second_salesforce_bus_is_optional(cfn_template):
    assert cfn_template["Resources"]["SalesforceRoutingEventsRule"]["Condition"] == "HasRoutingEventBus"
    assert cfn_template["Conditions"]["HasRoutingEventBus"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SalesforceRoutingEventBusName"}, ""]}]
    }
    allow = cfn_template["Resources"]["IntakeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"][1] == {
        "Fn::If": ["HasRoutingEventBus", {"Fn::GetAtt": ["SalesforceRoutingEventsRule", "Arn"]}, {"Ref": "AWS::NoValue"}]
    }


def _as_list(value):
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- parameters and outputs


def test_parameters(sam_template):
    params = sam_template["Parameters"]
    defaults = {
        "RerouteScheduleRate": "rate(5 minutes)",
        "ReconcileScheduleRate": "rate(1 hour)",
        "ReconcileLookbackMinutes": 240,
        "ReconcileMaxLeads": 2000,
        "DefaultSlaMinutes": 60,
        "MaxReroutes": 2,
        "NearestToleranceKm": 25,
        "CatchAllTerritoryId": "",
        "WritebackEnabled": "false",
        "AutoActivateTerritories": "true",
        "AlarmEmail": "",
        "LogRetentionDays": 30,
    }
    for name, default in defaults.items():
        assert params[name]["Default"] == default, name
    assert params["WritebackEnabled"]["AllowedValues"] == ["false", "true"]
    assert "Default" not in params["SalesforceEventBusName"] and "Default" not in params["SalesforceOrgId"]
    assert re.fullmatch(params["SalesforceEventBusName"]["AllowedPattern"], "aws.partner/salesforce.com/00D1/0YL2")
    assert not re.fullmatch(params["SalesforceEventBusName"]["AllowedPattern"], "default")
    assert re.fullmatch(params["SalesforceOrgId"]["AllowedPattern"], "00D5g000004Dq2KEAS")
    assert re.fullmatch(params["TerritoryBucketNamePrefix"]["AllowedPattern"], params["TerritoryBucketNamePrefix"]["Default"])
    # the longest allowed prefix still gives a legal bucket name (<= 63) in the longest region names
    assert 32 + 1 + 12 + 1 + len("ap-southeast-5") <= 63


def test_every_parameter_is_used(sam_template):
    used = references(sam_template["Resources"]) | references(sam_template.get("Globals", {})) | references(
        sam_template.get("Outputs", {})
    ) | references(sam_template.get("Conditions", {}))
    assert set(sam_template["Parameters"]) <= used


def test_outputs(cfn_template):
    outputs = cfn_template["Outputs"]
    for name in ("TerritoryBucketName", "LeadsTableName", "RoutingTableName", "IdempotencyTableName",
                 "IntakeQueueUrl", "TaggingQueueUrl", "AssignmentQueueUrl", "WritebackQueueUrl",
                 "AppEventBusName", "SalesforceEventBusName", "DashboardUrl", "AlarmTopicArn"):
        assert name in outputs, name
    assert "${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]
