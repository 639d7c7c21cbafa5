"""Amazon Location Service place index as a :class:`territory_router.tagging.geocoding.Geocoder`.

Off by default: the stack creates the place index only with ``EnableGeocoder=true`` (template.yaml), and the tagger
then uses it only for leads with an address, no usable coordinates and nothing the offline gazetteer can place,
within a per-batch budget (see ``BudgetedGeocoder``). The place index is created with ``IntendedUse: SingleUse``:
the point tags the lead and is not stored (the tag note says "geocoded", without the coordinates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from territory_router.geography.precision import TagPrecision

# Which address component the match goes down to -> how precise the point is (first present wins).
_PRECISION_BY_COMPONENT = (
    ("AddressNumber", TagPrecision.ROOFTOP),
    ("Street", TagPrecision.ROOFTOP),
    ("PostalCode", TagPrecision.POSTAL_CODE),
    ("Neighborhood", TagPrecision.CITY),
    ("Municipality", TagPrecision.CITY),
    ("SubRegion", TagPrecision.STATE),
    ("Region", TagPrecision.STATE),
    ("Country", TagPrecision.COUNTRY),
)


class LocationServiceGeocoder:
    """``search_place_index_for_text`` on one place index; returns ``(latitude, longitude[, precision])`` or None.

    ``client`` is a boto3 ``location`` client, or a function that makes one (called on the first look-up).
    ``countries`` (ISO alpha-3, e.g. ``["USA", "CAN"]``) restricts the search; results below ``min_relevance``
    (0..1) are ignored. The precision comes from the finest address component of the match (a house number or a
    street: ROOFTOP; a postal code: POSTAL_CODE; a city: CITY ...). Service errors propagate:
    ``BudgetedGeocoder`` turns them into a "geocoder error" note.
    """

    def __init__(
        self,
        client: Any,
        place_index_name: str,
        *,
        countries: Sequence[str] | None = None,
        min_relevance: float = 0.0,
    ) -> None:
        self._client = client
        self.place_index_name = place_index_name
        self.countries = list(countries) if countries else None
        self.min_relevance = min_relevance

    @property
    def client(self) -> Any:
        if callable(self._client) and not hasattr(self._client, "search_place_index_for_text"):
            self._client = self._client()
        return self._client

    def geocode(self, address: str) -> tuple[float, float] | tuple[float, float, TagPrecision] | None:
        text = " ".join(address.split())
        if not text:
            return None
        request: dict[str, Any] = {"IndexName": self.place_index_name, "Text": text[:200], "MaxResults": 1}
        if self.countries:
            request["FilterCountries"] = self.countries
        response = self.client.search_place_index_for_text(**request)
        for result in response.get("Results") or []:
            relevance = result.get("Relevance")
            if relevance is not None and relevance < self.min_relevance:
                continue
            place = result.get("Place") or {}
            point = (place.get("Geometry") or {}).get("Point") or []
            if len(point) != 2:
                continue
            lon, lat = float(point[0]), float(point[1])  # the service answers [longitude, latitude]
            if math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
                precision = next((p for key, p in _PRECISION_BY_COMPONENT if place.get(key)), None)
                return (lat, lon) if precision is None else (lat, lon, precision)
        return None
