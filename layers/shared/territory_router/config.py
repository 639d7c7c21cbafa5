"""Function configuration, read from the environment once per container by the handlers.

Domain code never reads the environment: handlers build ``Settings`` and pass plain values down.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    leads_table: str = ""
    routing_table: str = ""
    idempotency_table: str = ""
    territory_bucket: str = ""
    tagging_queue_url: str = ""
    assignment_queue_url: str = ""
    intake_dlq_url: str = ""
    tagging_dlq_url: str = ""
    assignment_dlq_url: str = ""
    writeback_dlq_url: str = ""
    writeback_queue_url: str = ""
    writeback_pause_api_percent: float = Field(default=80.0, ge=0, le=100)
    app_event_bus: str = ""
    reconcile_queue_url: str = ""
    intake_queue_url: str = ""
    reconcile_lookback_minutes: int = Field(default=240, ge=1)
    reconcile_max_leads: int = Field(default=2000, ge=1)
    salesforce_org_id: str = ""
    salesforce_secret_name: str = ""
    salesforce_integration_user_id: str | None = None
    salesforce_api_version: str = "v62.0"
    writeback_enabled: bool = False
    # Lead fields (API names) a SOQL read selects besides the standard ones, e.g. Language__c for a skill rule.
    salesforce_extra_lead_fields: tuple[str, ...] = ()
    nearest_tolerance_km: float = Field(default=25.0, ge=0)
    catch_all_territory_id: str | None = None
    default_sla_minutes: int = Field(default=60, ge=1)
    max_reroutes: int = Field(default=2, ge=0)
    auto_activate_territories: bool = True
    place_index_name: str | None = None  # Amazon Location place index (EnableGeocoder); None = no geocoder
    geocode_budget_per_batch: int = Field(default=25, ge=0)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            leads_table=e.get("LEADS_TABLE", ""),
            routing_table=e.get("ROUTING_TABLE", ""),
            idempotency_table=e.get("IDEMPOTENCY_TABLE", ""),
            territory_bucket=e.get("TERRITORY_BUCKET", ""),
            tagging_queue_url=e.get("TAGGING_QUEUE_URL", ""),
            assignment_queue_url=e.get("ASSIGNMENT_QUEUE_URL", ""),
            intake_dlq_url=e.get("INTAKE_DLQ_URL", ""),
            tagging_dlq_url=e.get("TAGGING_DLQ_URL", ""),
            assignment_dlq_url=e.get("ASSIGNMENT_DLQ_URL", ""),
            writeback_dlq_url=e.get("WRITEBACK_DLQ_URL", ""),
            writeback_queue_url=e.get("WRITEBACK_QUEUE_URL", ""),
            writeback_pause_api_percent=float(e.get("WRITEBACK_PAUSE_API_PERCENT") or 80.0),
            app_event_bus=e.get("APP_EVENT_BUS", ""),
            reconcile_queue_url=e.get("RECONCILE_QUEUE_URL", ""),
            intake_queue_url=e.get("INTAKE_QUEUE_URL", ""),
            reconcile_lookback_minutes=int(e.get("RECONCILE_LOOKBACK_MINUTES") or 240),
            reconcile_max_leads=int(e.get("RECONCILE_MAX_LEADS") or 2000),
            salesforce_org_id=e.get("SALESFORCE_ORG_ID", ""),
            salesforce_secret_name=e.get("SALESFORCE_SECRET_NAME", ""),
            salesforce_integration_user_id=e.get("SALESFORCE_INTEGRATION_USER_ID") or None,
            salesforce_api_version=e.get("SALESFORCE_API_VERSION") or "v62.0",
            writeback_enabled=_flag(e.get("WRITEBACK_ENABLED"), False),
            salesforce_extra_lead_fields=tuple(
                f.strip() for f in (e.get("SALESFORCE_EXTRA_LEAD_FIELDS") or "").split(",") if f.strip()
            ),
            nearest_tolerance_km=float(e.get("NEAREST_TOLERANCE_KM") or 25.0),
            catch_all_territory_id=e.get("CATCH_ALL_TERRITORY_ID") or None,
            default_sla_minutes=int(e.get("DEFAULT_SLA_MINUTES") or 60),
            max_reroutes=int(e.get("MAX_REROUTES") or 2),
            auto_activate_territories=_flag(e.get("AUTO_ACTIVATE_TERRITORIES"), True),
            place_index_name=e.get("PLACE_INDEX_NAME") or None,
            geocode_budget_per_batch=int(e.get("GEOCODE_BUDGET_PER_BATCH") or 25),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Settings of this container (cached: Lambda environment does not change while warm)."""
    return Settings.from_env()
