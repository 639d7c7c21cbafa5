"""Tagging is deterministic and total (hypothesis, small generated territory sets and hostile leads).

- total: every lead gets a result naming a territory of the set (or UNTAGGED without a catch-all); with a
  catch-all configured, nothing is ever untagged; the ladder never raises, whatever the coordinates.
- deterministic: two taggers loaded from the same compiled bytes give the same results, and a batch gives what
  each lead gives alone (``tag_many`` == ``tag``), in any order.
- sound: a POLYGON stamp means the point really lies in (or on) that territory; POSTAL_CODE / STATE / COUNTRY
  stamps name a territory listing that code.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from territory_router.domain import Lead, Territory, TerritorySet
from territory_router.domain.leads import TagMethod
from territory_router.tagging.index import TerritoryIndex, compile_index
from territory_router.tagging.triage import Tagger, TaggingConfig

POSTCODES = ["94105", "10001", "73301", "60601", "02108"]
STATES = ["CA", "NY", "TX", "IL", "MA"]


@st.composite
def territory_sets(draw) -> TerritorySet:
    n = draw(st.integers(1, 6))
    territories = []
    for i in range(n):
        kind = draw(st.sampled_from(["box", "box", "postal", "state", "country", "mixed"]))
        geometry = postal = regions = None
        if kind in ("box", "mixed"):
            x = draw(st.integers(-120, 100)) / 2
            y = draw(st.integers(-60, 60)) / 2
            w = draw(st.integers(1, 40)) / 4
            h = draw(st.integers(1, 40)) / 4
            geometry = box(x, y, x + w, y + h)
        if kind in ("postal", "mixed"):
            postal = frozenset(("US", p) for p in draw(st.lists(st.sampled_from(POSTCODES), min_size=1, max_size=2)))
        if kind == "state":
            regions = frozenset(("US", s) for s in draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=2)))
        if kind == "country":
            regions = frozenset({(draw(st.sampled_from(["US", "CA", "DE"])), None)})
        territories.append(Territory(
            f"T{i}", f"Territory {i}", priority=draw(st.one_of(st.none(), st.integers(0, 3))), geometry=geometry,
            postal_codes=postal or frozenset(), regions=regions or frozenset(),
        ))
    catch_all = None
    if draw(st.booleans()):
        territories.append(Territory("CATCHALL", "Unassigned"))
        catch_all = "CATCHALL"
    return TerritorySet(territories=tuple(territories), catch_all_territory_id=catch_all)


coordinate = st.one_of(
    st.none(),
    st.floats(-95, 95, allow_nan=False),
    st.sampled_from([0.0, 90.0, -180.0, 180.0, math.inf, math.nan, 1e300, -0.0]),
)
leads = st.builds(
    lambda n, lat, lon, postal, state, country: Lead(
        lead_id=f"00Q{n:015d}", latitude=lat, longitude=lon, postal_code=postal, state=state, country=country,
    ),
    st.integers(0, 10**9),
    coordinate,
    coordinate,
    st.one_of(st.none(), st.sampled_from([*POSTCODES, "9410", "94105-1234", " ", "ABC"])),
    st.one_of(st.none(), st.sampled_from([*STATES, "California", "zz", ""])),
    st.one_of(st.none(), st.sampled_from(["US", "USA", "United States", "CA", "Canada", "DE", "??"])),
)


def _tagger(data: bytes) -> Tagger:
    return Tagger(TerritoryIndex.from_bytes(data), TaggingConfig())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(territory_sets(), st.lists(leads, min_size=1, max_size=25), st.randoms(use_true_random=False), st.data())
def test_tagging_is_total_deterministic_and_sound(territory_set: TerritorySet, batch: list[Lead], rnd, data) -> None:
    boxes = [t.geometry.bounds for t in territory_set.territories if t.geometry is not None]
    if boxes:  # half the leads inside, on the edge of, or just outside a territory
        for i, lead in enumerate(batch):
            if data.draw(st.booleans(), label=f"near {i}"):
                x0, y0, x1, y1 = data.draw(st.sampled_from(boxes), label=f"box {i}")
                fx, fy = data.draw(st.tuples(st.floats(-0.2, 1.2), st.floats(-0.2, 1.2)), label=f"where {i}")
                batch[i] = lead.model_copy(update={"longitude": x0 + fx * (x1 - x0), "latitude": y0 + fy * (y1 - y0)})
    compiled = compile_index(territory_set)
    ids = {t.territory_id for t in territory_set.territories}
    by_id = territory_set.by_id()
    first = _tagger(compiled).tag_many(batch)
    second = _tagger(compiled)
    assert len(first) == len(batch)
    # deterministic: a fresh container, lead by lead, gives the same stamps
    assert [second.tag(lead) for lead in batch] == first
    # and the order of the batch does not matter
    order = list(range(len(batch)))
    rnd.shuffle(order)
    shuffled = _tagger(compiled).tag_many([batch[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(batch))] == first
    for lead, result in zip(batch, first, strict=True):
        # total
        if result.method is TagMethod.UNTAGGED:
            assert territory_set.catch_all_territory_id is None and result.territory_id is None
        else:
            assert result.territory_id in ids
        if territory_set.catch_all_territory_id is not None:
            assert result.territory_id is not None
        # sound
        territory = by_id.get(result.territory_id) if result.territory_id else None
        if result.method is TagMethod.POLYGON:
            assert territory is not None and territory.geometry is not None
            lat, lon = lead.latitude, lead.longitude
            inside = territory.geometry.buffer(1e-9).covers(Point(lon, lat)) or (
                territory.geometry.buffer(1e-9).covers(Point(lat, lon))  # read as swapped lat/lon
            )
            assert inside, (lead, result)
        elif result.method is TagMethod.POSTAL_CODE:
            assert territory is not None and territory.postal_codes
        elif result.method in (TagMethod.STATE, TagMethod.COUNTRY):
            assert territory is not None and territory.regions
        elif result.method is TagMethod.CATCH_ALL:
            assert result.territory_id == territory_set.catch_all_territory_id
