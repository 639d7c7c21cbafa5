"""Run Lambda handlers in-process, the way the Lambda service would call them."""

from __future__ import annotations

import importlib.util
import os
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from territory_router_tools.local.template import ACCOUNT_ID, FunctionSpec


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that our handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """One function of the template and its warm containers, each a separate import of the handler module.

    Lambda runs one invocation at a time per container and scales out with more containers; here each container
    is its own module object (its own globals, caches and powertools objects) and ``containers`` bounds how many
    invocations run at once. Handlers of one stack share this process, so their environments are merged; a
    variable that two functions set to different values is refused (see ``merge_environments``).
    """

    def __init__(self, spec: FunctionSpec, region: str, containers: int = 1) -> None:
        self.spec = spec
        self.region = region
        self.containers = max(1, containers)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()  # warm handlers; LIFO keeps the warmest busy
        self._started = 0
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors = 0
        self.busy_s = 0.0
        self.cold_starts = 0

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def _load(self):
        module_name, _, func = self.spec.handler.rpartition(".")
        path = self.spec.code_uri / (module_name.replace(".", "/") + ".py")
        if not path.is_file():
            raise FileNotFoundError(f"{self.name}: handler file {path} not found")
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return getattr(module, func)

    def _acquire(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            start_new = self._started < self.containers
            if start_new:
                self._started += 1
                self.cold_starts += 1
        if start_new:
            try:
                return self._load()
            except Exception:
                with self._lock:
                    self._started -= 1
                raise
        return self._idle.get()

    def invoke(self, event: dict[str, Any]) -> Any:
        handler = self._acquire()
        context = LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}",
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.spec.timeout,
            log_group_name=f"/aws/lambda/{self.name}",
        )
        started = time.monotonic()
        try:
            return handler(event, context)
        except Exception:
            with self._lock:
                self.errors += 1
            raise
        finally:
            with self._lock:
                self.invocations += 1
                self.busy_s += time.monotonic() - started
            self._idle.put(handler)


def merge_environments(specs: list[FunctionSpec]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for spec in specs:
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise ValueError(
                    f"environment variable {key} differs between {owner[key]} ({merged[key]!r}) and "
                    f"{spec.logical_id} ({value!r}); the local stack runs handlers in one process, so give "
                    "function-specific settings distinct names"
                )
            merged[key] = value
            owner.setdefault(key, spec.logical_id)
    return merged


def apply_environment(env: dict[str, str]) -> None:
    os.environ.update(env)
