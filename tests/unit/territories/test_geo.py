"""Equal-area measurement against the closed form for lon/lat boxes on the authalic sphere."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import box

from territory_router.territories import geo


def exact_box_km2(lon0, lat0, lon1, lat1) -> float:
    r = geo.EARTH_RADIUS_KM
    return r * r * math.radians(lon1 - lon0) * (math.sin(math.radians(lat1)) - math.sin(math.radians(lat0)))


@pytest.mark.parametrize(
    "bounds",
    [
        (0.5, 0.0, 1.0, 1.0),  # half of two overlapping 1° squares at the equator
        (-100.0, 30.0, -90.0, 40.0),
        (-120.0, 10.0, -60.0, 60.0),  # a continent-sized box with only four vertices
        (20.0, -70.0, 30.0, -60.0),  # southern hemisphere
    ],
)
def test_area_matches_the_closed_form(bounds):
    assert geo.area_km2(box(*bounds)) == pytest.approx(exact_box_km2(*bounds), rel=1e-5)


def test_equator_half_square_is_about_6182_km2():
    assert geo.area_km2(box(0.5, 0, 1, 1)) == pytest.approx(6181.86, abs=0.1)


def test_area_of_nothing_is_zero():
    assert geo.area_km2(None) == 0.0
    assert geo.area_km2(box(0, 0, 1, 1).boundary) == 0.0

