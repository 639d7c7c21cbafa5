"""Former home of the Salesforce id rule, kept only while ``services/reroute.py`` still imports it from here.

The rule is ``territory_router.domain.ids`` (domain: every package may import it; the import contracts keep the
domain packages from importing one another). Remove this module once nothing imports it (issue 15: the re-route
service is being reworked on another branch).
"""

from territory_router.domain.ids import to_18

__all__ = ["to_18"]
