"""Optional geocoding of leads that have an address but no usable coordinates.

:class:`Geocoder` is the port (an adapter such as ``adapters.geocoder_location.LocationServiceGeocoder``
implements it). :class:`BudgetedGeocoder` wraps one with an LRU cache and a per-batch budget so that a batch
of bad leads can never turn into thousands of paid calls: cached answers (found or not found) are free, every
call to the wrapped geocoder spends one unit, and once the budget is spent the rest of the batch is not
geocoded (the tag note says so).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from territory_router.geography.precision import TagPrecision


@runtime_checkable
class Geocoder(Protocol):
    """Turns a one-line address into ``(latitude, longitude)`` in degrees, or None when it finds nothing.

    It may add a third element, the :class:`TagPrecision` of the match (``ROOFTOP`` when absent)."""

    def geocode(self, address: str) -> tuple[float, float] | tuple[float, float, TagPrecision] | None: ...


@dataclass(frozen=True, slots=True)
class GeocodeOutcome:
    """What one look-up gave: coordinates or None, how precise, and a short reason for the tag note."""

    coordinates: tuple[float, float] | None
    reason: str  # "geocoded", "geocoded (cached)", "not found", "not found (cached)", "budget spent", "error: ..."
    precision: TagPrecision = TagPrecision.ROOFTOP


_SPACES = re.compile(r"\s+")


def _cache_key(address: str) -> str:
    return _SPACES.sub(" ", address.strip().casefold())


def _usable(answer) -> tuple[float, float, TagPrecision] | None:
    if answer is None:
        return None
    try:
        lat, lon = float(answer[0]), float(answer[1])
        precision = TagPrecision(answer[2]) if len(answer) > 2 and answer[2] else TagPrecision.ROOFTOP
    except (TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    return (lat, lon, precision)


class BudgetedGeocoder:
    """A caching geocoder that calls the wrapped one at most ``budget_per_batch`` times per batch."""

    def __init__(self, geocoder: Geocoder, budget_per_batch: int = 25, cache_size: int = 10_000) -> None:
        if budget_per_batch < 0 or cache_size < 0:
            raise ValueError("budget_per_batch and cache_size must be >= 0")
        self.geocoder = geocoder
        self.budget_per_batch = budget_per_batch
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, float, TagPrecision] | None] = OrderedDict()
        self.spent = 0  # calls made in the current batch
        self.calls = 0  # calls made since creation
        self.cache_hits = 0

    def start_batch(self) -> None:
        """Give the budget back (the cache stays)."""
        self.spent = 0

    @property
    def remaining(self) -> int:
        return max(0, self.budget_per_batch - self.spent)

    def lookup(self, address: str) -> GeocodeOutcome:
        key = _cache_key(address)
        if not key:
            return GeocodeOutcome(None, "no address")
        if key in self._cache:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            cached = self._cache[key]
            if cached is None:
                return GeocodeOutcome(None, "not found (cached)")
            return GeocodeOutcome(cached[:2], "geocoded (cached)", cached[2])
        if self.spent >= self.budget_per_batch:
            return GeocodeOutcome(None, f"geocoding budget of {self.budget_per_batch} per batch spent")
        self.spent += 1
        self.calls += 1
        try:
            found = _usable(self.geocoder.geocode(address))
        except Exception as exc:  # best effort: a failing geocoder never fails tagging
            return GeocodeOutcome(None, f"geocoder error: {type(exc).__name__}")
        if self.cache_size:
            self._cache[key] = found
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if found is None:
            return GeocodeOutcome(None, "not found")
        return GeocodeOutcome(found[:2], "geocoded", found[2])

    def geocode(self, address: str) -> tuple[float, float] | None:
        return self.lookup(address).coordinates
