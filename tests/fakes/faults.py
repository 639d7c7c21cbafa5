"""Fault injection at the boto3 boundary: chosen AWS operations fail the first N times they are called.

The injector hooks botocore's ``before-send`` event of a client, so the failure looks exactly like one from AWS:
an HTTP error with the service's error shape, seen by botocore's retry handler (which retries throttling and
5xx errors itself) and, when the retries run out, raised to our code as ``ClientError``. Two kinds:

- ``fail`` (default): the request never reaches the service (throttling, 500 before anything was done);
- ``lost_response=True``: the request IS applied, then the caller gets a 500 (the answer was lost on the way
  back), so a retry repeats a write that already happened: the at-least-once case our idempotency must absorb.

    faults = FaultInjector()
    faults.attach(aws.client("dynamodb"))
    faults.fail("dynamodb", "TransactWriteItems", times=12, code="ProvisionedThroughputExceededException")
    ...
    assert faults.injected[("dynamodb", "TransactWriteItems")] == 12
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

THROTTLING = "ThrottlingException"
DDB_THROUGHPUT = "ProvisionedThroughputExceededException"
INTERNAL = "InternalServerError"


class _Raw:
    """The ``raw`` of an AWSResponse: what botocore reads the body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


@dataclass
class _Plan:
    remaining: int
    code: str
    status: int
    lost_response: bool


def _error_response(service: str, url: str, code: str, status: int) -> AWSResponse:
    message = f"injected fault: {code}"
    if service == "dynamodb":  # JSON 1.0 protocol
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    elif service in ("sqs", "events", "secretsmanager"):  # JSON 1.0/1.1 protocols (SQS is JSON since 2023)
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code,
                   "x-amzn-query-error": f"{code};Sender"}
    else:  # REST-XML (S3)
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    return AWSResponse(url, status, headers, _Raw(body))


class FaultInjector:
    """Programmable failures of AWS operations on the clients it is attached to (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, str], _Plan] = {}
        self.injected: Counter[tuple[str, str]] = Counter()  # failures actually returned
        self.calls: Counter[tuple[str, str]] = Counter()  # every attempt seen (including botocore retries)
        self._attached: list[tuple[Any, str]] = []

    def attach(self, *clients: Any) -> FaultInjector:
        for client in clients:
            event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
            client.meta.events.register(event, self._before_send, unique_id=f"fault-injector-{id(self)}")
            self._attached.append((client, event))
        return self

    def detach(self) -> None:
        for client, event in self._attached:
            client.meta.events.unregister(event, unique_id=f"fault-injector-{id(self)}")
        self._attached.clear()

    def fail(
        self, service: str, operation: str, *, times: int, code: str = THROTTLING, status: int = 400,
        lost_response: bool = False,
    ) -> None:
        """The next ``times`` attempts of ``service.operation`` fail with ``code`` (HTTP ``status``)."""
        if lost_response and status < 500:
            status = 500
        with self._lock:
            self._plans[(service, operation)] = _Plan(times, code, status, lost_response)

    def pending(self) -> int:
        with self._lock:
            return sum(p.remaining for p in self._plans.values())

    def _before_send(self, request: Any, event_name: str = "", **kwargs: Any) -> AWSResponse | None:
        # event_name: before-send.<service id, hyphenised>.<Operation>
        _, service, operation = (event_name.split(".", 2) + ["", ""])[:3]
        service_key = {"eventbridge": "events", "secrets-manager": "secretsmanager"}.get(service, service)
        key = (service_key, operation)
        with self._lock:
            self.calls[key] += 1
            plan = self._plans.get(key)
            if plan is None or plan.remaining <= 0:
                return None
            plan.remaining -= 1
            self.injected[key] += 1
        if plan.lost_response:
            from botocore.httpsession import URLLib3Session

            URLLib3Session().send(request)  # the service applies it; the caller never hears back
        return _error_response(service_key, request.url, plan.code, plan.status)
