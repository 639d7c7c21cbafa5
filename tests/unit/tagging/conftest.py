"""Builders for tagging tests: small territory sets made directly with shapely (no validation step)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from shapely.geometry import box

from territory_router.domain import Lead, Territory, TerritorySet
from territory_router.tagging.index import TerritoryIndex, compile_index
from territory_router.tagging.triage import Tagger, TaggingConfig


def make_lead(n: int = 0, **fields) -> Lead:
    return Lead(lead_id=f"00Q{n:015d}", **fields)


def sample_set(catch_all: str | None = "UNASSIGNED") -> TerritorySet:
    """TX and OVERLAP overlap around (-98, 35); NORTH sits at 60° N where a degree of longitude is ~56 km."""
    return TerritorySet(
        territories=(
            Territory(
                "TX", "Texas", priority=1, geometry=box(-106, 26, -94, 36), regions=frozenset({("US", "TX")})
            ),
            Territory("OVERLAP", "Overlap", priority=2, geometry=box(-100, 34, -90, 37)),
            Territory("NORTH", "North", geometry=box(10, 59, 12, 61), regions=frozenset({("NO", None)})),
            Territory(
                "ZIP941", "San Francisco ZIPs", postal_codes=frozenset({("US", "94105"), ("US", "00501")})
            ),
            Territory("SCF100", "Manhattan SCF", postal_codes=frozenset({("US", "100")})),
            Territory("CAL", "California", regions=frozenset({("US", "CA")})),
            Territory(
                "ONT",
                "Ontario",
                regions=frozenset({("CA", "ON")}),
                postal_codes=frozenset({("CA", "K1A0B1")}),
            ),
            Territory("CANADA", "Canada", regions=frozenset({("CA", None)})),
            Territory("UNASSIGNED", "Unassigned queue"),
        ),
        catch_all_territory_id=catch_all,
    )


@pytest.fixture
def lead() -> Callable[..., Lead]:
    return make_lead


@pytest.fixture
def tagger_for() -> Callable[..., Tagger]:
    def build(territory_set: TerritorySet | None = None, **config) -> Tagger:
        index = TerritoryIndex.from_bytes(compile_index(territory_set or sample_set()))
        return Tagger(index, TaggingConfig(**config))

    return build


@pytest.fixture
def tagger(tagger_for) -> Tagger:
    return tagger_for()


@pytest.fixture
def sample() -> Callable[..., TerritorySet]:
    return sample_set
