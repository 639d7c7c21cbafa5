"""The lead as every step of the pipeline sees it, independent of how Salesforce sent it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from territory_router.geography.precision import TagPrecision


class LeadStatus(StrEnum):
    """Where a lead is in our pipeline (not the Salesforce ``Status`` picklist)."""

    RECEIVED = "RECEIVED"  # taken in, waiting for a territory
    TAGGED = "TAGGED"  # territory stamped, waiting for an owner
    ASSIGNED = "ASSIGNED"  # owned by a rep or queue, SLA clock running
    KEPT_OWNER = "KEPT_OWNER"  # created with an active rep of the roster as owner: tagged, counted, owner kept
    ATTENDED = "ATTENDED"  # a person acted on it: SLA met, counter released
    ESCALATED = "ESCALATED"  # re-routed too often: handed to the group's manager/queue
    CLOSED = "CLOSED"  # converted / disqualified: counter released
    DELETED = "DELETED"  # deleted in Salesforce: counter released


OPEN_STATUSES = frozenset({LeadStatus.ASSIGNED, LeadStatus.KEPT_OWNER})


class TagMethod(StrEnum):
    """How the territory was found, recorded on the lead (``TagMethod``)."""

    POLYGON = "POLYGON"  # the point is inside a territory polygon
    NEAREST = "NEAREST"  # within the tolerance (km) of a territory: coastlines, simplified borders
    POSTAL_CODE = "POSTAL_CODE"  # postal code listed by a territory
    STATE = "STATE"  # state/province listed by a territory
    COUNTRY = "COUNTRY"  # country listed by a territory
    CATCH_ALL = "CATCH_ALL"  # nothing matched: the configured catch-all territory
    UNTAGGED = "UNTAGGED"  # nothing matched and no catch-all configured
    # No usable coordinates: the lead placed by the offline gazetteer / the optional geocoder, then polygon/nearest.
    POSTAL_CENTROID = "POSTAL_CENTROID"  # at the centroid of its postal code
    CITY_CENTROID = "CITY_CENTROID"  # at the centroid of its city (city + state/province)
    GEOCODED = "GEOCODED"  # at the point the geocoder (Amazon Location) found for its address


# The precision a tag has when nothing more precise is known about how the lead was located.
_DEFAULT_PRECISION = {
    TagMethod.POLYGON: TagPrecision.ROOFTOP,
    TagMethod.NEAREST: TagPrecision.ROOFTOP,
    TagMethod.GEOCODED: TagPrecision.ROOFTOP,
    TagMethod.POSTAL_CODE: TagPrecision.POSTAL_CODE,
    TagMethod.POSTAL_CENTROID: TagPrecision.POSTAL_CODE,
    TagMethod.CITY_CENTROID: TagPrecision.CITY,
    TagMethod.STATE: TagPrecision.STATE,
    TagMethod.COUNTRY: TagPrecision.COUNTRY,
    TagMethod.CATCH_ALL: TagPrecision.NONE,
    TagMethod.UNTAGGED: TagPrecision.NONE,
}


def default_precision(method: TagMethod | str | None) -> TagPrecision:
    """The precision of a tag made by ``method`` when nothing says otherwise (stored tags from before precision)."""
    try:
        return _DEFAULT_PRECISION[TagMethod(method)]  # type: ignore[arg-type]
    except (ValueError, KeyError):
        return TagPrecision.NONE


class Lead(BaseModel):
    """A Salesforce lead, normalised. Field names follow our Python style; ``sf_fields`` keeps the rest."""

    # defer_build: validators are built at first use, not at import (cold start: docs/benchmarks.md)
    model_config = ConfigDict(defer_build=True, extra="forbid")

    lead_id: str = Field(min_length=15, max_length=18)
    org_id: str | None = None
    created_at: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    industry: str | None = None
    lead_source: str | None = None
    status: str | None = None  # Salesforce Lead.Status picklist value
    language: str | None = None
    product_interest: str | None = None
    owner_id: str | None = None
    # Any other Lead fields from the event (API name -> value), for skill rules.
    sf_fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class TagResult(BaseModel):
    """The territory stamp of one lead."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    territory_id: str | None
    territory_name: str | None = None
    method: TagMethod
    note: str = ""
    # How precisely the lead was located (docs/territories.md, "precision ladder"); derived from the method
    # when not given (messages and records written before precision existed).
    precision: TagPrecision = TagPrecision.NONE

    @model_validator(mode="before")
    @classmethod
    def _precision_from_method(cls, data):
        if isinstance(data, dict) and data.get("precision") is None:
            data = {**data, "precision": default_precision(data.get("method"))}
        return data
