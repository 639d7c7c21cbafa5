"""Properties of the assignment engine on generated rosters (hypothesis).

- ``decide`` never picks an ineligible rep: the chosen rep is a member of the lead's group chain, active, not
  excluded, has every required skill, is not out of office, and is under capacity for the loads it was given;
  when some rep of the chain is eligible, the lead never goes to a fallback owner.
- counters are conserved: driving random assign / release / re-route / roster-change sequences through ``decide``
  with the counter semantics of the store (+1 conditional on ``open_leads < capacity``, -1 on release, both in the
  lead's transaction), the engine never asks for an increment the store would refuse, a re-route never returns a
  lead to its current owner, and every rep's counter equals the leads it holds (never negative).
  (The same invariants against the real store, concurrently: tests/integration/reliability and
  tests/integration/assignment/test_concurrent_assign.py.)
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from territory_router.assignment.engine import decide
from territory_router.assignment.roster import Roster, parse_roster, sf_id18
from territory_router.domain.leads import Lead, TagMethod, TagResult

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # a Monday
SKILLS = ["enterprise", "es", "fr", "medical"]
TERRITORIES = ["T1", "T2", "T3"]
QUEUE = sf_id18("00G000000000001")


def rep_id(n: int) -> str:
    return sf_id18(f"005{n:012d}")


# mostly available reps, so that both outcomes (a rep, a fallback owner) are common
rep_spec = st.fixed_dictionaries({
    "capacity": st.integers(0, 5),
    "active": st.sampled_from([True] * 6 + [False]),
    "skills": st.lists(st.sampled_from(SKILLS), max_size=3, unique=True),
    "ooo": st.sampled_from([False] * 6 + [True]),
})


@st.composite
def rosters(draw) -> Roster:
    specs = draw(st.lists(rep_spec, min_size=1, max_size=7))
    reps = []
    for i, s in enumerate(specs, start=1):
        rep = {"rep_id": rep_id(i), "name": f"Rep {i}", "capacity": s["capacity"], "active": s["active"],
               "skills": s["skills"]}
        if s["ooo"]:
            rep["out_of_office"] = [{"start": (NOW - timedelta(days=1)).isoformat(),
                                     "end": (NOW + timedelta(days=1)).isoformat()}]
        reps.append(rep)
    ids = [r["rep_id"] for r in reps]
    groups = []
    for j, territory in enumerate(TERRITORIES):
        members = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
        group = {"group_id": f"G{j}", "territories": [territory], "members": members,
                 "strategy": draw(st.sampled_from(["round_robin", "weighted_round_robin", "least_loaded"]))}
        if j and draw(st.booleans()):
            group["overflow_group"] = f"G{j - 1}"
        groups.append(group)
    rules = []
    if draw(st.booleans()):
        rules.append({"field": "industry", "values": ["Healthcare"], "skills": ["medical"]})
    if draw(st.booleans()):
        rules.append({"field": "language", "values": ["es"], "skills": ["es"]})
    doc = {"default_fallback_owner": QUEUE, "reps": reps, "groups": groups, "skill_rules": rules}
    result = parse_roster("roster.json", json.dumps(doc).encode())
    assert result.valid, result.errors
    return result.roster


leads = st.builds(
    lambda n, industry, language: Lead(lead_id=sf_id18(f"00Q{n:012d}"), last_name="L", company="C",
                                       industry=industry, language=language),
    st.integers(1, 10_000), st.sampled_from([None, "Healthcare", "Retail"]), st.sampled_from([None, "es", "en"]),
)
tags = st.builds(lambda t: TagResult(territory_id=t, method=TagMethod.POLYGON), st.sampled_from([*TERRITORIES, "NOWHERE"]))


def _chain_members(roster: Roster, territory_id: str | None) -> list[str]:
    start = roster.group_for_territory(territory_id)
    if start is None:
        return []
    return [m for g in roster.overflow_chain(start) for m in g.members]


def _eligible(roster: Roster, rep: str, lead: Lead, territory_id: str | None, loads: dict, excluded: set) -> bool:
    r = roster.reps[rep]
    needed = set()
    for skill_rule in roster.skill_rules:
        value = getattr(lead, skill_rule.field, None)
        matches = value and ("*" in skill_rule.values or value.lower() in skill_rule.values)
        if matches and (not skill_rule.territories or territory_id in skill_rule.territories):
            needed |= set(skill_rule.skills)
    ooo = bool(r.out_of_office)  # the generated absences all span NOW
    return (r.active and rep not in excluded and not ooo and needed <= set(r.abilities)
            and loads.get(rep, 0) < r.capacity)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rosters(), leads, tags, st.data())
def test_decide_never_picks_an_ineligible_rep(roster: Roster, lead: Lead, tag: TagResult, data) -> None:
    reps = list(roster.reps)
    loads = {r: data.draw(st.integers(0, 3), label=f"load {r}") for r in reps}
    excluded = set(data.draw(st.lists(st.sampled_from(reps), max_size=2, unique=True), label="excluded"))
    decision = decide(lead, tag, roster, loads, {}, NOW, exclude_reps=excluded)
    chain = _chain_members(roster, tag.territory_id)
    anyone = [r for r in dict.fromkeys(chain) if _eligible(roster, r, lead, tag.territory_id, loads, excluded)]
    if decision.rep_id is not None:
        assert decision.owner_id == decision.rep_id
        assert decision.rep_id in chain
        assert _eligible(roster, decision.rep_id, lead, tag.territory_id, loads, excluded), decision.trail
        assert decision.rep_capacity == roster.reps[decision.rep_id].capacity
    else:
        assert decision.fallback
        assert anyone == [], f"{anyone} were eligible, yet the lead went to {decision.owner_id}: {decision.trail}"


@settings(max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
class CounterConservation(RuleBasedStateMachine):
    """The store's counter rules (one transaction per lead change) driven by the engine's decisions."""

    def __init__(self) -> None:
        super().__init__()
        self.roster: Roster | None = None
        self.loads: Counter[str] = Counter()
        self.counted: dict[str, str] = {}  # lead id -> rep whose counter includes it
        self.owner: dict[str, str] = {}
        self.pointers: dict = {}
        self.n = 0

    @rule(roster=rosters())
    def upload_roster(self, roster: Roster) -> None:
        self.roster = roster  # counters are separate items: a new roster never rewrites them

    def _assign(self, lead: Lead, tag: TagResult, exclude: set[str]) -> None:
        assert self.roster is not None
        decision = decide(lead, tag, self.roster, dict(self.loads), self.pointers, NOW, exclude_reps=exclude)
        previous = self.counted.pop(lead.lead_id, None)
        if previous:
            self.loads[previous] -= 1
        if decision.rep_id:
            # the transaction's +1 is conditional on open_leads < capacity: the engine must never ask for more
            assert self.loads[decision.rep_id] < (decision.rep_capacity or 0)
            self.loads[decision.rep_id] += 1
            self.counted[lead.lead_id] = decision.rep_id
            if decision.pointer is not None:
                self.pointers[decision.pointer.group_id] = decision.pointer
        self.owner[lead.lead_id] = decision.owner_id

    @precondition(lambda self: self.roster is not None)
    @rule(lead=leads, tag=tags)
    def assign_new(self, lead: Lead, tag: TagResult) -> None:
        self.n += 1
        lead = lead.model_copy(update={"lead_id": sf_id18(f"00Q{self.n:012d}")})
        self._assign(lead, tag, set())

    @precondition(lambda self: self.counted)
    @rule(data=st.data(), kind=st.sampled_from(["closed", "attended", "deleted"]))
    def release(self, data, kind: str) -> None:
        lead_id = data.draw(st.sampled_from(sorted(self.counted)))
        rep = self.counted.pop(lead_id)  # the release transaction requires counted_rep_id and removes it:
        self.loads[rep] -= 1  # a second release (duplicate CDC event) finds none and changes no counter

    @precondition(lambda self: self.counted and self.roster is not None)
    @rule(data=st.data(), tag=tags)
    def reroute(self, data, tag: TagResult) -> None:
        lead_id = data.draw(st.sampled_from(sorted(self.counted)))
        current = self.counted[lead_id]
        lead = Lead(lead_id=lead_id, last_name="L", company="C")
        self._assign(lead, tag, {current})
        assert self.owner[lead_id] != current

    @invariant()
    def counters_equal_the_leads_they_count(self) -> None:
        truth = Counter(self.counted.values())
        assert +self.loads == truth
        assert all(v >= 0 for v in self.loads.values())


TestCounterConservation = CounterConservation.TestCase
