"""Former home of the Salesforce errors, kept only while ``services/reroute.py`` still imports them from here.

The errors live in ``salesforce.errors``, the writeback's rules in ``salesforce.writeback_rules`` and the batch
orchestration in ``services.writeback_batch``. Remove this module once nothing imports it (issue 15: the re-route
service is being reworked on another branch).
"""

from territory_router.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceRetryableError

__all__ = ["SalesforceAuthError", "SalesforceError", "SalesforceRetryableError"]
