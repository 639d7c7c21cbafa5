"""boto3 clients, created lazily and reused across invocations of a warm container.

No client is made at import time (that breaks tests and moto). The endpoint comes from the standard
``AWS_ENDPOINT_URL`` variable, read by botocore itself: the embedded local stack sets it, Lambda does not.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}

_CONFIG_KWARGS = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 20,
    "max_pool_connections": 20,
}


def client(service: str, region: str | None = None):
    """A shared boto3 client for ``service`` (thread-safe, one per service and region)."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            _clients[key] = boto3.session.Session().client(
                service, region_name=region, config=Config(**_CONFIG_KWARGS)
            )
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that change AWS_ENDPOINT_URL call this)."""
    with _lock:
        _clients.clear()
