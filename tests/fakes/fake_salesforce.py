"""The test org (the implementation ships in the package for the demo): ``FakeOrg``, alias ``FakeSalesforce``."""

from territory_router_tools.salesforce.fake_org import FakeOrg, RecordedRequest

FakeSalesforce = FakeOrg

__all__ = ["FakeOrg", "FakeSalesforce", "RecordedRequest"]
