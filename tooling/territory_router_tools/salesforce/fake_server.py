"""Former name of the test org: ``FakeSalesforce`` is ``fake_org.FakeOrg`` (a stateful org, not a request-answerer).

Kept so existing imports keep working; new code imports ``territory_router_tools.salesforce.fake_org``.
"""

from territory_router_tools.salesforce.fake_org import FakeOrg, RecordedRequest

FakeSalesforce = FakeOrg

__all__ = ["FakeOrg", "FakeSalesforce", "RecordedRequest"]
