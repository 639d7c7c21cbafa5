"""How a group picks one rep among the eligible ones. Pure and deterministic.

- ``round_robin``: the members take turns in roster order. The group's pointer remembers the last rep served;
  the next eligible member after it is chosen (skipping reps who cannot take the lead now).
- ``weighted_round_robin``: smooth weighted round robin (the nginx algorithm). Each pick adds every eligible rep's
  weight to its running score, picks the highest score (ties: roster order) and subtracts the total weight from
  the winner. Over a cycle of ``sum(weights)`` picks every rep gets exactly ``weight`` leads, spread out evenly.
  The scores live in the pointer item.
- ``least_loaded``: lowest open/capacity ratio, ties by fewer leads ever assigned, then rep id. No pointer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from territory_router.assignment.eligibility import RepLoad, as_load
from territory_router.assignment.roster import Rep, Strategy


@dataclass(frozen=True)
class PointerState:
    """The persistent turn of a group (``GROUP#<id>/POINTER``). ``seq`` guards concurrent writers."""

    group_id: str
    seq: int = 0
    last_rep_id: str | None = None
    scores: Mapping[str, int] = field(default_factory=dict)  # smooth weighted round robin running scores

    def to_trail(self) -> dict[str, object]:
        out: dict[str, object] = {"seq": self.seq, "last_rep_id": self.last_rep_id}
        if self.scores:
            out["scores"] = dict(sorted(self.scores.items()))
        return out


@dataclass(frozen=True)
class Pick:
    rep: Rep
    why: str
    new_pointer: PointerState | None  # None: the strategy keeps no state


def pick_round_robin(members: Sequence[str], eligible: Sequence[Rep], pointer: PointerState) -> Pick:
    ok = {r.rep_id: r for r in eligible}
    order = list(members)
    start = order.index(pointer.last_rep_id) + 1 if pointer.last_rep_id in order else 0
    for i in range(len(order)):
        rep_id = order[(start + i) % len(order)]
        if rep_id in ok:
            rep = ok[rep_id]
            after = f"after {pointer.last_rep_id}" if pointer.last_rep_id in order else "from the top of the list"
            why = f"round robin: next eligible member {after} (turn {pointer.seq + 1})"
            new = PointerState(pointer.group_id, pointer.seq + 1, rep.rep_id, {})
            return Pick(rep, why, new)
    raise ValueError("no eligible rep")


def pick_weighted(members: Sequence[str], eligible: Sequence[Rep], pointer: PointerState) -> Pick:
    if not eligible:
        raise ValueError("no eligible rep")
    member_set = set(members)
    scores = {k: int(v) for k, v in pointer.scores.items() if k in member_set}
    total = sum(r.weight for r in eligible)
    for r in eligible:
        scores[r.rep_id] = scores.get(r.rep_id, 0) + r.weight
    position = {rid: i for i, rid in enumerate(members)}
    best = max(eligible, key=lambda r: (scores[r.rep_id], -position.get(r.rep_id, 0)))
    before = scores[best.rep_id]
    scores[best.rep_id] -= total
    why = (
        f"weighted round robin: highest running score {before} (weight {best.weight} of {total} eligible weight, "
        f"turn {pointer.seq + 1})"
    )
    return Pick(best, why, PointerState(pointer.group_id, pointer.seq + 1, best.rep_id, scores))


def pick_least_loaded(eligible: Sequence[Rep], loads: Mapping[str, RepLoad | int]) -> Pick:
    if not eligible:
        raise ValueError("no eligible rep")

    def key(r: Rep) -> tuple[Fraction, int, str]:
        ld = as_load(loads.get(r.rep_id))
        return (Fraction(ld.open_leads, max(r.capacity, 1)), ld.assigned_total, r.rep_id)

    best = min(eligible, key=key)
    ld = as_load(loads.get(best.rep_id))
    why = (
        f"least loaded: {ld.open_leads}/{best.capacity} open "
        f"({round(100 * ld.open_leads / max(best.capacity, 1))}%), {ld.assigned_total} assigned in total"
    )
    return Pick(best, why, None)


def pick(
    strategy: Strategy,
    members: Sequence[str],
    eligible: Sequence[Rep],
    pointer: PointerState,
    loads: Mapping[str, RepLoad | int],
) -> Pick:
    if strategy is Strategy.ROUND_ROBIN:
        return pick_round_robin(members, eligible, pointer)
    if strategy is Strategy.WEIGHTED_ROUND_ROBIN:
        return pick_weighted(members, eligible, pointer)
    return pick_least_loaded(eligible, loads)
