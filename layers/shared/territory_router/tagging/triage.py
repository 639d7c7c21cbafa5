"""Lead triage: which territory a lead belongs to, how that was decided, and why.

Each lead goes down this ladder and stops at the first step that gives a territory; the step is recorded as
``TagResult.method``, how precisely the lead was located as ``TagResult.precision`` (the precision ladder of
``geography.precision``) and the reasons (including the steps that were skipped and why) as ``TagResult.note``.

A lead **with usable coordinates** (precision ``ROOFTOP``, or what Salesforce's ``GeocodeAccuracy`` says):

1. ``POLYGON``   the point lies in (or on the border of) a territory polygon. Overlaps: the first territory
                 in precedence order (``TerritorySet.territories``) wins; the note names the others. A polygon
                 built from ``zip3`` blocks only approximates the ZIP areas that define it: when the lead's ZIP
                 (or its prefix) is listed by another territory, that territory gets it (``POSTAL_CODE``).
2. ``NEAREST``   no polygon holds the point but one lies within ``nearest_tolerance_km`` (great-circle km to
                 the nearest point of its boundary): coastlines, simplified borders.
3. ``POSTAL_CODE`` a territory lists the lead's postal code, or its prefix (US ZIP3, Canadian FSA, UK
                 outward code).
4. ``STATE``     a territory lists the lead's state/province.
5. ``COUNTRY``   a territory lists the lead's country.
6. ``CATCH_ALL`` the configured catch-all territory; else ``UNTAGGED``. The note carries every reason.

A lead **without usable coordinates** (most web-form and imported leads): the territories that list its postal
code or state keep their precedence, then the lead is placed by the offline gazetteer and goes through the same
polygon -> nearest steps:

3. ``POSTAL_CODE``, 4. ``STATE`` as above (a US ZIP also tells the state when the lead does not);
a. ``POSTAL_CENTROID`` its US ZIP's centroid lies in (or within the tolerance of) a polygon;
b. ``CITY_CENTROID`` its city (with its US state or Canadian province) lies in (or near) a polygon;
c. ``GEOCODED``  only for leads the gazetteer cannot place, and only if a geocoder is configured (off by
                 default): the address is geocoded (within a per-batch budget) and the point goes through the
                 polygon -> nearest steps;
5. ``COUNTRY``, 6. ``CATCH_ALL`` as above.

Rules for doubtful input (all written into the note):

- **No coordinates**: missing, non-numeric, out of range (|lat| > 90, |lon| > 180) and exactly (0, 0) (what
  many systems store for "unknown") are treated as *no coordinates*, never as a place: the ladder for leads
  without coordinates applies; the note says which point was used ("ZIP 94105 centroid", "geocoded from
  address").
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

``Tagger.tag_many`` is vectorised over the batch: the geometry's answers for every lead come from
``tagging.spatial.PolygonLookup`` in a few array calls (polygon hits, the swapped readings of the misses, the
nearest polygon); Python runs per lead only to walk this ladder and assemble notes (plain polygon hits and leads
far from everything share cached results). ``Tagger.tag`` has a fast path for a single lead (the lookup's grid-cell
cache). Both give identical results for the same lead (tested property).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from territory_router.domain.leads import Lead, TagMethod, TagResult
from territory_router.geography.gazetteer import Gazetteer, Place, default_gazetteer
from territory_router.geography.postal import guess_country, normalise_postal_code, postal_prefixes
from territory_router.geography.precision import TagPrecision, from_salesforce_accuracy
from territory_router.geography.regions import normalise_country, normalise_state, territory_state
from territory_router.tagging.geocoding import BudgetedGeocoder, Geocoder
from territory_router.tagging.index import TerritoryIndex
from territory_router.tagging.spatial import NO_FACTS, PointFacts, PolygonLookup

_AGREE, _CONTRADICT, _UNKNOWN = 1, -1, 0


@dataclass(frozen=True)
class TaggingConfig:
    """How leads are tagged. ``catch_all_territory_id`` overrides the territory set's own catch-all."""

    nearest_tolerance_km: float = 25.0
    catch_all_territory_id: str | None = None
    geocoder: Geocoder | None = None  # off by default
    # The offline gazetteer for leads without coordinates: None = the packaged one; use_gazetteer=False: none.
    gazetteer: Gazetteer | None = None
    use_gazetteer: bool = True
    geocode_budget_per_batch: int = 25
    geocode_cache_size: int = 10_000
    try_swapped_coordinates: bool = True
    grid_cell_degrees: float = 0.1  # single-lead fast path: tree candidates cached per grid cell
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


