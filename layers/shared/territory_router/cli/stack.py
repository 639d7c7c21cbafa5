"""Which deployed stack a CLI command talks to: the local stack (embedded moto) or a CloudFormation stack on AWS.

``territory-router local up`` writes its ready line to ``.territory-router/stack.json``; commands given no option use
that file. ``--stack-name NAME`` reads the physical ids from CloudFormation instead (real AWS).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_STACK_FILE = Path(".territory-router") / "stack.json"
# The embedded AWS accepts any credentials; a machine with no AWS account has none, so the CLI brings its own
# for a loopback endpoint (the same placeholder the local stack gives its handlers).
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def is_loopback(endpoint: str | None) -> bool:
    """True for an endpoint on this machine (127.0.0.0/8, ::1, localhost): the local stack."""
    host = urlsplit(endpoint or "").hostname
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StackNotFound(RuntimeError):
    """No stack description could be found for the command."""


@dataclass
class Stack:
    """Physical names of the stack's resources, by template logical id, and how to reach them."""

    region: str
    resources: dict[str, str]
    endpoint: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters (SalesforceOrgId ...)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    stack_name: str | None = None  # a deployed stack's name (its parameters are read from CloudFormation)

    def client(self, service: str):
        if service not in self._clients:
            import boto3

            kwargs: dict[str, Any] = {"region_name": self.region}
            if self.endpoint:
                kwargs["endpoint_url"] = self.endpoint
            if is_loopback(self.endpoint):
                from botocore.config import Config

                # A stopped local stack refuses the connection at once: say so instead of retrying for a minute.
                kwargs.update(LOCAL_CREDENTIALS)
                kwargs["config"] = Config(connect_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]

    def name(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]
        except KeyError as exc:
            raise StackNotFound(f"the stack has no resource {logical_id!r}") from exc

    @classmethod
    def from_ready_line(cls, line: str | dict[str, Any]) -> Stack:
        data = json.loads(line) if isinstance(line, str) else line
        return cls(region=data["region"], resources=dict(data["resources"]), endpoint=data.get("endpoint"),
                   parameters=dict(data.get("parameters") or {}))

    @classmethod
    def from_cloudformation(cls, stack_name: str, region: str | None = None) -> Stack:
        import boto3

        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        cfn = boto3.client("cloudformation", region_name=region)
        resources: dict[str, str] = {}
        paginator = cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack_name):
            for res in page["StackResourceSummaries"]:
                resources[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "")
        return cls(region=region, resources=resources, _clients={"cloudformation": cfn}, stack_name=stack_name)

    def parameter(self, name: str) -> str | None:
        """A template parameter of the stack (the ready line's, or CloudFormation's for a deployed stack)."""
        if name not in self.parameters and self.stack_name:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
            for param in (stacks[0].get("Parameters") or []) if stacks else []:
                self.parameters[param["ParameterKey"]] = param.get("ParameterValue", "")
        return self.parameters.get(name) or None


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stack")
    group.add_argument(
        "--stack-file",
        type=Path,
        default=None,
        help=f"ready line of a local stack (default: {DEFAULT_STACK_FILE} when present)",
    )
    group.add_argument("--stack-name", default=None, help="CloudFormation stack name on AWS")
    group.add_argument("--region", default=None, help="AWS region (with --stack-name)")


def resolve_stack(args: argparse.Namespace) -> Stack:
    if getattr(args, "stack_name", None):
        return Stack.from_cloudformation(args.stack_name, getattr(args, "region", None))
    path = getattr(args, "stack_file", None) or DEFAULT_STACK_FILE
    if not Path(path).exists():
        raise StackNotFound(
            f"no stack: {path} does not exist. Start one with `territory-router local up` "
            "or pass --stack-name for a stack deployed on AWS."
        )
    return Stack.from_ready_line(Path(path).read_text())
