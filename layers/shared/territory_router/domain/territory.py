"""Territories and territory sets: the shared vocabulary of validation, compilation and tagging."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotation only: functions that never touch geometry do not load shapely and numpy
    from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True, slots=True)
class Territory:
    """One territory. It may be a polygon, a list of postal codes, a list of regions, or a mix.

    ``regions`` holds ``(country, state_or_None)`` pairs in ISO 3166 alpha-2 / USPS-style codes,
    e.g. ``("US", "CA")`` for California or ``("CA", None)`` for all of Canada.
    ``postal_codes`` holds ``(country, normalised_code)`` pairs.
    """

    territory_id: str
    name: str
    priority: int | None = None  # lower wins when territories overlap; None ranks after any number
    geometry: BaseGeometry | None = None  # Polygon/MultiPolygon in lon/lat (EPSG:4326)
    postal_codes: frozenset[tuple[str, str]] = frozenset()
    regions: frozenset[tuple[str, str | None]] = frozenset()
    area_km2: float | None = None  # equal-area size of ``geometry``; smallest wins after priority
    metadata: dict[str, Any] = field(default_factory=dict)  # free properties from the file (SLA, group, ...)


@dataclass(frozen=True, slots=True)
class TerritorySet:
    """A validated, usable set of territories. ``territories`` is ordered by overlap precedence:

    when a point falls in several polygons, the first in this order wins (priority, then smallest area,
    then territory id). Compilation and tagging rely on this order.
    """

    territories: tuple[Territory, ...]
    catch_all_territory_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def by_id(self) -> dict[str, Territory]:
        return {t.territory_id: t for t in self.territories}
