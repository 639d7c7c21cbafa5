"""Security checks over a CloudFormation template (run it on the SAM-TRANSFORMED template, so the roles, policies
and environment variables SAM generates are checked too).

``scan(template)`` returns a list of ``Finding``; an empty list means the template passes. Each rule has a stable
id (``Finding.rule``) so tests can assert that a given mutation is caught by the right rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Actions that AWS only authorises on Resource "*" (no resource-level permissions), allowed with a wildcard.
ALLOWED_WILDCARD_ACTIONS: dict[str, str] = {
    # X-Ray trace upload (Tracing: Active) has no resource types: https://docs.aws.amazon.com/service-authorization/
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions for trace upload",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions for telemetry",
    # The X-Ray SDK's centralised sampling reads the account's sampling rules; no resource types either.
    "xray:GetSamplingRules": "X-Ray sampling rules are account-wide",
    "xray:GetSamplingTargets": "X-Ray sampling targets are account-wide",
    "xray:GetSamplingStatisticSummaries": "X-Ray sampling statistics are account-wide",
}

# AWS managed policies a role may carry. Each one is attached by the SAM transform itself; none can be scoped.
ALLOWED_MANAGED_POLICIES: dict[str, str] = {
    # Every SAM function role: logs:CreateLogGroup/CreateLogStream/PutLogEvents only (write-only, no read).
    "AWSLambdaBasicExecutionRole": "SAM attaches it to every function role; CloudWatch Logs writes only",
    # Tracing: Active: the X-Ray write actions above, which cannot be scoped to a resource.
    "AWSXrayWriteOnlyAccess": "SAM attaches it for Tracing: Active; X-Ray actions cannot be scoped",
    # SQS event sources: the event source mapping polls with the function role (Receive/Delete/GetQueueAttributes).
    # SAM attaches it for every SQS event and offers no scoped variant; the only alternative is a hand-written
    # role per function. It grants no SendMessage and no access to message contents outside Lambda's poller.
    "AWSLambdaSQSQueueExecutionRole": "SAM attaches it for SQS event sources; no scoped variant exists",
    # DynamoDB stream event sources (ReportAggregatesFunction): the mapping reads the stream with the function role
    # (DescribeStream/GetRecords/GetShardIterator/ListStreams + logs). SAM attaches it for every DynamoDB event, the
    # same way as the SQS one; it grants no table reads or writes, only stream reads.
    "AWSLambdaDynamoDBExecutionRole": "SAM attaches it for DynamoDB stream event sources; stream reads only",
}

# Environment variable names that suggest a credential.
SENSITIVE_ENV_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
# Such a variable may hold the *name/ARN* of a secret (a reference), never the secret itself.
REFERENCE_ENV_SUFFIX = re.compile(r"_(NAME|ARN|ID)$", re.IGNORECASE)
SECRET_STORE_TYPES = {"AWS::SecretsManager::Secret", "AWS::SSM::Parameter"}

IDENTITY_POLICY_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User",
                         "AWS::IAM::Group"}
RESOURCE_POLICY_TYPES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
}


@dataclass(frozen=True)
class Finding:
    resource: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.resource}: [{self.rule}] {self.detail}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::"))


def _identity_documents(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    props = resource.get("Properties") or {}
    if resource.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
        yield "PolicyDocument", props.get("PolicyDocument") or {}
    for i, policy in enumerate(props.get("Policies") or []):
        yield f"Policies[{i}]({policy.get('PolicyName', '?')})", policy.get("PolicyDocument") or {}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def _check_identity_policies(lid: str, resource: dict[str, Any]) -> Iterator[Finding]:
    for where, document in _identity_documents(resource):
        for n, stmt in enumerate(_statements(document)):
            if stmt.get("Effect") != "Allow":
                continue
            label = f"{where} statement {stmt.get('Sid') or n}"
            actions = [a for a in _as_list(stmt.get("Action")) if isinstance(a, str)]
            if "NotAction" in stmt:
                yield Finding(lid, "iam-not-action", f"{label}: Allow with NotAction")
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    yield Finding(lid, "iam-wildcard-action", f"{label}: action {action!r}")
            if "NotResource" in stmt:
                yield Finding(lid, "iam-not-resource", f"{label}: Allow with NotResource")
            if "*" in _as_list(stmt.get("Resource")):
                bad = [a for a in actions if a not in ALLOWED_WILDCARD_ACTIONS] if actions else ["<no Action>"]
                if bad:
                    yield Finding(lid, "iam-wildcard-resource", f"{label}: Resource '*' for {sorted(bad)}")
    if resource.get("Type") == "AWS::IAM::Role":
        for arn in _as_list((resource.get("Properties") or {}).get("ManagedPolicyArns")):
            name = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else None
            if name not in ALLOWED_MANAGED_POLICIES:
                yield Finding(lid, "iam-managed-policy", f"managed policy not on the allow-list: {arn!r}")


def _principal_is_anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _as_list(v) for v in principal.values())
    return False


def _check_resource_policy(lid: str, resource: dict[str, Any]) -> Iterator[Finding]:
    key = RESOURCE_POLICY_TYPES[resource["Type"]]
    document = (resource.get("Properties") or {}).get(key) or {}
    for n, stmt in enumerate(_statements(document)):
        if stmt.get("Effect") == "Allow" and _principal_is_anyone(stmt.get("Principal")) and not stmt.get("Condition"):
            yield Finding(lid, "public-resource-policy", f"statement {stmt.get('Sid') or n}: Allow to anyone")


def _check_bucket(lid: str, props: dict[str, Any], template: dict[str, Any]) -> Iterator[Finding]:
    rules = ((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")) or []
    algorithms = [((r or {}).get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules]
    if not any(a in {"AES256", "aws:kms", "aws:kms:dsse"} for a in algorithms):
        yield Finding(lid, "s3-encryption", "no BucketEncryption default (AES256 / aws:kms)")
    block = props.get("PublicAccessBlockConfiguration") or {}
    missing = [k for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
               if not _is_true(block.get(k))]
    if missing:
        yield Finding(lid, "s3-public-access-block", f"public access block not set: {missing}")
    if not _bucket_denies_insecure_transport(lid, template):
        yield Finding(lid, "s3-tls-only", "no bucket policy denying aws:SecureTransport false")


def _bucket_denies_insecure_transport(lid: str, template: dict[str, Any]) -> bool:
    for res in template.get("Resources", {}).values():
        if res.get("Type") != "AWS::S3::BucketPolicy":
            continue
        props = res.get("Properties") or {}
        if props.get("Bucket") != {"Ref": lid}:
            continue
        for stmt in _statements(props.get("PolicyDocument") or {}):
            cond = ((stmt.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
            if stmt.get("Effect") == "Deny" and str(cond).lower() == "false":
                return True
    return False


def _check_env(lid: str, props: dict[str, Any], template: dict[str, Any]) -> Iterator[Finding]:
    variables = ((props.get("Environment") or {}).get("Variables")) or {}
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    for name, value in variables.items():
        if not SENSITIVE_ENV_NAME.search(name):
            continue
        is_reference_name = bool(REFERENCE_ENV_SUFFIX.search(name))
        if _is_intrinsic(value):
            target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
            if target in resources and resources[target].get("Type") in SECRET_STORE_TYPES:
                continue  # the name/ARN of a secret store entry
            if target in parameters:
                if _is_true(parameters[target].get("NoEcho")):
                    yield Finding(lid, "env-secret", f"{name} holds a NoEcho parameter (a secret) in plain text")
                elif not is_reference_name:
                    yield Finding(lid, "env-secret", f"{name} holds parameter {target} in plain text")
                continue
            if not is_reference_name:
                yield Finding(lid, "env-secret", f"{name} is computed; only secret names/ARNs may go in env")
            continue
        if isinstance(value, str) and value == "":
            continue
        if is_reference_name and isinstance(value, str) and re.fullmatch(r"(arn:[\w-]+:[\w-]+:)?[\w/+=.@:-]{1,512}", value):
            continue  # a literal secret name or ARN
        yield Finding(lid, "env-secret", f"{name} holds a literal value; keep secrets in Secrets Manager")


def scan(template: dict[str, Any]) -> list[Finding]:
    """Every security finding in a (transformed) CloudFormation template."""
    findings: list[Finding] = []
    for lid, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        if kind in IDENTITY_POLICY_TYPES:
            findings.extend(_check_identity_policies(lid, resource))
        if kind in RESOURCE_POLICY_TYPES:
            findings.extend(_check_resource_policy(lid, resource))
        if kind == "AWS::S3::Bucket":
            findings.extend(_check_bucket(lid, props, template))
        elif kind == "AWS::SQS::Queue":
            if not (_is_true(props.get("SqsManagedSseEnabled")) or props.get("KmsMasterKeyId")):
                findings.append(Finding(lid, "sqs-encryption", "neither SqsManagedSseEnabled nor KmsMasterKeyId"))
        elif kind == "AWS::DynamoDB::Table":
            if not _is_true((props.get("SSESpecification") or {}).get("SSEEnabled")):
                findings.append(Finding(lid, "dynamodb-encryption", "SSESpecification.SSEEnabled is not true"))
            pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            if not _is_true(pitr):
                findings.append(Finding(lid, "dynamodb-pitr", "point-in-time recovery is not enabled"))
        elif kind == "AWS::SNS::Topic":
            if not props.get("KmsMasterKeyId"):
                findings.append(Finding(lid, "sns-encryption", "no KmsMasterKeyId"))
        elif kind == "AWS::Lambda::Function":
            findings.extend(_check_env(lid, props, template))
        elif kind == "AWS::Logs::LogGroup" and not props.get("RetentionInDays"):
            findings.append(Finding(lid, "log-retention", "log group kept forever (no RetentionInDays)"))
    return findings
