"""Read template.yaml (the single source of truth) for the local stack.

Only what the local stack needs is interpreted: parameters and conditions, the intrinsic functions used in our
template (Ref, GetAtt, Sub, Join, If, Select, Split, Equals/Not/And/Or), SAM ``Globals`` merging and function events.
Anything else is reported, never silently guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"


class TemplateError(ValueError):
    """template.yaml uses something the local stack cannot interpret."""


def find_template(start: Path | None = None) -> Path:
    """template.yaml in the current directory or a parent, else next to the installed source tree."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "template.yaml"
        if candidate.is_file():
            return candidate
    candidate = Path(__file__).resolve().parents[4] / "template.yaml"
    if candidate.is_file():
        return candidate
    raise TemplateError("template.yaml not found: run from the repository or pass --template")


def load_yaml(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str  # "module.function"
    environment: dict[str, str]
    timeout: int
    memory_mb: int
    events: dict[str, dict[str, Any]]  # event name -> {"Type": ..., "Properties": {...}} (resolved)


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    region: str
    stack_name: str
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> physical name
    conditions: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        region: str = "us-east-1",
        stack_name: str = "territory-router-local",
        parameter_overrides: dict[str, str] | None = None,
    ) -> Template:
        body = load_yaml(path)
        tpl = cls(path=path, body=body, region=region, stack_name=stack_name)
        overrides = parameter_overrides or {}
        for name, spec in (body.get("Parameters") or {}).items():
            if name in overrides:
                tpl.parameters[name] = str(overrides[name])
            elif "Default" in spec:
                tpl.parameters[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default: pass it as an override")
        unknown = set(overrides) - set(tpl.parameters)
        if unknown:
            raise TemplateError(f"unknown parameter override(s): {', '.join(sorted(unknown))}")
        for name, expr in (body.get("Conditions") or {}).items():
            tpl.conditions[name] = bool(tpl.resolve(expr))
        for logical_id, res in tpl.resources().items():
            tpl.physical[logical_id] = tpl._physical_name(logical_id, res)
        return tpl

    # ----------------------------------------------------------------- resources
    def resources(self) -> dict[str, dict[str, Any]]:
        out = {}
        for logical_id, res in (self.body.get("Resources") or {}).items():
            cond = res.get("Condition")
            if cond and not self.conditions.get(cond, False):
                continue
            out[logical_id] = res
        return out

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources().items() if v.get("Type") in types}

    def _physical_name(self, logical_id: str, res: dict[str, Any]) -> str:
        props = res.get("Properties") or {}
        explicit = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Events::EventBus": "Name",
            "AWS::Events::Rule": "Name",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::SNS::Topic": "TopicName",
        }.get(res.get("Type", ""))
        if explicit and explicit in props:
            # Names built from other resources resolve lazily; parameters and pseudo parameters are fine here.
            try:
                return str(self.resolve(props[explicit], allow_resources=False))
            except TemplateError:
                pass
        base = f"{self.stack_name}-{logical_id}"
        if res.get("Type") == "AWS::S3::Bucket":
            return _slug(f"{base}-{self.region}")[:63]
        return base[:80]

    # --------------------------------------------------------------- intrinsics
    def arn(self, logical_id: str) -> str:
        res = self.resources()[logical_id]
        name = self.physical[logical_id]
        kind = res["Type"]
        r, a = self.region, ACCOUNT_ID
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{r}:{a}:table/{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{r}:{a}:{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{r}:{a}:event-bus/{name}"
        if kind == "AWS::Events::Rule":
            return f"arn:aws:events:{r}:{a}:rule/{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{r}:{a}:{name}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{r}:{a}:secret:{name}"
        if kind in {"AWS::Serverless::Function", "AWS::Lambda::Function"}:
            return f"arn:aws:lambda:{r}:{a}:function:{name}"
        return f"arn:aws:local:{r}:{a}:{logical_id}"

    def queue_url(self, logical_id: str) -> str:
        return f"{self._endpoint_placeholder}/{ACCOUNT_ID}/{self.physical[logical_id]}"

    _endpoint_placeholder = "http://localhost"  # replaced by the stack with the real moto endpoint

    def ref(self, name: str, allow_resources: bool = True) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if not allow_resources:
            raise TemplateError(f"Ref {name} needs a resource")
        res = self.resources().get(name)
        if res is None:
            raise TemplateError(f"Ref to unknown or disabled resource {name}")
        if res["Type"] == "AWS::SQS::Queue":
            return self.queue_url(name)
        if res["Type"] in {"AWS::SNS::Topic"}:
            return self.arn(name)
        return self.physical[name]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        res = self.resources().get(logical_id)
        if res is None:
            raise TemplateError(f"GetAtt on unknown resource {logical_id}")
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "QueueName":
            return self.physical[logical_id]
        if attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if attribute == "Name":
            return self.physical[logical_id]
        if attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        raise TemplateError(f"GetAtt {logical_id}.{attribute} is not supported locally")

    def resolve(self, value: Any, allow_resources: bool = True) -> Any:
        r: Callable[[Any], Any] = lambda v: self.resolve(v, allow_resources)  # noqa: E731
        if isinstance(value, list):
            return [x for x in (r(v) for v in value) if x is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg, allow_resources)
            if key == "Fn::GetAtt":
                if not allow_resources:
                    raise TemplateError("GetAtt needs resources")
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                variables = {k: r(v) for k, v in variables.items()}

                def repl(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name.startswith("!"):
                        return "${" + name[1:] + "}"
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        lid, att = name.split(".", 1)
                        if not allow_resources:
                            raise TemplateError("Sub with GetAtt needs resources")
                        return str(self.get_att(lid, att))
                    return str(self.ref(name, allow_resources))

                return re.sub(r"\$\{([^}]+)\}", repl, text)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in r(items))
            if key == "Fn::Select":
                idx, items = arg
                return r(items)[int(r(idx))]
            if key == "Fn::Split":
                sep, text = arg
                return str(r(text)).split(sep)
            if key == "Fn::If":
                cond, yes, no = arg
                return r(yes) if self.conditions.get(cond, False) else r(no)
            if key == "Fn::Equals":
                a, b = arg
                return str(r(a)) == str(r(b))
            if key == "Fn::Not":
                return not r(arg[0])
            if key == "Fn::And":
                return all(r(x) for x in arg)
            if key == "Fn::Or":
                return any(r(x) for x in arg)
            if key == "Condition":
                return self.conditions.get(arg, False)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        return {k: r(v) for k, v in value.items()}

    # ---------------------------------------------------------------- functions
    def functions(self) -> list[FunctionSpec]:
        globals_fn = (self.body.get("Globals") or {}).get("Function") or {}
        specs = []
        for logical_id, res in self.of_type("AWS::Serverless::Function").items():
            props = res.get("Properties") or {}
            env: dict[str, str] = {}
            for source in (globals_fn, props):
                variables = ((source.get("Environment") or {}).get("Variables")) or {}
                for k, v in variables.items():
                    resolved = self.resolve(v)
                    env[k] = "" if resolved is None else str(resolved)
            code_uri = props.get("CodeUri") or globals_fn.get("CodeUri")
            handler = props.get("Handler") or globals_fn.get("Handler")
            if not code_uri or not handler:
                raise TemplateError(f"{logical_id}: CodeUri and Handler are required")
            events = {name: self.resolve(ev) for name, ev in (props.get("Events") or {}).items()}
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_uri=(self.path.parent / str(code_uri)).resolve(),
                    handler=str(handler),
                    environment=env,
                    timeout=int(props.get("Timeout") or globals_fn.get("Timeout") or 3),
                    memory_mb=int(props.get("MemorySize") or globals_fn.get("MemorySize") or 128),
                    events=events,
                )
            )
        return specs
