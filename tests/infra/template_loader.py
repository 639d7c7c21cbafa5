"""Load template.yaml and run the SAM transform offline (no AWS calls), for tests and tools.

``load_template()`` returns the SAM template as a dict (intrinsics as ``{"Ref": ...}`` / ``{"Fn::GetAtt": [...]}``);
``transform_template()`` returns the CloudFormation template that CloudFormation would get after the
``AWS::Serverless-2016-10-31`` transform. Both return fresh copies: callers may mutate them.

The transform normally asks IAM for the managed policy names; here a fixed map of the few AWS managed policies SAM
adds by itself stands in for it, and local ``CodeUri``/``ContentUri`` folders are replaced by placeholder S3
locations (what ``sam package`` would do), so nothing leaves the machine.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Values for the parameters that have no default (SAM needs them to resolve a few properties).
DEFAULT_PARAMETER_VALUES: dict[str, str] = {
    "SalesforceEventBusName": "aws.partner/salesforce.com/00D000000000001EAA/0YL000000000001GAA",
    "SalesforceOrgId": "00D000000000001EAA",
}

# Managed policies the SAM transform may attach on its own (basic execution, X-Ray, SQS polling).
_PARTITION_POLICIES = {
    "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "AWSXRayDaemonWriteAccess",
    "AWSLambdaSQSQueueExecutionRole": "service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "service-role/AWSLambdaVPCAccessExecutionRole",
}
MANAGED_POLICY_MAP: dict[str, str] = {
    name: f"arn:aws:iam::aws:policy/{path}" for name, path in _PARTITION_POLICIES.items()
}

_PLACEHOLDER_BUCKET = "placeholder-artifacts-bucket"


@lru_cache(maxsize=4)
def _parsed(path: str, mtime_ns: int) -> dict[str, Any]:  # noqa: ARG001 - mtime_ns invalidates the cache
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(Path(path).read_text())


def load_template(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as a dict (a fresh copy; short-form intrinsics become their long form)."""
    p = Path(path)
    return copy.deepcopy(_parsed(str(p), p.stat().st_mtime_ns))


def _package_local_code(template: dict[str, Any]) -> None:
    """Replace local folders with S3 locations, like ``sam package`` does (the transform only takes S3)."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://{_PLACEHOLDER_BUCKET}/{logical_id}.zip"


def transform_template(
    template: dict[str, Any] | None = None,
    parameter_values: dict[str, Any] | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The CloudFormation template produced by the SAM transform (offline).

    ``template`` defaults to ``load_template()``; it is copied, never modified.
    Raises ``samtranslator.model.exceptions.InvalidDocumentException`` when SAM rejects the template.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template) if template is not None else load_template()
    _package_local_code(sam)
    params = dict(DEFAULT_PARAMETER_VALUES)
    params.update(parameter_values or {})
    # A session with only a region: the translator reads the partition from it and never calls AWS.
    session = boto3.session.Session(region_name=region)
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(
        sam,
        parameter_values=params,
        get_managed_policy_map=lambda: dict(MANAGED_POLICY_MAP),
    )


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of ``resource_type``."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }
