"""Fake Salesforce REST server for tests (the implementation ships in the package for the demo)."""

from territory_router.salesforce.fake_server import FakeSalesforce, RecordedRequest

__all__ = ["FakeSalesforce", "RecordedRequest"]
