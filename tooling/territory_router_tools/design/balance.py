"""How fair a territory set is: leads, share, leads per rep against the mean, compactness, contiguity, and one
balance score for the whole set (the coefficient of variation of leads per rep; of leads per territory without a
roster)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from territory_router.domain.territory import Territory
from territory_router.territories import geo
from territory_router_tools.design.graph import BlockGraph
from territory_router_tools.design.leads import LeadHistory
from territory_router_tools.territories.diff import LeadPoint, locate


@dataclass
class TerritoryBalance:
    territory_id: str
    name: str
    leads: int
    share: float
    group: str | None
    reps: int | None
    leads_per_rep: float | None
    vs_mean: float | None  # leads per rep (or per territory) / the mean over the set
    compactness: float | None  # Polsby-Popper 4πA/P² on an equal-area projection (1 = a disc)
    blocks: int
    pieces: int | None
    land_masses: int | None

    @property
    def contiguous(self) -> bool | None:
        return None if self.pieces is None else self.pieces <= self.land_masses


@dataclass
class BalanceReport:
    rows: list[TerritoryBalance]
    total_leads: int
    outside: int  # located leads no territory covers
    unlocated: int  # leads without coordinates nor a known ZIP
    located_by: dict[str, int]
    basis: str  # "leads per rep" | "leads per territory"
    cv: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            row = asdict(r)
            row["contiguous"] = r.contiguous
            rows.append(row)
        return {"balance_cv": round(self.cv, 4), "basis": self.basis, "total_leads": self.total_leads,
                "outside_every_territory": self.outside, "unlocated": self.unlocated, "located_by": self.located_by,
                "territories": rows, "notes": self.notes}  # fmt: skip

    def format_text(self) -> str:
        lines = [
            f"balance: CV of {self.basis} = {self.cv:.3f} ({len(self.rows)} territories, {self.total_leads:,} leads"
            f"; {self.outside:,} outside every territory, {self.unlocated:,} without a usable location)"
        ]
        lines.append(
            f"{'territory':24}{'leads':>8}{'share':>8}{'reps':>6}{'per rep':>9}{'vs mean':>9}{'compact':>9}  contiguity"
        )
        for r in self.rows:
            if r.pieces is None:
                contiguity = "-"
            elif r.contiguous:
                contiguity = "yes" + (f" ({r.land_masses} land masses)" if r.land_masses > 1 else "")
            else:
                contiguity = f"NO: {r.pieces} pieces on {r.land_masses} land mass{'es' if r.land_masses > 1 else ''}"
            label = (r.territory_id if r.name in ("", r.territory_id) else f"{r.territory_id} {r.name}")[:23]
            lines.append(
                f"{label:24}{r.leads:>8,}{r.share:>8.1%}{_opt(r.reps, 'd'):>6}{_opt(r.leads_per_rep, ',.1f'):>9}"
                f"{_opt(r.vs_mean, '.2f'):>9}{_opt(r.compactness, '.2f'):>9}  {contiguity}"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _opt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def cv(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0 or arr.mean() == 0:
        return 0.0
    return float(arr.std() / arr.mean())


def polsby_popper(geometry) -> float | None:
    if geometry is None or geometry.is_empty:
        return None
    projected = geo.project_equal_area(geometry)
    perimeter = projected.length
    return None if perimeter == 0 else float(4 * math.pi * projected.area / perimeter**2)


def territory_blocks(graph: BlockGraph, territories: Sequence[Territory]) -> np.ndarray:
    """The territory (position in ``territories``, -1 for none) of each block: the one containing the block's
    inside point, first in precedence order, as the tagger decides."""
    points = [LeadPoint(str(n), p.x, p.y) for n, p in enumerate(g.representative_point() for g in graph.geometries)]
    owners = locate(territories, points)
    position = {t.territory_id: i for i, t in enumerate(territories)}
    return np.array([position.get(o, -1) if o is not None else -1 for o in owners], dtype=np.int64)


def lead_owners(territories: Sequence[Territory], history: LeadHistory) -> list[str | None]:
    """The territory of each lead as the tagger decides it (``territories`` in precedence order), None for a lead
    no territory gets: a lead without coordinates goes first to the territory listing its ZIP (or ZIP3 prefix),
    else by the point it was placed at; a lead with coordinates goes by its point, except inside a polygon built
    from ZIP3 areas (an approximation) or outside every polygon, where a territory listing its ZIP wins."""
    located = np.flatnonzero(history.located)
    points = [LeadPoint(history.ids[i], *history.lonlat[i]) for i in located]
    owners: list[str | None] = [None] * len(history.ids)
    for i, owner in zip(located.tolist(), locate(territories, points), strict=True):
        owners[i] = owner
    listing: dict[str, str] = {}
    for t in territories:  # precedence order: the first that lists a key keeps it
        for country, code in t.postal_codes:
            if country == "US":
                listing.setdefault(code, t.territory_id)
    if not listing or not history.postal:
        return owners
    approximate = {t.territory_id for t in territories if any(k.startswith("zip3:") for k in t.metadata.get("blocks", ()))}
    for i, code in enumerate(history.postal):
        if not code:
            continue
        listed = listing.get(code) or listing.get(code[:3])
        if listed is None:
            continue
        # (a point in no polygon: the tagger tries the nearest polygon first, then the postal code; the postal
        # code stands for both here, as the nearest polygon is nearly always the one listing the lead's ZIP)
        if history.how[i] != "coordinates" or owners[i] is None or owners[i] in approximate:
            owners[i] = listed
    return owners


def balance(
    territories: Sequence[Territory], history: LeadHistory, graph: BlockGraph, roster=None
) -> BalanceReport:
    located = history.located
    owners = [o for o, ok in zip(lead_owners(territories, history), located.tolist(), strict=True) if ok]
    counts = {t.territory_id: 0 for t in territories}
    outside = 0
    for owner in owners:
        if owner is None:
            outside += 1
        else:
            counts[owner] += 1
    total = sum(counts.values())
    blocks_of = territory_blocks(graph, territories)
    notes: list[str] = []
    rows: list[TerritoryBalance] = []
    groups: dict[str, list[str]] = {}
    group_reps: dict[str, int] = {}
    if roster is not None:
        for t in territories:
            group = roster.group_for_territory(t.territory_id)
            if group is None:
                notes.append(f"{t.territory_id}: no group in the roster serves it (left out of the score)")
                continue
            groups.setdefault(group.group_id, []).append(t.territory_id)
            group_reps[group.group_id] = sum(
                1 for m in group.members if m in roster.reps and roster.reps[m].active
            )
    for position, t in enumerate(territories):
        nodes = np.flatnonzero(blocks_of == position)
        pieces, masses = graph.pieces(nodes.tolist()) if len(nodes) else (None, None)
        group_id = reps = per_rep = None
        if roster is not None:
            group = roster.group_for_territory(t.territory_id)
            if group is not None:
                group_id = group.group_id
                reps = group_reps[group_id]
                group_leads = sum(counts[tid] for tid in groups[group_id])
                per_rep = group_leads / reps if reps else None
        rows.append(
            TerritoryBalance(
                territory_id=t.territory_id, name=t.name, leads=counts[t.territory_id],
                share=counts[t.territory_id] / total if total else 0.0, group=group_id, reps=reps,
                leads_per_rep=per_rep, vs_mean=None, compactness=polsby_popper(t.geometry), blocks=len(nodes),
                pieces=pieces, land_masses=masses,
            )  # fmt: skip
        )
    rows.sort(key=lambda r: r.territory_id)
    if roster is not None:
        loads = []
        for group_id, tids in groups.items():
            n = group_reps[group_id]
            if n == 0:
                notes.append(f"group {group_id} has no active rep (left out of the score)")
                continue
            loads.extend([sum(counts[t] for t in tids) / n] * n)
        basis, score = "leads per rep", cv(loads)
        mean = float(np.mean(loads)) if loads else 0.0
        for r in rows:
            r.vs_mean = r.leads_per_rep / mean if r.leads_per_rep is not None and mean else None
    else:
        basis, score = "leads per territory", cv([r.leads for r in rows])
        mean = total / len(rows) if rows else 0.0
        for r in rows:
            r.vs_mean = r.leads / mean if mean else None
    return BalanceReport(
        rows=rows,
        total_leads=total,
        outside=outside,
        unlocated=int(np.count_nonzero(~located)),
        located_by=dict(history.counts),
        basis=basis,
        cv=score,
        notes=notes,
    )
