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
import json
import re
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
    "AWSLambdaDynamoDBExecutionRole": "service-role/AWSLambdaDynamoDBExecutionRole",
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
    transformed = translator.translate(
        sam,
        parameter_values=params,
        get_managed_policy_map=lambda: dict(MANAGED_POLICY_MAP),
    )
    # The translator shares sub-dicts between resources (e.g. Globals environment); a JSON round trip gives
    # every resource its own copy, so a test that mutates one function does not silently mutate the others.
    return json.loads(json.dumps(transformed))


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of ``resource_type``."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


def sub_variables(text: str) -> list[str]:
    """The ``${...}`` variables of an ``Fn::Sub`` string (``${!Literal}`` escapes excluded), in order."""
    return _SUB_VARIABLE.findall(text)


def resolve_sub(text: str, values: dict[str, str]) -> str:
    """Substitute ``${Name}`` / ``${Resource.Attr}`` from ``values``; ``KeyError`` for an unknown variable."""
    return _SUB_VARIABLE.sub(lambda m: values[m.group(1)], text).replace("${!", "${")


def references(value: Any) -> set[str]:
    """Logical ids / parameter names that a property value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, local = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                found |= {v.split(".", 1)[0] for v in sub_variables(text) if v not in local}
                found |= references(local)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Resource logical id -> the resources it depends on (references and DependsOn), like CloudFormation."""
    resources = template.get("Resources", {})
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        deps = references(resource.get("Properties") or {}) | set(_as_list(resource.get("DependsOn")))
        graph[logical_id] = {d for d in deps if d in resources}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One dependency cycle (as a path that returns to its start), or None when the graph is acyclic."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, black) == grey:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == white:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(graph):
        if colour[node] == white:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
