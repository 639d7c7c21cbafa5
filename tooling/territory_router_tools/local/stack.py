"""The local stack: moto in server mode on loopback, every resource of template.yaml, and the event wiring.

Handlers run in this process and reach the emulator only through ``AWS_ENDPOINT_URL`` like any boto3 code.
The wiring follows the template: SQS event sources are polled with Lambda's batch semantics (a handler's
``batchItemFailures`` leave those messages on the queue for redelivery and, after ``maxReceiveCount``, the
DLQ), S3 ``ObjectCreated`` notifications are delivered to the functions whose prefix/suffix filter matches,
EventBridge rules deliver to their SQS targets (moto does this), and schedules fire on their rate.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from territory_router_tools.local.runtime import FunctionRuntime, apply_environment, merge_environments
from territory_router_tools.local.template import ACCOUNT_ID, Template, find_template

log = logging.getLogger("territory_router_tools.local")

# Local defaults for parameters that have no sensible default for a real deployment.
LOCAL_PARAMETERS = {
    "SalesforceEventBusName": "salesforce-partner-bus-local",
    "SalesforceOrgId": "00D5e000000LoClEAK",
}
LOCAL_RETRY_DELAY_S = 1  # failed SQS messages come back after this instead of the queue's visibility timeout


@dataclass
class SqsSource:
    function: FunctionRuntime
    queue_url: str
    queue_arn: str
    batch_size: int
    report_failures: bool
    batching_window_s: float = 0.0


@dataclass
class StreamSource:
    """A DynamoDB stream event source mapping (``Type: DynamoDB``), polled shard by shard like Lambda does."""

    function: FunctionRuntime
    table: str  # logical id of the table whose stream it reads
    stream_arn: str
    batch_size: int
    batching_window_s: float
    filters: list[dict[str, Any]]
    report_failures: bool
    bisect: bool
    max_retries: int  # -1: until the record expires
    on_failure_url: str | None
    window: bool  # TumblingWindowInSeconds > 0: the event carries shardId, window and state
    checkpoints: dict[str, str | None] = field(default_factory=dict)  # shard id -> last sequence number done
    attempts: dict[str, int] = field(default_factory=dict)  # shard id -> failed attempts of its current batch
    busy: bool = True  # the last poll found records (or a retry is pending): not idle yet


def matches_pattern(pattern: Any, value: Any) -> bool:
    """Lambda event filtering (the EventBridge pattern syntax) on one record: nested objects, lists of allowed
    values, ``{"exists": bool}``, ``{"prefix": str}``, ``{"anything-but": [...]}``. Anything else is refused."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, sub in pattern.items():
            if isinstance(sub, list) and any(isinstance(r, dict) and "exists" in r for r in sub):
                wanted = next(r["exists"] for r in sub if isinstance(r, dict) and "exists" in r)
                if (key in value) != bool(wanted):
                    return False
                continue
            if key not in value or not matches_pattern(sub, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        for rule in pattern:
            if isinstance(rule, dict):
                if "prefix" in rule and isinstance(value, str) and value.startswith(rule["prefix"]):
                    return True
                if "anything-but" in rule:
                    excluded = rule["anything-but"]
                    if value not in (excluded if isinstance(excluded, list) else [excluded]):
                        return True
                if not {"prefix", "anything-but"} & set(rule):
                    raise ValueError(f"filter rule {rule!r} is not supported locally")
            elif rule == value:
                return True
        return False
    raise ValueError(f"filter pattern {pattern!r} is not supported locally")


@dataclass
class S3Source:
    function: FunctionRuntime
    bucket: str
    prefix: str
    suffix: str


@dataclass
class ScheduleSource:
    function: FunctionRuntime
    rule_name: str
    every_s: float
    next_at: float = 0.0


@dataclass
class Activity:
    """Counters the demo and tests read to know when the pipeline is idle."""

    deliveries: int = 0
    failures: int = 0
    handler_errors: list[str] = field(default_factory=list)
    last_activity: float = field(default_factory=time.monotonic)


class MotoServerProcess:
    """moto in server mode in its own process, on a free loopback port.

    A separate process keeps the emulator's request handling off the handlers' interpreter (the GIL), which
    doubles the local pipeline's throughput on a two-core machine compared with moto's in-process thread.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> str:
        for _attempt in range(5):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((self.host, 0))
                port = probe.getsockname()[1]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "territory_router_tools.local.moto_main", "-H", self.host, "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            endpoint = f"http://{self.host}:{port}"
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):
                        return endpoint
                except OSError:
                    time.sleep(0.1)
            self.stop()  # the port was taken meanwhile, or moto did not start: try another port
        raise RuntimeError("could not start the moto server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def _forget_powertools_providers() -> None:
    """powertools parameters keeps one provider (and its boto3 client) per process: drop them with the endpoint."""
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()


def parse_rate(expression: str) -> float:
    m = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise ValueError(f"only rate(...) schedules run locally, got {expression!r}")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit]


class LocalStack:
    def __init__(
        self,
        template_path: Path | None = None,
        *,
        region: str = "us-east-1",
        stack_name: str = "territory-router-local",
        parameter_overrides: dict[str, str] | None = None,
        schedule_every_s: float | None = None,
        poll_interval_s: float = 0.2,
        containers_per_function: int = 2,
        max_batching_window_s: float = 0.5,
    ) -> None:
        path = template_path or find_template()
        from territory_router_tools.local.template import load_yaml

        # Local defaults apply only where the template declares the parameter; the caller's own overrides are
        # checked by Template.load, so a mistyped name is an error, not silently ignored.
        declared = set((load_yaml(path).get("Parameters") or {}).keys())
        defaults = {k: v for k, v in LOCAL_PARAMETERS.items() if k in declared}
        overrides = {**defaults, **(parameter_overrides or {})}
        self.template = Template.load(path, region=region, stack_name=stack_name, parameter_overrides=overrides)
        self.region = region
        self.schedule_every_s = schedule_every_s
        self.poll_interval_s = poll_interval_s
        self.containers_per_function = containers_per_function
        # Lambda's batching windows (writeback: 5 s) are there to fill big batches under load; locally they
        # would only make every quiet moment 5 s long, so they are capped (still batching, sooner).
        self.max_batching_window_s = max_batching_window_s
        self.endpoint: str | None = None
        self._server = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._paused = threading.Event()
        self.functions: dict[str, FunctionRuntime] = {}
        self.sqs_sources: list[SqsSource] = []
        self.stream_sources: list[StreamSource] = []
        self.s3_sources: list[S3Source] = []
        self.schedules: list[ScheduleSource] = []
        self.activity = Activity()
        self._activity_lock = threading.Lock()
        self._seen_objects: dict[str, set[tuple[str, str]]] = {}
        self.resources: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        # Handlers run in this process and read os.environ: remember it so stop() can put it back.
        self._saved_environ = dict(os.environ)
        self._server = MotoServerProcess()
        self.endpoint = self._server.start()
        self.template._endpoint_placeholder = self.endpoint
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ["AWS_DEFAULT_REGION"] = self.region
        os.environ["AWS_REGION"] = self.region
        from territory_router.adapters import aws

        aws.reset_clients()
        _forget_powertools_providers()
        self._create_resources()
        self._wire_functions()
        # Pollers per event source mapping, as Lambda runs them: stages and containers work concurrently.
        workers: list[tuple[Callable[..., None], tuple[Any, ...], str]] = [
            (self._poll_sqs_forever, (source,), f"sqs-{source.function.name}-{n}")
            for source in self.sqs_sources
            for n in range(source.function.containers)
        ]
        workers += [(self._poll_stream_forever, (source,), f"ddbstream-{source.function.name}-0")
                    for source in self.stream_sources]
        workers += [(self._poll_s3_forever, (), "s3-notifier"), (self._run_schedules_forever, (), "scheduler")]
        for target, args, name in workers:
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._server is not None:
            self._server.stop()
            self._server = None
        saved = getattr(self, "_saved_environ", None)
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
            self._saved_environ = None
            from territory_router.adapters import aws

            aws.reset_clients()
            _forget_powertools_providers()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ready_line(self) -> str:
        return json.dumps({"endpoint": self.endpoint, "region": self.region, "resources": self.resources,
                           "parameters": self.template.parameters})

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)

    # ------------------------------------------------------------------ resources
    def _create_resources(self) -> None:
        t = self.template
        s3, ddb, sqs, events = self.client("s3"), self.client("dynamodb"), self.client("sqs"), self.client("events")
        for lid, res in t.of_type("AWS::S3::Bucket").items():
            props = t.resolve(res.get("Properties") or {})
            name = t.physical[lid]
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
            if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if props.get("BucketEncryption"):
                # CloudFormation spells the rule key differently from the S3 API.
                rules = [
                    {
                        **{k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"},
                        "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    }
                    if "ServerSideEncryptionByDefault" in rule
                    else rule
                    for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
            if props.get("PublicAccessBlockConfiguration"):
                s3.put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
                )
            self.resources[lid] = name
            self._seen_objects[name] = set()
        for lid, res in t.of_type("AWS::DynamoDB::Table").items():
            props = t.resolve(res.get("Properties") or {})
            name = t.physical[lid]
            kwargs = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if kwargs["BillingMode"] == "PROVISIONED":
                kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
            gsis = props.get("GlobalSecondaryIndexes")
            if gsis:
                kwargs["GlobalSecondaryIndexes"] = [
                    {k: v for k, v in g.items() if k in {"IndexName", "KeySchema", "Projection"}} for g in gsis
                ]
            if props.get("SSESpecification", {}).get("SSEEnabled"):
                kwargs["SSESpecification"] = {"Enabled": True}
            stream = props.get("StreamSpecification")
            if stream:
                kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
            created = ddb.create_table(**kwargs)["TableDescription"]
            if stream:
                self.resources[f"{lid}.StreamArn"] = created["LatestStreamArn"]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
            self.resources[lid] = name
        # Queues: DLQs first so redrive policies can point at them.
        queues = t.of_type("AWS::SQS::Queue")
        ordered = sorted(queues, key=lambda lid: "RedrivePolicy" in (queues[lid].get("Properties") or {}))
        for lid in ordered:
            props = t.resolve(queues[lid].get("Properties") or {})
            attributes: dict[str, str] = {}
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
                if key in props:
                    attributes[key] = str(props[key])
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            if props.get("SqsManagedSseEnabled"):
                attributes["SqsManagedSseEnabled"] = "true"
            url = sqs.create_queue(QueueName=t.physical[lid], Attributes=attributes)["QueueUrl"]
            self.resources[lid] = url
        for lid, _res in t.of_type("AWS::Events::EventBus").items():
            events.create_event_bus(Name=t.physical[lid])
            self.resources[lid] = t.physical[lid]
        for lid, res in t.of_type("AWS::Events::Rule").items():
            props = t.resolve(res.get("Properties") or {})
            bus = props.get("EventBusName", "default")
            if bus != "default" and bus not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
                # The Salesforce partner bus exists before the stack on AWS; locally we create it.
                events.create_event_bus(Name=bus)
                self.resources.setdefault("SalesforceEventBus", bus)
            kwargs = {"Name": t.physical[lid], "EventBusName": bus, "State": props.get("State", "ENABLED")}
            if "EventPattern" in props:
                kwargs["EventPattern"] = json.dumps(props["EventPattern"])
            if "ScheduleExpression" in props:
                kwargs["ScheduleExpression"] = props["ScheduleExpression"]
            events.put_rule(**kwargs)
            targets = [
                {k: v for k, v in target.items() if k in {"Id", "Arn", "InputPath", "Input"}}
                for target in props.get("Targets", [])
            ]
            if targets:
                events.put_targets(Rule=t.physical[lid], EventBusName=bus, Targets=targets)
            self.resources[lid] = t.physical[lid]
        secrets = self.client("secretsmanager")
        for lid, res in t.of_type("AWS::SecretsManager::Secret").items():
            props = t.resolve(res.get("Properties") or {})
            value = props.get("SecretString") or json.dumps({})
            secrets.create_secret(Name=t.physical[lid], SecretString=value)
            self.resources[lid] = t.physical[lid]
        sns = self.client("sns")
        for lid, _res in t.of_type("AWS::SNS::Topic").items():
            self.resources[lid] = sns.create_topic(Name=t.physical[lid])["TopicArn"]

    def _wire_functions(self) -> None:
        t = self.template
        specs = t.functions()
        env = merge_environments(specs)
        apply_environment(env)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint or ""
        queue_by_arn = {t.arn(lid): lid for lid in t.of_type("AWS::SQS::Queue")}
        for spec in specs:
            # SQS-fed functions scale out like Lambda (bounded by their ScalingConfig); others run one container.
            sqs_events = [e for e in spec.events.values() if e.get("Type") == "SQS"]
            limit = min(
                [int(((e.get("Properties") or {}).get("ScalingConfig") or {}).get("MaximumConcurrency", 1000)) for e in sqs_events]
                or [1]
            )
            containers = min(self.containers_per_function, limit) if sqs_events else 1
            runtime = FunctionRuntime(spec, self.region, containers=containers)
            self.functions[spec.logical_id] = runtime
            self.resources[spec.logical_id] = spec.logical_id
            for event_name, event in spec.events.items():
                kind, props = event.get("Type"), event.get("Properties") or {}
                if kind == "SQS":
                    lid = queue_by_arn.get(props["Queue"])
                    if lid is None:
                        raise ValueError(f"{spec.logical_id}.{event_name}: queue {props['Queue']} is not in the template")
                    self.sqs_sources.append(
                        SqsSource(
                            function=runtime,
                            queue_url=self.resources[lid],
                            queue_arn=props["Queue"],
                            batch_size=int(props.get("BatchSize", 10)),
                            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                            batching_window_s=min(
                                float(props.get("MaximumBatchingWindowInSeconds", 0)), self.max_batching_window_s
                            ),
                        )
                    )
                elif kind == "DynamoDB":
                    table = next((lid for lid in t.of_type("AWS::DynamoDB::Table")
                                  if t.get_att(lid, "StreamArn") == props["Stream"]), None)
                    if table is None or f"{table}.StreamArn" not in self.resources:
                        raise ValueError(f"{spec.logical_id}.{event_name}: stream {props['Stream']} is not in the template")
                    destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                    dlq = queue_by_arn.get(destination) if destination else None
                    self.stream_sources.append(
                        StreamSource(
                            function=runtime,
                            table=table,
                            stream_arn=self.resources[f"{table}.StreamArn"],
                            batch_size=int(props.get("BatchSize", 100)),
                            batching_window_s=min(float(props.get("MaximumBatchingWindowInSeconds", 0)),
                                                  self.max_batching_window_s),
                            filters=[json.loads(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", [])],
                            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                            bisect=bool(props.get("BisectBatchOnFunctionError")),
                            max_retries=int(props.get("MaximumRetryAttempts", -1)),
                            on_failure_url=self.resources[dlq] if dlq else None,
                            window=int(props.get("TumblingWindowInSeconds", 0)) > 0,
                        )
                    )
                elif kind == "S3":
                    prefix = suffix = ""
                    for rule in ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules", []):
                        if rule["Name"].lower() == "prefix":
                            prefix = rule["Value"]
                        elif rule["Name"].lower() == "suffix":
                            suffix = rule["Value"]
                    self.s3_sources.append(S3Source(runtime, str(props["Bucket"]), prefix, suffix))
                elif kind in {"Schedule", "ScheduleV2"}:
                    expression = props.get("Schedule") or props.get("ScheduleExpression")
                    every = self.schedule_every_s or parse_rate(str(expression))
                    self.schedules.append(
                        ScheduleSource(runtime, f"{spec.logical_id}-{event_name}", every, time.monotonic() + every)
                    )
                else:
                    raise ValueError(f"{spec.logical_id}.{event_name}: event type {kind} is not supported locally")

    # ------------------------------------------------------------------- drivers
    def _touch(self, deliveries: int = 0, failures: int = 0, error: str | None = None) -> None:
        with self._activity_lock:
            self.activity.deliveries += deliveries
            self.activity.failures += failures
            if error:
                self.activity.handler_errors.append(error)
            self.activity.last_activity = time.monotonic()

    def _poll_sqs_forever(self, source: SqsSource) -> None:
        sqs = self.client("sqs")
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(self.poll_interval_s)
                continue
            try:
                busy = self.pump_sqs(source, sqs)
            except Exception as exc:  # keep the stack alive; report
                log.exception("SQS source %s failed", source.function.name)
                self._touch(error=f"{source.function.name}: {exc}")
                busy = False
            if not busy:
                time.sleep(self.poll_interval_s)

    def pump_sqs(self, source: SqsSource, sqs=None) -> bool:
        """Receive up to one batch for ``source`` and invoke its function. Returns True if it did work."""
        sqs = sqs or self.client("sqs")
        messages: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(messages) < source.batch_size:
            resp = sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                # Long-poll an empty queue (as Lambda's pollers do): an idle stack then costs the emulator nothing.
                WaitTimeSeconds=0 if messages else 1,
            )
            got = resp.get("Messages", [])
            messages.extend(got)
            if len(got) == 10:
                continue
            # Lambda's MaximumBatchingWindowInSeconds: gather until the batch is full or the window closes.
            if not messages or source.batching_window_s <= 0:
                break
            window_ends = window_ends or time.monotonic() + source.batching_window_s
            if time.monotonic() >= window_ends or self._stop.is_set():
                break
            time.sleep(min(0.25, source.batching_window_s))
        if not messages:
            return False
        event = {"Records": [self._sqs_record(m, source) for m in messages]}
        failed_ids: set[str]
        try:
            result = source.function.invoke(event)
            failed_ids = set()
            if source.report_failures and isinstance(result, dict):
                failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:
            log.exception("%s raised; the whole batch is retried", source.function.name)
            self._touch(error=f"{source.function.name}: {exc!r}")
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        for m in messages:
            if m["MessageId"] in failed_ids:
                sqs.change_message_visibility(
                    QueueUrl=source.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=LOCAL_RETRY_DELAY_S
                )
        self._touch(deliveries=len(messages), failures=len(failed_ids))
        return True

    def _sqs_record(self, message: dict[str, Any], source: SqsSource) -> dict[str, Any]:
        attrs = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attrs.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attrs.get("SenderId", ACCOUNT_ID),
                "ApproximateFirstReceiveTimestamp": attrs.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                ),
            },
            "messageAttributes": {
                k: {
                    "stringValue": v.get("StringValue"),
                    "binaryValue": v.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": v.get("DataType", "String"),
                }
                for k, v in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": self.region,
        }

    def _poll_stream_forever(self, source: StreamSource) -> None:
        streams = self.client("dynamodbstreams")
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(self.poll_interval_s)
                continue
            invocations = source.function.invocations
            try:
                source.busy = self.pump_stream(source, streams)
            except Exception as exc:  # keep the stack alive; report
                log.exception("stream source %s failed", source.function.name)
                self._touch(error=f"{source.function.name}: {exc}")
                source.busy = False
            if source.function.invocations == invocations:
                # Nothing was invoked (an empty shard, or a batch left to fill for the batching window): poll again
                # after the interval, as Lambda's poller does. Polling at once kept reading (and converting) the
                # shard's records under the emulator's lock while the pipeline wrote (demo, 500-lead phase: 71 s -> 57 s).
                time.sleep(self.poll_interval_s)

    def pump_stream(self, source: StreamSource, streams=None) -> bool:
        """One batch per shard for ``source``, as Lambda's stream poller: records in order from the shard's
        checkpoint, FilterCriteria applied (filtered-out records are passed over), the function invoked with the
        shard's batch; on success the checkpoint moves past the batch, on ``batchItemFailures`` to just before the
        lowest failed sequence number, on an error nowhere (bisected when configured). After MaximumRetryAttempts
        the batch's description goes to the on-failure destination and the shard moves on. Returns True if it did
        work (or has a retry pending)."""
        streams = streams or self.client("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=source.stream_arn)["StreamDescription"]["Shards"]
        busy = False
        for shard in shards:
            shard_id = shard["ShardId"]
            done = source.checkpoints.get(shard_id)
            kwargs: dict[str, Any] = {"StreamArn": source.stream_arn, "ShardId": shard_id}
            if done is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=done)
            iterator = streams.get_shard_iterator(**kwargs)["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator, Limit=source.batch_size).get("Records", [])
            if not records:
                continue
            if (source.batching_window_s > 0 and len(records) < source.batch_size and not source.attempts.get(shard_id)
                    and time.monotonic() - self.activity.last_activity < source.batching_window_s):
                busy = True  # MaximumBatchingWindowInSeconds: let the batch fill while the pipeline is writing
                continue
            busy = True
            batch = [self._stream_record(r, source) for r in records]
            wanted = [r for r in batch if not source.filters or any(matches_pattern(p, r) for p in source.filters)]
            last = batch[-1]["dynamodb"]["SequenceNumber"]
            if not wanted:
                source.checkpoints[shard_id] = last  # nothing for the function: Lambda does not invoke it
                continue
            self._invoke_stream_batch(source, shard_id, wanted, last)
        return busy

    def _invoke_stream_batch(self, source: StreamSource, shard_id: str, batch: list[dict[str, Any]], last: str) -> None:
        event: dict[str, Any] = {"Records": batch}
        if source.window:
            now = datetime.now(UTC).replace(microsecond=0)
            event |= {"shardId": shard_id, "eventSourceARN": source.stream_arn, "state": {},
                      "window": {"start": now.isoformat(), "end": now.isoformat()},
                      "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False}
        failed_from: str | None = None
        try:
            result = source.function.invoke(event)
            if source.report_failures and isinstance(result, dict) and result.get("batchItemFailures"):
                failed_from = min((f["itemIdentifier"] for f in result["batchItemFailures"]), key=int)
        except Exception as exc:
            log.exception("%s raised; the stream batch is retried", source.function.name)
            self._touch(error=f"{source.function.name}: {exc!r}")
            failed_from = batch[0]["dynamodb"]["SequenceNumber"]
            if source.bisect and len(batch) > 1:
                half = batch[: len(batch) // 2]  # Lambda splits the failed batch and retries the halves
                self._invoke_stream_batch(source, shard_id, half, half[-1]["dynamodb"]["SequenceNumber"])
                return
        self._touch(deliveries=len(batch), failures=0 if failed_from is None else 1)
        if failed_from is None:
            source.checkpoints[shard_id] = last
            source.attempts.pop(shard_id, None)
            return
        attempts = source.attempts.get(shard_id, 0) + 1
        source.attempts[shard_id] = attempts
        if source.max_retries >= 0 and attempts > source.max_retries:
            if source.on_failure_url:
                self.client("sqs").send_message(QueueUrl=source.on_failure_url, MessageBody=json.dumps({
                    "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
                    "DDBStreamBatchInfo": {"shardId": shard_id, "streamArn": source.stream_arn,
                                           "startSequenceNumber": failed_from, "endSequenceNumber": last,
                                           "batchSize": len(batch)}}))
            source.checkpoints[shard_id] = last
            source.attempts.pop(shard_id, None)
            return
        before = [r["dynamodb"]["SequenceNumber"] for r in batch if int(r["dynamodb"]["SequenceNumber"]) < int(failed_from)]
        if before:
            source.checkpoints[shard_id] = before[-1]
        time.sleep(LOCAL_RETRY_DELAY_S)

    def _stream_record(self, record: dict[str, Any], source: StreamSource) -> dict[str, Any]:
        body = dict(record.get("dynamodb") or {})
        created = body.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            body["ApproximateCreationDateTime"] = created.timestamp()
        return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": body,
                "eventSourceARN": source.stream_arn}

    def _poll_s3_forever(self) -> None:
        s3 = self.client("s3")
        while not self._stop.is_set():
            try:
                self.pump_s3(s3)
            except Exception as exc:
                log.exception("S3 notifier failed")
                self._touch(error=f"s3 notifier: {exc}")
            time.sleep(max(self.poll_interval_s, 0.5))

    def pump_s3(self, s3=None) -> int:
        """Deliver ObjectCreated notifications for objects that appeared since the last call."""
        s3 = s3 or self.client("s3")
        delivered = 0
        for bucket, prefix in {(src.bucket, src.prefix) for src in self.s3_sources}:
            seen = self._seen_objects.setdefault(bucket, set())
            new: list[dict[str, Any]] = []
            # Only the prefixes a notification filters on: the functions' own outputs are never listed.
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    marker = (obj["Key"], obj["ETag"] + str(obj["LastModified"]))
                    if marker not in seen:
                        seen.add(marker)
                        new.append(obj)
            for obj in sorted(new, key=lambda o: o["LastModified"]):
                for src in self.s3_sources:
                    if (
                        src.bucket == bucket
                        and src.prefix == prefix
                        and obj["Key"].startswith(src.prefix)
                        and obj["Key"].endswith(src.suffix)
                    ):
                        event = {"Records": [self._s3_record(bucket, obj)]}
                        try:
                            src.function.invoke(event)
                        except Exception as exc:
                            log.exception("%s raised on s3://%s/%s", src.function.name, bucket, obj["Key"])
                            self._touch(error=f"{src.function.name}: {exc!r}")
                        self._touch(deliveries=1)
                        delivered += 1
        return delivered

    def _s3_record(self, bucket: str, obj: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.region,
            "eventTime": now,
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "local"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16], "x-amz-id-2": "local"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "local",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": {"principalId": "local"},
                    "arn": f"arn:aws:s3:::{bucket}",
                },
                "object": {
                    "key": urllib.parse.quote_plus(obj["Key"], safe="/"),
                    "size": obj.get("Size", 0),
                    "eTag": obj["ETag"].strip('"'),
                    "sequencer": f"{int(time.time() * 1e6):X}",
                },
            },
        }

    def _run_schedules_forever(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for schedule in self.schedules:
                if now >= schedule.next_at and not self._paused.is_set():
                    schedule.next_at = now + schedule.every_s
                    try:
                        self.fire_schedule(schedule.function.name)
                    except Exception as exc:
                        log.exception("schedule %s failed", schedule.rule_name)
                        self._touch(error=f"{schedule.rule_name}: {exc!r}")
            time.sleep(min(1.0, self.poll_interval_s * 5))

    def fire_schedule(self, function_logical_id: str, at: datetime | None = None) -> Any:
        """Invoke a scheduled function with a Scheduled Event, as EventBridge would.

        ``at`` sets the event's ``time`` (the moment the schedule fired); the demo uses it to run the
        re-route "two hours later" without waiting two hours.
        """
        schedule = next(s for s in self.schedules if s.function.name == function_logical_id)
        fired_at = at or datetime.now(UTC)
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": fired_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
            "detail": {},
        }
        result = schedule.function.invoke(event)
        self._touch(deliveries=1)
        return result

    # ----------------------------------------------------------------- waiting
    def queue_depths(self) -> dict[str, int]:
        sqs = self.client("sqs")
        depths = {}
        for lid in self.template.of_type("AWS::SQS::Queue"):
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.resources[lid],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[lid] = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
                attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
            )
        return depths

    def wait_idle(self, timeout_s: float = 60.0, quiet_s: float = 0.6, ignore: Callable[[str], bool] | None = None) -> bool:
        """Wait until every non-DLQ queue is empty and nothing happened for ``quiet_s``."""
        ignore = ignore or (lambda lid: lid.endswith("DLQ"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # Ask SQS only once nothing has happened for a while: polling depths costs the emulator time.
            if time.monotonic() - self.activity.last_activity >= quiet_s:
                depths = {k: v for k, v in self.queue_depths().items() if not ignore(k)}
                if not any(depths.values()) and not any(s.busy for s in self.stream_sources):
                    return True
            time.sleep(0.25)
        return False
