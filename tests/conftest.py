"""Shared fixtures. Unit tests run with sockets disabled; integration/e2e tests get an embedded moto server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "layers" / "shared" / "territory_router" / "data"
TEST_DATA_DIR = REPO_ROOT / "tests" / "data"

# Never talk to a real AWS account from the tests, whatever the developer's shell says.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ.pop("AWS_PROFILE", None)
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "territory-router-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TerritoryRouterTests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in {"integration", "e2e", "infra"}:
            item.add_marker(getattr(pytest.mark, parts[1]))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server (server mode, loopback, free port) for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    from territory_router_tools.local import moto_patches

    moto_patches.apply()  # atomic conditional writes under concurrency, O(items) transactions
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
        server.stop()


@pytest.fixture
def aws_endpoint(moto_server: str) -> Iterator[str]:
    """The moto endpoint, reset to an empty account before each test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    yield moto_server
