"""Amazon Location Service place index as a :class:`territory_router.tagging.geocoding.Geocoder`.

Off by default: a geocoder is used only when ``TaggingConfig.geocoder`` is set, and then only for leads that
have an address but no usable coordinates, within a per-batch budget (see ``BudgetedGeocoder``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


class LocationServiceGeocoder:
    """``search_place_index_for_text`` on one place index; returns ``(latitude, longitude)`` or None.

    ``client`` is a boto3 ``location`` client (the caller creates it lazily). ``countries`` (ISO alpha-3,
    e.g. ``["USA", "CAN"]``) restricts the search; results below ``min_relevance`` (0..1) are ignored.
    Service errors propagate: ``BudgetedGeocoder`` turns them into a "geocoder error" note.
    """

    def __init__(
        self,
        client: Any,
        place_index_name: str,
        *,
        countries: Sequence[str] | None = None,
        min_relevance: float = 0.0,
    ) -> None:
        self.client = client
        self.place_index_name = place_index_name
        self.countries = list(countries) if countries else None
        self.min_relevance = min_relevance

    def geocode(self, address: str) -> tuple[float, float] | None:
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
            point = ((result.get("Place") or {}).get("Geometry") or {}).get("Point") or []
            if len(point) != 2:
                continue
            lon, lat = float(point[0]), float(point[1])  # the service answers [longitude, latitude]
            if math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
                return (lat, lon)
        return None
