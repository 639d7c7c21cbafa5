"""How precisely a lead's location was known when its territory was decided: the precision ladder.

From the most to the least precise (``TagPrecision``):

``ROOFTOP``      coordinates that came with the lead (Salesforce's geocode of the street address, a form's
                 browser location, an import), or an address geocoded by the optional geocoder;
``POSTAL_CODE``  the centroid of its postal code (gazetteer), or a territory listing that postal code; also
                 coordinates Salesforce itself geocoded only to the ZIP (``GeocodeAccuracy`` Zip/ExtendedZip);
``CITY``         the centroid of its city (gazetteer); coordinates geocoded to the city/neighbourhood;
``STATE``        a territory listing its state/province; coordinates geocoded only to the county/state;
``COUNTRY``      a territory listing its country;
``NONE``         nothing located the lead (catch-all, untagged).

A sales manager reads it next to the territory: a ``CITY`` lead near a territory border may belong next door.
"""

from __future__ import annotations

from enum import StrEnum


class TagPrecision(StrEnum):
    ROOFTOP = "ROOFTOP"
    POSTAL_CODE = "POSTAL_CODE"
    CITY = "CITY"
    STATE = "STATE"
    COUNTRY = "COUNTRY"
    NONE = "NONE"


LADDER: tuple[TagPrecision, ...] = tuple(TagPrecision)  # most precise first

# Salesforce's Lead.GeocodeAccuracy picklist (what its geocode clean rules record next to Latitude/Longitude)
# -> our precision. Address/NearAddress/Block/Street are street-level; the rest are area centroids.
_SALESFORCE_ACCURACY: dict[str, TagPrecision] = {
    "address": TagPrecision.ROOFTOP,
    "nearaddress": TagPrecision.ROOFTOP,
    "block": TagPrecision.ROOFTOP,
    "street": TagPrecision.ROOFTOP,
    "extendedzip": TagPrecision.POSTAL_CODE,
    "zip": TagPrecision.POSTAL_CODE,
    "neighborhood": TagPrecision.CITY,
    "city": TagPrecision.CITY,
    "county": TagPrecision.STATE,
    "state": TagPrecision.STATE,
}


def from_salesforce_accuracy(value: object) -> TagPrecision | None:
    """Our precision for a ``GeocodeAccuracy`` value, None when absent or unknown (``Unknown``)."""
    if not isinstance(value, str):
        return None
    return _SALESFORCE_ACCURACY.get(value.strip().replace(" ", "").lower())


def rank(precision: TagPrecision | str | None) -> int:
    """0 for ``ROOFTOP`` ... 5 for ``NONE`` (unknown values rank as ``NONE``)."""
    try:
        return LADDER.index(TagPrecision(precision))  # type: ignore[arg-type]
    except ValueError:
        return len(LADDER) - 1
