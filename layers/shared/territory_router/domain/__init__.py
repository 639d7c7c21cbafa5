"""Pure domain models shared by every step: no boto3, no environment."""

from territory_router.domain.leads import OPEN_STATUSES, Lead, LeadStatus, TagMethod, TagPrecision, TagResult
from territory_router.domain.territory import Territory, TerritorySet

__all__ = [
    "OPEN_STATUSES",
    "Lead",
    "LeadStatus",
    "TagMethod",
    "TagPrecision",
    "TagResult",
    "Territory",
    "TerritorySet",
]
