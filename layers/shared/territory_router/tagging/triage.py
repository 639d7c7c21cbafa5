"""Lead triage: which territory a lead belongs to, how that was decided, and why.

Each lead goes down this ladder and stops at the first step that gives a territory; the step is recorded as
``TagResult.method`` and the reasons (including the steps that were skipped and why) as ``TagResult.note``:

1. ``POLYGON``   the point lies in (or on the border of) a territory polygon. Overlaps: the first territory
                 in precedence order (``TerritorySet.territories``) wins; the note names the others.
2. ``NEAREST``   no polygon holds the point but one lies within ``nearest_tolerance_km`` (great-circle km to
                 the nearest point of its boundary): coastlines, simplified borders.
3. ``POSTAL_CODE`` a territory lists the lead's postal code (or its 3-character prefix: ZIP3 / Canadian FSA).
4. ``STATE``     a territory lists the lead's state/province.
5. ``COUNTRY``   a territory lists the lead's country.
6. ``CATCH_ALL`` the configured catch-all territory; else ``UNTAGGED``. The note carries every reason.

Rules for doubtful input (all written into the note):

- **No coordinates**: missing, non-numeric, out of range (|lat| > 90, |lon| > 180) and exactly (0, 0) (what
  many systems store for "unknown") are treated as *no coordinates*, never as a place. If a geocoder is
  configured (off by default) and the lead has an address, the address is geocoded (within a per-batch
  budget) and steps 1-2 run on that point; the note says "geocoded from address".
- **Swapped latitude/longitude**: when the point hits no polygon, or is out of range, and (lon, lat) read the
  other way round falls in a polygon, the swapped reading is *accepted* when that territory's ``regions``
  agree with the lead's declared state/country; when the original pair was out of range it is also accepted
  if nothing declared contradicts it (out of range leaves no other reading). Otherwise it is not used and the
  lead falls through to the next steps.
- **Declared state/country against coordinates**: when a territory lists ``regions`` and the lead's declared
  state (or country) is not among them, the note says so. The coordinates win for a ``POLYGON`` hit; for a
  ``NEAREST`` match the declared address wins (steps 3-5 are tried first; the nearest territory is used only
  if they find nothing). Territories without ``regions`` are not checked.
- **Normalisation**: states/provinces to USPS/Canada Post codes, countries to ISO alpha-2, postal codes to
  the territory-file form (see ``regions`` and ``postal``). A missing country is inferred from the state or
  the postal code.

``Tagger.tag_many`` is vectorised over the batch (one tree query, one prepared ``intersects_xy`` call);
``Tagger.tag`` has a fast path for a single lead (a cache of tree candidates per 0.25° grid cell and reused
results for plain polygon hits). Both give identical results for the same lead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.lib

from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.tagging.geo import degree_window, nearest_distance_km
from territory_router.tagging.geocoding import BudgetedGeocoder, Geocoder
from territory_router.tagging.index import TerritoryIndex
from territory_router.tagging.postal import guess_country, normalise_postal_code, postal_prefixes
from territory_router.tagging.regions import normalise_country, normalise_state, territory_state

_AGREE, _CONTRADICT, _UNKNOWN = 1, -1, 0


@dataclass(frozen=True)
class TaggingConfig:
    """How leads are tagged. ``catch_all_territory_id`` overrides the territory set's own catch-all."""

    nearest_tolerance_km: float = 25.0
    catch_all_territory_id: str | None = None
    geocoder: Geocoder | None = None  # off by default
    geocode_budget_per_batch: int = 25
    geocode_cache_size: int = 10_000
    try_swapped_coordinates: bool = True
    grid_cell_degrees: float = 0.25  # single-lead fast path
    grid_cache_cells: int = 200_000

    def __post_init__(self) -> None:
        if not (self.nearest_tolerance_km >= 0 and math.isfinite(self.nearest_tolerance_km)):
            raise ValueError("nearest_tolerance_km must be a finite number >= 0")
        if self.grid_cell_degrees <= 0:
            raise ValueError("grid_cell_degrees must be > 0")


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the lead declares, normalised."""

    country: str | None
    state: tuple[str, str] | None
    postal: str | None
    notes: tuple[str, ...]  # what could not be understood


def _coordinates(lead: Lead) -> tuple[float, float] | str:
    """``(lon, lat)`` when usable, else the reason why not."""
    lat, lon = lead.latitude, lead.longitude
    if lat is None or lon is None:
        return "no coordinates"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "coordinates are not numbers; treated as no coordinates"
    if lat == 0 and lon == 0:
        return "coordinates (0, 0) are treated as no coordinates"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"coordinates out of range (lat {lat:g}, lon {lon:g}); treated as no coordinates"
    return (lon, lat)


def _fmt_region(region: tuple[str, str | None]) -> str:
    return region[0] if region[1] is None else f"{region[0]}-{region[1]}"


def _address(lead: Lead) -> str:
    parts = [lead.street, lead.city, lead.state, lead.postal_code, lead.country]
    return ", ".join(p.strip() for p in parts if p and p.strip())


class Tagger:
    """Tags leads against one loaded :class:`TerritoryIndex`. Not thread safe (caches); one per container."""

    def __init__(self, index: TerritoryIndex, config: TaggingConfig | None = None) -> None:
        self.index = index
        self.config = config or TaggingConfig()
        self.catch_all_id = self.config.catch_all_territory_id or index.catch_all_territory_id
        self._tolerance = float(self.config.nearest_tolerance_km)
        self._owner = index.geometry_owner.tolist()
        self._geoms = list(index.geometries)
        self._has_regions = [p in index.regions_by_position for p in range(len(index))]
        self._polygon_results: list[TagResult | None] = [None] * len(index)
        self._cells: dict[tuple[int, int], tuple[tuple[int, object], ...]] = {}
        self._inv_cell = 1.0 / self.config.grid_cell_degrees
        geocoder = self.config.geocoder
        if geocoder is not None and not isinstance(geocoder, BudgetedGeocoder):
            geocoder = BudgetedGeocoder(
                geocoder, self.config.geocode_budget_per_batch, self.config.geocode_cache_size
            )
        self.geocoder: BudgetedGeocoder | None = geocoder

    # ------------------------------------------------------------------ public API

    def tag(self, lead: Lead) -> TagResult:
        """Tag one lead (fast path for the polygon step; same result as ``tag_many([lead])[0]``)."""
        if self.geocoder is not None:
            self.geocoder.start_batch()
        lat, lon = lead.latitude, lead.longitude
        if (
            lat is not None
            and lon is not None
            and -90.0 <= lat <= 90.0
            and -180.0 <= lon <= 180.0
            and (lat != 0.0 or lon != 0.0)
        ):
            hits = self._hits_fast(lon, lat)
            if len(hits) == 1 and not self._has_regions[hits[0]]:
                return self._polygon_result(hits[0])
            return self._triage(lead, hits)
        return self._triage(lead, None)

    def tag_many(self, leads: Sequence[Lead]) -> list[TagResult]:
        """Tag a batch: one vectorised polygon pass, then the ladder for the leads that need it."""
        if self.geocoder is not None:
            self.geocoder.start_batch()
        n = len(leads)
        if n == 0:
            return []
        lat = np.array([np.nan if ld.latitude is None else ld.latitude for ld in leads], dtype=float)
        lon = np.array([np.nan if ld.longitude is None else ld.longitude for ld in leads], dtype=float)
        with np.errstate(invalid="ignore"):
            usable = (np.abs(lat) <= 90) & (np.abs(lon) <= 180) & ~((lat == 0) & (lon == 0))
        first, count, extra = self._hits_many(lon, lat, np.flatnonzero(usable))
        results: list[TagResult] = []
        has_regions = self._has_regions
        for i, lead in enumerate(leads):
            if not usable[i]:
                results.append(self._triage(lead, None))
                continue
            c = count[i]
            if c == 1 and not has_regions[first[i]]:
                results.append(self._polygon_result(first[i]))
            elif c == 0:
                results.append(self._triage(lead, []))
            elif c == 1:
                results.append(self._triage(lead, [first[i]]))
            else:
                results.append(self._triage(lead, extra[i]))
        return results

    # ------------------------------------------------------------------ polygon step

    def _hits_many(self, lon: np.ndarray, lat: np.ndarray, idx: np.ndarray):
        """Per lead: first hit position (precedence), number of hits, and all hit positions when several."""
        n = len(lon)
        count = np.zeros(n, dtype=np.int64)
        first_tree = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        extra: dict[int, list[int]] = {}
        if len(idx) and len(self._geoms):
            inp, tree_i = self.index.tree.query(shapely.points(lon[idx], lat[idx]))
            inp = idx[inp]
            keep = shapely.intersects_xy(self.index.geometries[tree_i], lon[inp], lat[inp])
            inp, tree_i = inp[keep], tree_i[keep]
            np.add.at(count, inp, 1)
            np.minimum.at(first_tree, inp, tree_i)
            multi = count[inp] > 1
            if multi.any():
                owner = self.index.geometry_owner
                order = np.lexsort((tree_i[multi], inp[multi]))
                for lead_i, tree_j in zip(
                    inp[multi][order].tolist(), tree_i[multi][order].tolist(), strict=True
                ):
                    extra.setdefault(lead_i, []).append(int(owner[tree_j]))
        if not len(self._geoms):
            return [-1] * n, count.tolist(), extra
        hit = count > 0
        first = np.where(hit, self.index.geometry_owner[np.where(hit, first_tree, 0)], -1).tolist()
        return first, count.tolist(), extra

    def _hits_fast(self, lon: float, lat: float) -> list[int]:
        inv = self._inv_cell
        key = (math.floor(lon * inv), math.floor(lat * inv))
        candidates = self._cells.get(key)
        if candidates is None:
            candidates = self._cell_candidates(key)
        intersects_xy = shapely.lib.intersects_xy
        return [owner for owner, geom in candidates if intersects_xy(geom, lon, lat)]

    def _cell_candidates(self, key: tuple[int, int]) -> tuple[tuple[int, object], ...]:
        size = self.config.grid_cell_degrees
        x0, y0 = key[0] * size, key[1] * size
        found = np.sort(self.index.tree.query(shapely.box(x0, y0, x0 + size, y0 + size)))
        candidates = tuple((self._owner[i], self._geoms[i]) for i in found.tolist())
        if len(self._cells) >= self.config.grid_cache_cells:
            self._cells.clear()
        self._cells[key] = candidates
        return candidates

    def _polygon_hits(self, lon: float, lat: float) -> list[int]:
        return self._hits_fast(lon, lat)

    def _polygon_result(self, position: int) -> TagResult:
        result = self._polygon_results[position]
        if result is None:
            result = TagResult(
                territory_id=self.index.ids[position],
                territory_name=self.index.names[position],
                method=TagMethod.POLYGON,
                note=f"inside the polygon of {self._label(position)}",
            )
            self._polygon_results[position] = result
        return result

    # ------------------------------------------------------------------ the ladder

    def _label(self, position: int) -> str:
        tid, name = self.index.ids[position], self.index.names[position]
        return tid if not name or name == tid else f"{tid} ({name})"

    def _result(self, position: int, method: TagMethod, notes: list[str]) -> TagResult:
        return TagResult(
            territory_id=self.index.ids[position],
            territory_name=self.index.names[position],
            method=method,
            note="; ".join(notes),
        )

    def _facts(self, lead: Lead) -> _Facts:
        notes: list[str] = []
        country = normalise_country(lead.country)
        if lead.country and country is None:
            notes.append(f"country {lead.country!r} not recognised")
        state = None
        if lead.state:
            state = normalise_state(lead.state, country)
            if state is None:
                if country is not None and normalise_state(lead.state) is not None:
                    other = normalise_state(lead.state)
                    notes.append(
                        f"state {lead.state!r} is in {other[0]}, not in the declared country {country}"
                    )
                else:
                    notes.append(f"state {lead.state!r} not recognised")
        if state is None and lead.country:
            sub = territory_state(lead.country)  # "Puerto Rico" given as the country
            if sub is not None:
                state = ("US", sub)
        if country is None and state is not None:
            country = state[0]
        if country is None and lead.postal_code:
            country = guess_country(lead.postal_code)
        postal = normalise_postal_code(lead.postal_code, country) if lead.postal_code else None
        if lead.postal_code and postal is None:
            notes.append(f"postal code {lead.postal_code!r} not recognised")
        return _Facts(country=country, state=state, postal=postal, notes=tuple(notes))

    def _agreement(self, position: int, facts: _Facts) -> tuple[int, str]:
        """Does the territory's ``regions`` agree with what the lead declares? (+1 / -1 / 0, description)"""
        regions = self.index.regions_by_position.get(position)
        if not regions:
            return _UNKNOWN, ""
        listed = ", ".join(sorted(_fmt_region(r) for r in regions))
        if facts.state is not None:
            if facts.state in regions or (facts.state[0], None) in regions:
                return _AGREE, f"declared state {_fmt_region(facts.state)}"
            return (
                _CONTRADICT,
                f"declared state {_fmt_region(facts.state)} but {self._label(position)} covers {listed}",
            )
        if facts.country is not None:
            if any(c == facts.country for c, _ in regions):
                return _AGREE, f"declared country {facts.country}"
            return (
                _CONTRADICT,
                f"declared country {facts.country} but {self._label(position)} covers {listed}",
            )
        return _UNKNOWN, ""

    def _nearest(self, lon: float, lat: float) -> tuple[int, float] | None:
        """(position, km) of the nearest polygon within twice the tolerance (to report near misses), or None."""
        if not len(self._geoms):
            return None
        window = max(2.0 * self._tolerance, 1.0)
        dlon, dlat = degree_window(lat, window)
        found = self.index.tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        best: tuple[float, int] | None = None
        for tree_i in np.sort(found).tolist():
            km, _, _ = nearest_distance_km(self._geoms[tree_i], lon, lat, window)
            if math.isfinite(km) and (best is None or km < best[0]):  # ties: precedence order (sorted)
                best = (km, tree_i)
        if best is None:
            return None
        return self._owner[best[1]], best[0]

    def _triage(self, lead: Lead, hits: list[int] | None) -> TagResult:
        """The whole ladder for one lead. ``hits``: polygon hits at its coordinates, None if unusable."""
        facts = self._facts(lead)
        notes: list[str] = list(facts.notes)
        pending_nearest: tuple[int, float] | None = None
        located: tuple[float, float] | str = _coordinates(lead)

        if isinstance(located, tuple):
            lon, lat = located
            if hits is None:
                hits = self._polygon_hits(lon, lat)
            if hits:
                return self._polygon(hits, facts, notes)
            swapped = self._try_swapped(lon, lat, facts, notes, out_of_range=False)
            if swapped is not None:
                return swapped
            outcome = self._near(lon, lat, facts, notes)
            if isinstance(outcome, TagResult):
                return outcome
            pending_nearest = outcome
        else:
            notes.append(located)
            lat, lon = lead.latitude, lead.longitude
            if (
                self.config.try_swapped_coordinates
                and lat is not None
                and lon is not None
                and located.startswith("coordinates out of range")
                and -90 <= lon <= 90
                and -180 <= lat <= 180
            ):
                swapped = self._try_swapped(lon, lat, facts, notes, out_of_range=True)
                if swapped is not None:
                    return swapped
            geocoded = self._geocode(lead, facts, notes)
            if isinstance(geocoded, TagResult):
                return geocoded
            pending_nearest = geocoded

        ladder = self._declared(facts, notes)
        if ladder is not None:
            return ladder
        if pending_nearest is not None:
            position, km = pending_nearest
            notes.append(f"declared address matched no territory, so the nearest one ({km:.1f} km) is used")
            return self._result(position, TagMethod.NEAREST, notes)
        return self._fallback(notes)

    def _polygon(self, hits: list[int], facts: _Facts, notes: list[str], prefix: str = "") -> TagResult:
        position = hits[0]
        notes.append(f"{prefix}inside the polygon of {self._label(position)}")
        if len(hits) > 1:
            others = ", ".join(self.index.ids[p] for p in hits[1:])
            notes.append(f"also inside {others}; {self.index.ids[position]} wins by precedence")
        verdict, detail = self._agreement(position, facts)
        if verdict == _CONTRADICT:
            notes.append(f"{detail}: the coordinates contradict the declared address; coordinates win")
        return self._result(position, TagMethod.POLYGON, notes)

    def _try_swapped(
        self, lon: float, lat: float, facts: _Facts, notes: list[str], *, out_of_range: bool
    ) -> TagResult | None:
        """Read (lat, lon) the other way round; accept it under the documented rule, else note why not."""
        if not self.config.try_swapped_coordinates or not (-90 <= lon <= 90) or not (-180 <= lat <= 180):
            return None
        s_lon, s_lat = lat, lon
        if s_lon == 0 and s_lat == 0:
            return None
        hits = self._polygon_hits(s_lon, s_lat)
        if not hits:
            return None
        verdict, detail = self._agreement(hits[0], facts)
        label = self._label(hits[0])
        if verdict == _AGREE or (out_of_range and verdict == _UNKNOWN):
            why = f"agrees with the {detail}" if verdict == _AGREE else "the given order is out of range"
            notes.append(
                f"latitude and longitude looked swapped: read as (lat {s_lat:g}, lon {s_lon:g}) the point "
                f"falls in {label}, which {why}; swapped reading used"
            )
            return self._polygon(hits, facts, notes, prefix="swapped point ")
        reason = detail if verdict == _CONTRADICT else "nothing declared confirms it"
        notes.append(
            f"swapped reading (lat {s_lat:g}, lon {s_lon:g}) would fall in {label} but {reason}; not used"
        )
        return None

    def _near(
        self, lon: float, lat: float, facts: _Facts, notes: list[str]
    ) -> TagResult | tuple[int, float] | None:
        """The NEAREST step: a result, a contradicted match to keep as a last resort, or None."""
        tol = self._tolerance
        nearest = self._nearest(lon, lat)
        if nearest is None:
            notes.append(f"no territory polygon contains the point or lies within {tol:g} km of it")
            return None
        position, km = nearest
        label = self._label(position)
        if km > tol:
            notes.append(
                f"no polygon contains the point; nearest is {label} at {km:.1f} km, beyond the {tol:g} km tolerance"
            )
            return None
        verdict, detail = self._agreement(position, facts)
        if verdict == _CONTRADICT:
            notes.append(f"nearest polygon {label} is {km:.1f} km away but {detail}: declared address wins")
            return (position, km)
        notes.append(
            f"no polygon contains the point; nearest is {label} at {km:.1f} km (tolerance {tol:g} km)"
        )
        return self._result(position, TagMethod.NEAREST, notes)

    def _geocode(self, lead: Lead, facts: _Facts, notes: list[str]) -> TagResult | tuple[int, float] | None:
        if self.geocoder is None:
            return None
        address = _address(lead)
        if not address:
            return None
        outcome = self.geocoder.lookup(address)
        if outcome.coordinates is None:
            notes.append(f"address not geocoded ({outcome.reason})")
            return None
        g_lat, g_lon = outcome.coordinates
        notes.append(f"geocoded from address ({g_lat:.5f}, {g_lon:.5f})")
        hits = self._polygon_hits(g_lon, g_lat)
        if hits:
            return self._polygon(hits, facts, notes)
        return self._near(g_lon, g_lat, facts, notes)

    def _declared(self, facts: _Facts, notes: list[str]) -> TagResult | None:
        """Steps 3-5: postal code, state, country."""
        index = self.index
        country = facts.country
        if facts.postal and country:
            for key in (facts.postal, *postal_prefixes(facts.postal, country)):
                position = index.postal_lookup.get((country, key))
                if position is not None:
                    notes.append(f"postal code {country} {key} is listed by {self._label(position)}")
                    return self._result(position, TagMethod.POSTAL_CODE, notes)
            notes.append(f"postal code {country} {facts.postal} is listed by no territory")
        if facts.state is not None:
            position = index.region_lookup.get(facts.state)
            if position is not None:
                notes.append(f"state {_fmt_region(facts.state)} is listed by {self._label(position)}")
                return self._result(position, TagMethod.STATE, notes)
            notes.append(f"state {_fmt_region(facts.state)} is listed by no territory")
        if country is not None:
            position = index.region_lookup.get((country, None))
            if position is not None:
                notes.append(f"country {country} is listed by {self._label(position)}")
                return self._result(position, TagMethod.COUNTRY, notes)
            notes.append(f"country {country} is listed by no territory")
        if not (facts.postal or facts.state or country):
            notes.append("no postal code, state or country to fall back on")
        return None

    def _fallback(self, notes: list[str]) -> TagResult:
        catch_all = self.catch_all_id
        if catch_all:
            position = self.index.positions.get(catch_all)
            name = self.index.names[position] if position is not None else None
            notes.append(f"nothing matched: catch-all territory {catch_all}")
            return TagResult(
                territory_id=catch_all, territory_name=name, method=TagMethod.CATCH_ALL, note="; ".join(notes)
            )
        notes.append("nothing matched and no catch-all territory is configured")
        return TagResult(territory_id=None, method=TagMethod.UNTAGGED, note="; ".join(notes))
