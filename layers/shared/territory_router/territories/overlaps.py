"""Find territories that cover the same ground, measure it in km², and say who wins there.

Precedence (the order of ``TerritorySet.territories``): explicit ``priority`` (lower wins; none ranks last),
then the smaller area, then the territory id. Shared borders are not overlaps: intersections below
``min_area_km2`` are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.strtree import STRtree

from territory_router.domain.territory import Territory
from territory_router.territories import geo
from territory_router.territories.report import MIN_OVERLAP_KM2, Overlap


def resolution_text(winner: Territory, loser: Territory) -> str:
    """Why ``winner`` takes the leads in the overlap, e.g. ``"A wins (priority 1 < 5)"``."""
    w, lo = winner, loser
    if w.priority is not None and lo.priority is not None and w.priority != lo.priority:
        return f"{w.territory_id} wins (priority {w.priority} < {lo.priority})"
    if w.priority is not None and lo.priority is None:
        return f"{w.territory_id} wins (priority {w.priority}; {lo.territory_id} has none)"
    wa, la = w.area_km2, lo.area_km2
    if wa is not None and la is not None and wa != la:
        return f"{w.territory_id} wins (smaller area {wa:,.1f} km² < {la:,.1f} km²)"
    if wa is not None and la is None:
        return f"{w.territory_id} wins (polygon before postal codes/regions)"
    return f"{w.territory_id} wins (same priority and area; id {w.territory_id!r} < {lo.territory_id!r})"


def count_points(geometry, leads_xy: np.ndarray | None) -> int | None:
    if leads_xy is None:
        return None
    if len(leads_xy) == 0:
        return 0
    return int(np.count_nonzero(shapely.contains_xy(geometry, leads_xy[:, 0], leads_xy[:, 1])))


def leads_array(leads: Sequence[tuple[float, float]] | None) -> np.ndarray | None:
    """``(lon, lat)`` points as an (N, 2) array (None stays None)."""
    if leads is None:
        return None
    return np.asarray(list(leads), dtype=float).reshape(-1, 2)


def find_overlaps(
    territories: Sequence[Territory],
    *,
    leads: Sequence[tuple[float, float]] | None = None,
    min_area_km2: float = MIN_OVERLAP_KM2,
) -> list[Overlap]:
    """Every overlapping pair; ``territories`` must already be in precedence order (first wins).

    Polygon pairs are measured in km²; territories listing the same postal codes or regions are reported
    too (area 0, with the shared codes). Sorted by area, largest first.
    """
    leads_xy = leads_array(leads)
    out: list[Overlap] = []
    rank = {t.territory_id: i for i, t in enumerate(territories)}

    polys = [t for t in territories if t.geometry is not None]
    if len(polys) > 1:
        geoms = np.array([t.geometry for t in polys], dtype=object)
        tree = STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        if len(left):
            interiors = shapely.relate_pattern(geoms[left], geoms[right], "2********")
            left, right = left[interiors], right[interiors]
        if len(left):
            shapes = shapely.intersection(geoms[left], geoms[right])
            for i, j, shape in zip(left, right, shapes, strict=True):
                part = geo.polygonal_part(shape)
                if part is None:
                    continue
                area = geo.area_km2(part)
                if area < min_area_km2:
                    continue
                a, b = polys[int(i)], polys[int(j)]  # polys keeps precedence order: a wins
                out.append(
                    Overlap(
                        a=a.territory_id,
                        b=b.territory_id,
                        area_km2=area,
                        winner=a.territory_id,
                        resolution=resolution_text(a, b),
                        centroid=geo.representative_lonlat(part),
                        bbox=geo.rounded_bbox(part),
                        leads=count_points(part, leads_xy),
                        geometry=part,
                    )
                )

    # The same postal codes / regions claimed by several territories.
    for attr in ("postal_codes", "regions"):
        owners: dict[object, list[Territory]] = {}
        for t in territories:
            for code in getattr(t, attr):
                owners.setdefault(code, []).append(t)
        shared: dict[tuple[str, str], list[str]] = {}
        for code, claimants in owners.items():
            if len(claimants) < 2:
                continue
            claimants = sorted(claimants, key=lambda t: rank[t.territory_id])
            for loser in claimants[1:]:
                label = f"{code[0]}-{code[1]}" if code[1] is not None else str(code[0])
                shared.setdefault((claimants[0].territory_id, loser.territory_id), []).append(label)
        by_id = {t.territory_id: t for t in territories}
        for (a_id, b_id), codes in shared.items():
            out.append(
                Overlap(
                    a=a_id,
                    b=b_id,
                    area_km2=0.0,
                    winner=a_id,
                    resolution=resolution_text(by_id[a_id], by_id[b_id]),
                    **{attr: tuple(sorted(codes))},
                )
            )
    out.sort(key=lambda o: (-o.area_km2, o.a, o.b))
    return out
