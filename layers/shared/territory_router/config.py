"""Function configuration: one settings model per function, parsed from the environment when its handler is imported.

Each handler calls ``load_settings(<its model>)`` at import (module level). The model names exactly the variables
template.yaml gives that function (tests/infra checks the template against the models); a required variable that is
missing or empty, or a malformed value, fails the import with the variable's name, so a broken deployment shows at
the first cold start instead of at the first use of the missing value. The parsing is the powertools parser over
the environment, as in the aws-lambda-handler-cookbook (``parse(event=os.environ, model=...)``).

Fields are the variables' names in lower case (``LEADS_TABLE`` -> ``leads_table``). An optional variable that is
empty gets its default (template parameters such as ``CatchAllTerritoryId`` are empty when not set). Domain code never
reads the environment: handlers pass plain values down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Name = Annotated[str, Field(min_length=1)]  # a resource name, URL or id the function cannot work without


class SettingsError(RuntimeError):
    """The environment does not fit the function's settings model (a required variable missing, a bad value)."""


class FunctionSettings(BaseModel):
    """Base of the settings models: immutable, read by the variables' upper-case names, other variables ignored."""

    # defer_build: a handler validates one model; the others (a dozen) are not compiled at its cold start.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, alias_generator=str.upper,
                              defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        """An empty optional variable takes its default; an empty required one stays, and fails its check."""
        if not isinstance(data, Mapping):
            return data
        optional = {f.alias or n for n, f in cls.model_fields.items() if not f.is_required()}
        return {k: v for k, v in data.items() if not (k in optional and v == "")}

    @classmethod
    def variables(cls) -> dict[str, bool]:
        """The environment variables this model reads -> whether each is required."""
        return {(f.alias or n): f.is_required() for n, f in cls.model_fields.items()}


# ------------------------------------------------------------------------------------------- shared groups


class _LeadsTable(FunctionSettings):
    leads_table: Name


class _RoutingTable(FunctionSettings):
    routing_table: Name


class _TerritoryBucket(FunctionSettings):
    territory_bucket: Name


class _RoutingStore(_LeadsTable, _RoutingTable, _TerritoryBucket):
    """What ``adapters.lead_store.lead_store_for`` builds the store from (both tables, the compiled rosters)."""


class _IdempotencyTable(FunctionSettings):
    idempotency_table: Name


class _AppBus(FunctionSettings):
    app_event_bus: Name


class _IntegrationUser(FunctionSettings):
    # Recognises our own writeback's echo; empty: not filtered.
    salesforce_integration_user_id: str | None = None


class _Salesforce(FunctionSettings):
    """A Salesforce connection: the credentials secret, the API version, and whether the stack may use it."""

    salesforce_secret_name: Name
    salesforce_api_version: str = "v62.0"
    writeback_enabled: bool = False


class _SalesforceReads(_Salesforce):
    # Lead fields (API names) a SOQL read selects besides the standard ones, e.g. Language__c for a skill rule.
    salesforce_extra_lead_fields: tuple[str, ...] = ()

    @field_validator("salesforce_extra_lead_fields", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(f.strip() for f in value.split(",") if f.strip())
        return value


class _OrgId(FunctionSettings):
    salesforce_org_id: Name  # the only org whose events are accepted, and the org reconciled events name


class _DefaultSla(FunctionSettings):
    default_sla_minutes: int = Field(default=60, ge=1)


# ------------------------------------------------------------------------------------------- one per function


class TerritoryUploadSettings(_RoutingTable, _TerritoryBucket):
    auto_activate_territories: bool = True


class RosterUploadSettings(_RoutingStore):
    pass


class LeadIntakeSettings(_RoutingStore, _IdempotencyTable, _AppBus, _IntegrationUser, _SalesforceReads, _OrgId):
    tagging_queue_url: Name
    intake_dlq_url: Name
    reconcile_queue_url: Name


class LeadTaggingSettings(_LeadsTable, _RoutingTable, _TerritoryBucket):
    assignment_queue_url: Name
    tagging_dlq_url: Name
    nearest_tolerance_km: float = Field(default=25.0, ge=0)
    catch_all_territory_id: str | None = None
    place_index_name: str | None = None  # Amazon Location place index (EnableGeocoder); None = no geocoder
    geocode_budget_per_batch: int = Field(default=25, ge=0)


class LeadAssignmentSettings(_RoutingStore, _AppBus, _IntegrationUser, _DefaultSla):
    assignment_dlq_url: Name


class LeadRerouteSettings(_RoutingStore, _AppBus, _IntegrationUser, _Salesforce):
    max_reroutes: int = Field(default=2, ge=0)


class LeadReconcileSettings(_LeadsTable, _SalesforceReads, _OrgId):
    intake_queue_url: Name
    reconcile_lookback_minutes: int = Field(default=240, ge=1)
    reconcile_max_leads: int = Field(default=2000, ge=1)


class SalesforceWritebackSettings(_RoutingStore, _AppBus, _Salesforce, _DefaultSla):
    writeback_queue_url: Name
    writeback_dlq_url: Name
    writeback_pause_api_percent: float = Field(default=80.0, ge=0, le=100)


class ReportAggregatesSettings(_RoutingTable):
    pass


S = TypeVar("S", bound=FunctionSettings)


def load_settings(model: type[S], env: Mapping[str, str] | None = None) -> S:
    """The function's settings from ``env`` (default: ``os.environ``), with the powertools parser.

    Raises ``SettingsError`` naming every variable that is missing or wrong: called at import, it fails the cold
    start with that message."""
    from aws_lambda_powertools.utilities.parser import parse

    try:
        return parse(event=dict(os.environ if env is None else env), model=model)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(environment)'}: "
            f"{'missing' if error['type'] == 'missing' else error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__}: the environment does not fit ({problems})") from exc