@dataclass(frozen=True, slots=True)
class _Pending:
    """A nearest polygon kept as a last resort (its regions contradict the declared address)."""

    position: int
    km: float
    method: TagMethod = TagMethod.NEAREST
    precision: TagPrecision = TagPrecision.ROOFTOP


def _coordinates(lead: Lead) -> tuple[float, float] | str:
    """``(lon, lat)`` when usable, else the reason why not."""
    lat, lon = lead.latitude, lead.longitude
    if lat is None or lon is None:
        return "no coordinates"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "coordinates are not finite numbers; treated as no coordinates"
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
        self.spatial = PolygonLookup(
            index, tolerance_km=self._tolerance, grid_cell_degrees=self.config.grid_cell_degrees,
            grid_cache_cells=self.config.grid_cache_cells,
        )
        self._with_polygon = frozenset(self.spatial.owner)  # positions of the territories that have a polygon
        # polygons built from ZIP3 areas are approximations: a lead inside one is checked against its own ZIP
        self._approximate = index.approximate_positions
        # a polygon hit that needs the lead's declared address checked (regions, approximate polygons)
        self._has_regions = [
            p in index.regions_by_position or p in self._approximate for p in range(len(index))
        ]
        self._has_regions_arr = np.array(self._has_regions, dtype=bool)
        self._any_regions = bool(self._has_regions_arr.any())
        self._polygon_results: list[TagResult | None] = [None] * len(index)
        self._polygon_results_arr = np.empty(len(index), dtype=object)  # the same, for vectorised gathers
        self._memo: dict[tuple[str | None, str | None, str | None], TagResult] = {}
        self._memo_placed: dict[tuple[str | None, ...], TagResult] = {}  # leads without coordinates
        geocoder = self.config.geocoder
        if geocoder is not None and not isinstance(geocoder, BudgetedGeocoder):
            geocoder = BudgetedGeocoder(
                geocoder, self.config.geocode_budget_per_batch, self.config.geocode_cache_size
            )
        self.geocoder: BudgetedGeocoder | None = geocoder
        self.gazetteer: Gazetteer | None = (
            (self.config.gazetteer or default_gazetteer()) if self.config.use_gazetteer else None
        )

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
            hits = self.spatial.hits_one(lon, lat)
            if len(hits) == 1 and not self._has_regions[hits[0]]:
                return self._with_accuracy(lead, self._polygon_result(hits[0]))
            if hits:
                return self._with_accuracy(lead, self._triage(lead, PointFacts(hits, None, None)))
            return self._with_accuracy(lead, self._triage(lead, self._facts_one(lon, lat)))
        if self._swappable(lat, lon):
            return self._triage(lead, PointFacts([], self.spatial.hits_one(lat, lon), None))
        return self._memo_unplaced(lead)

    def tag_many(self, leads: Sequence[Lead]) -> list[TagResult]:
        """Tag a batch: vectorised polygon, swapped-reading and nearest passes, then the ladder per lead.

        The cyclic garbage collector is paused for the call: the passes allocate one shapely object per point,
        which otherwise sets off full collections over every live object of the process (several times the
        cost of the tagging itself in a process holding 100k leads). Nothing here creates reference cycles."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._tag_many(leads)
        finally:
            if was_enabled:
                gc.enable()

    def _tag_many(self, leads: Sequence[Lead]) -> list[TagResult]:
        if self.geocoder is not None:
            self.geocoder.start_batch()
        n = len(leads)
        if n == 0:
            return []
        lat = np.array([ld.latitude for ld in leads], dtype=float)  # None -> nan
        lon = np.array([ld.longitude for ld in leads], dtype=float)
        where = self.spatial.locate(lat, lon, try_swapped=self.config.try_swapped_coordinates)
        usable, swappable, nearest = where.usable, where.swappable, where.nearest
        first, count = where.hits.first, where.hits.count
        missed = usable & (count == 0)

        out = np.empty(n, dtype=object)
        # The common case, vectorised: one polygon hit, nothing to cross-check -> the shared result object.
        simple = count == 1
        if self._any_regions:
            simple &= ~self._has_regions_arr[np.maximum(first, 0)]
        simple_idx = np.flatnonzero(simple)
        if len(simple_idx):
            positions = first[simple_idx]
            for p in np.unique(positions).tolist():
                self._polygon_result(p)
            out[simple_idx] = self._polygon_results_arr[positions]
        # Far from every polygon and nothing swapped: only the declared address matters (memoised).
        lonely = missed & ~(swappable & (where.swap_hits.count > 0))
        for i in np.flatnonzero(lonely).tolist():
            if i not in nearest:
                out[i] = self._memo_triage(leads[i])
        for i in np.flatnonzero(out == None).tolist():  # noqa: E711 (element-wise comparison)
            lead = leads[i]
            if count[i]:
                out[i] = self._triage(lead, PointFacts(where.hits.of(i), None, None))
                continue
            swap_hits = where.swap_hits.of(i) if swappable[i] else None
            if usable[i]:
                out[i] = self._triage(lead, PointFacts([], swap_hits, nearest.get(i)))
            elif swap_hits is not None:
                out[i] = self._triage(lead, PointFacts([], swap_hits, None))
            else:
                out[i] = self._memo_unplaced(lead)
        results = out.tolist()
        # Salesforce may say its coordinates are only ZIP/city accurate (GeocodeAccuracy): say so in the precision.
        for i in np.flatnonzero(usable).tolist():
            if leads[i].sf_fields:
                results[i] = self._with_accuracy(leads[i], results[i])
        return results

    # ------------------------------------------------------------------ the geometry of one point

    def _facts_one(self, lon: float, lat: float) -> PointFacts:
        """``tag_many``'s spatial answers for one point that hit no polygon."""
        swap = self.spatial.hits_one(lat, lon) if self._swappable(lat, lon) else None
        return PointFacts([], swap, self.spatial.nearest_one(lon, lat))

    def _swappable(self, lat: float | None, lon: float | None) -> bool:
        return bool(
            self.config.try_swapped_coordinates
            and lat is not None
            and lon is not None
            and -90 <= lon <= 90
            and -180 <= lat <= 180
            and (lat != 0 or lon != 0)
        )

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
            self._polygon_results_arr[position] = result
        return result

    def _memo_triage(self, lead: Lead) -> TagResult:
        """Usable coordinates far from every polygon, nothing swapped: only the declared address matters, so
        the result is shared by every lead declaring the same state, country and postal code."""
        key = (lead.country, lead.state, lead.postal_code)
        result = self._memo.get(key)
        if result is None:
            result = self._triage(lead, NO_FACTS)
            if len(self._memo) >= 10_000:
                self._memo.clear()
            self._memo[key] = result
        return result

    def _memo_unplaced(self, lead: Lead) -> TagResult:
        """A lead with no coordinates at all: the result depends only on what it declares (and the geocoder, whose
        budget makes it stateful: no memo then), so leads declaring the same address share it."""
        if self.geocoder is not None or lead.latitude is not None or lead.longitude is not None:
            return self._triage(lead, None)
        key = (lead.country, lead.state, lead.postal_code, lead.city)
        result = self._memo_placed.get(key)
        if result is None:
            result = self._triage(lead, None)
            if len(self._memo_placed) >= 50_000:
                self._memo_placed.clear()
            self._memo_placed[key] = result
        return result

    @staticmethod
    def _with_accuracy(lead: Lead, result: TagResult) -> TagResult:
        """Lower the precision of a tag made from the lead's own coordinates when Salesforce recorded that its
        geocode is only ZIP/city/county/state accurate (``GeocodeAccuracy``)."""
        if result.method not in (TagMethod.POLYGON, TagMethod.NEAREST) or not lead.sf_fields:
            return result
        accuracy = from_salesforce_accuracy(lead.sf_fields.get("GeocodeAccuracy"))
        if accuracy is None or accuracy == result.precision:
            return result
        return result.model_copy(
            update={
                "precision": accuracy,
                "note": f"{result.note}; Salesforce geocoded these coordinates to "
                f"{lead.sf_fields['GeocodeAccuracy']} accuracy",
            }
        )

    # ------------------------------------------------------------------ the ladder

    def _label(self, position: int) -> str:
        tid, name = self.index.ids[position], self.index.names[position]
        return tid if not name or name == tid else f"{tid} ({name})"

    def _result(
        self, position: int, method: TagMethod, notes: list[str], precision: TagPrecision | None = None
    ) -> TagResult:
        return TagResult(
            territory_id=self.index.ids[position],
            territory_name=self.index.names[position],
            method=method,
            note="; ".join(notes),
            precision=precision,
        )

    def _facts(self, lead: Lead, *, infer_state: bool = False) -> _Facts:
        """What the lead declares, normalised. ``infer_state``: a known US ZIP also gives the state when the lead
        names none (used only for leads without coordinates, whose postal code is the best location they have)."""
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
        if infer_state and state is None and postal and country == "US" and self.gazetteer is not None:
            state = self.gazetteer.postal_state(postal)
            if state is not None:
                notes.append(f"state {_fmt_region(state)} taken from ZIP {postal}")
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

    def _triage(self, lead: Lead, spatial: PointFacts | None) -> TagResult:
        """The whole ladder for one lead. ``spatial``: what the geometry says about its point (None when the
        coordinates are unusable and cannot be read swapped)."""
        located = _coordinates(lead)
        facts = self._facts(lead, infer_state=not isinstance(located, tuple))
        notes: list[str] = list(facts.notes)
        pending: _Pending | None = None
        spatial = spatial or NO_FACTS

        if isinstance(located, tuple):
            lon, lat = located
            if spatial.hits:
                return self._polygon(spatial.hits, facts, notes)
            swapped = self._try_swapped(lon, lat, spatial.swap_hits, facts, notes, out_of_range=False)
            if swapped is not None:
                return swapped
            outcome = self._near(spatial.nearest, facts, notes)
            if isinstance(outcome, TagResult):
                return outcome
            pending = outcome
            ladder = self._declared(facts, notes) or self._declared_country(facts, notes)
            if ladder is not None:
                return ladder
        else:
            notes.append(located)
            if located.startswith("coordinates out of range"):
                swapped = self._try_swapped(
                    lead.longitude, lead.latitude, spatial.swap_hits, facts, notes, out_of_range=True
                )
                if swapped is not None:
                    return swapped
            # Territories defined by postal codes or by states keep their precedence over a centroid; a state
            # listed by a polygon territory (its regions) is only a fallback after the centroid.
            ladder = self._declared(facts, notes, state_polygons=False)
            if ladder is not None:
                return ladder
            placed = self._place(lead, facts, notes)
            if isinstance(placed, TagResult):
                return placed
            pending = placed
            ladder = self._declared_state_of_polygon(facts, notes) or self._declared_country(facts, notes)
            if ladder is not None:
                return ladder
        if not (facts.postal or facts.state or facts.country):
            notes.append("no postal code, state or country to fall back on")
        if pending is not None:
            notes.append(
                f"declared address matched no territory, so the nearest one ({pending.km:.1f} km) is used"
            )
            return self._result(pending.position, pending.method, notes, pending.precision)
        return self._fallback(notes)

    def _place(self, lead: Lead, facts: _Facts, notes: list[str]) -> TagResult | _Pending | None:
        """A lead without coordinates, placed by the gazetteer (postal code, then city) or else the geocoder; the
        point goes through the polygon -> nearest steps. A result, a contradicted nearest match, or None."""
        place: Place | None = None
        gazetteer = self.gazetteer
        if gazetteer is not None:
            if facts.postal and facts.country == "US":
                place = gazetteer.postal(facts.postal)
                if place is None:
                    notes.append(f"ZIP {facts.postal} has no location in the gazetteer")
            if place is None and lead.city and facts.state is not None and facts.state[0] in ("US", "CA"):
                place = gazetteer.city(lead.city, facts.state)
                if place is None:
                    notes.append(f"city {lead.city.strip()!r} ({_fmt_region(facts.state)}) is not in the gazetteer")
        if place is not None:
            method = TagMethod.POSTAL_CENTROID if place.precision is TagPrecision.POSTAL_CODE else TagMethod.CITY_CENTROID
            notes.append(f"placed at the {place.found_from} centroid ({place.latitude:.4f}, {place.longitude:.4f})")
            return self._at_point(place.longitude, place.latitude, facts, notes, method, place.precision)
        return self._geocode(lead, facts, notes)

    def _at_point(
        self, lon: float, lat: float, facts: _Facts, notes: list[str], method: TagMethod, precision: TagPrecision
    ) -> TagResult | _Pending | None:
        hits = self.spatial.hits_one(lon, lat)
        if hits:
            return self._polygon(hits, facts, notes, method=method, precision=precision)
        near = self.spatial.nearest_one(lon, lat)
        return self._near(near, facts, notes, method=method, precision=precision)

    def _polygon(
        self,
        hits: list[int],
        facts: _Facts,
        notes: list[str],
        prefix: str = "",
        *,
        method: TagMethod = TagMethod.POLYGON,
        precision: TagPrecision | None = None,
    ) -> TagResult:
        position = hits[0]
        if position in self._approximate and facts.postal and facts.country:
            listed = self._postal_owner(facts)
            if listed is not None and listed[0] != position:
                notes.append(
                    f"{prefix}inside the polygon of {self._label(position)}, an approximate ZIP3 area; the lead's "
                    f"ZIP decides: postal code {facts.country} {listed[1]} is listed by {self._label(listed[0])}"
                )
                return self._result(listed[0], TagMethod.POSTAL_CODE, notes, precision)
        notes.append(f"{prefix}inside the polygon of {self._label(position)}")
        if len(hits) > 1:
            others = ", ".join(self.index.ids[p] for p in hits[1:])
            notes.append(f"also inside {others}; {self.index.ids[position]} wins by precedence")
        verdict, detail = self._agreement(position, facts)
        if verdict == _CONTRADICT:
            if method is TagMethod.POLYGON:
                notes.append(f"{detail}: the coordinates contradict the declared address; coordinates win")
            else:
                notes.append(f"{detail}: the point contradicts the declared address; the point wins")
        return self._result(position, method, notes, precision)

    def _try_swapped(
        self,
        lon: float | None,
        lat: float | None,
        swap_hits: list[int] | None,
        facts: _Facts,
        notes: list[str],
        *,
        out_of_range: bool,
    ) -> TagResult | None:
        """Accept the swapped reading under the documented rule, or note why not. ``swap_hits``: the polygon
        hits of (lon, lat) read the other way round (None: not applicable)."""
        if not swap_hits or lon is None or lat is None:
            return None
        verdict, detail = self._agreement(swap_hits[0], facts)
        label = self._label(swap_hits[0])
        s_lat, s_lon = lon, lat
        if verdict == _AGREE or (out_of_range and verdict == _UNKNOWN):
            why = f"agrees with the {detail}" if verdict == _AGREE else "the given order is out of range"
            notes.append(
                f"latitude and longitude looked swapped: read as (lat {s_lat:g}, lon {s_lon:g}) the point "
                f"falls in {label}, which {why}; swapped reading used"
            )
            return self._polygon(swap_hits, facts, notes, prefix="swapped point ")
        reason = detail if verdict == _CONTRADICT else "nothing declared confirms it"
        notes.append(
            f"swapped reading (lat {s_lat:g}, lon {s_lon:g}) would fall in {label} but {reason}; not used"
        )
        return None

    def _near(
        self,
        nearest: tuple[int, float] | None,
        facts: _Facts,
        notes: list[str],
        *,
        method: TagMethod = TagMethod.NEAREST,
        precision: TagPrecision | None = None,
    ) -> TagResult | _Pending | None:
        """The NEAREST step: a result, a contradicted match to keep as a last resort, or None."""
        tol = self._tolerance
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
            return _Pending(position, km, method, precision or TagPrecision.ROOFTOP)
        notes.append(
            f"no polygon contains the point; nearest is {label} at {km:.1f} km (tolerance {tol:g} km)"
        )
        return self._result(position, method, notes, precision)

    def _geocode(self, lead: Lead, facts: _Facts, notes: list[str]) -> TagResult | _Pending | None:
        """The optional geocoder, for a lead the gazetteer could not place (budgeted per batch)."""
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
        # Not the coordinates themselves: the place index is SingleUse (results are not to be stored).
        notes.append(f"address {outcome.reason} (precision {outcome.precision.value})")
        return self._at_point(g_lon, g_lat, facts, notes, TagMethod.GEOCODED, outcome.precision)

    def _postal_owner(self, facts: _Facts) -> tuple[int, str] | None:
        """The first territory listing the lead's postal code (exact, then its prefixes) and the key it lists."""
        for key in (facts.postal, *postal_prefixes(facts.postal, facts.country)):
            position = self.index.postal_lookup.get((facts.country, key))
            if position is not None:
                return position, key
        return None

    def _declared(self, facts: _Facts, notes: list[str], *, state_polygons: bool = True) -> TagResult | None:
        """Steps 3-4: postal code, state. ``state_polygons=False``: a state listed by a territory that has a
        polygon does not count here (see :meth:`_declared_state_of_polygon`)."""
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
            if position is not None and (state_polygons or position not in self._with_polygon):
                notes.append(f"state {_fmt_region(facts.state)} is listed by {self._label(position)}")
                return self._result(position, TagMethod.STATE, notes)
            if position is None:
                notes.append(f"state {_fmt_region(facts.state)} is listed by no territory")
        return None

    def _declared_state_of_polygon(self, facts: _Facts, notes: list[str]) -> TagResult | None:
        """A lead the gazetteer could not put in a polygon, whose state a polygon territory lists."""
        position = self.index.region_lookup.get(facts.state) if facts.state is not None else None
        if position is None or position not in self._with_polygon:
            return None
        notes.append(f"state {_fmt_region(facts.state)} is listed by {self._label(position)}")
        return self._result(position, TagMethod.STATE, notes)

    def _declared_country(self, facts: _Facts, notes: list[str]) -> TagResult | None:
        """Step 5: country."""
        country = facts.country
        if country is not None:
            position = self.index.region_lookup.get((country, None))
            if position is not None:
                notes.append(f"country {country} is listed by {self._label(position)}")
                return self._result(position, TagMethod.COUNTRY, notes)
            notes.append(f"country {country} is listed by no territory")
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
