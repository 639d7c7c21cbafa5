"""Balanced, contiguous territories from building blocks, and the smallest repair of an existing alignment.

**Proposal**: GerryChain's recursive tree partition (``gerrychain.partition.recursive_tree_part``), the seed-plan
generator of the redistricting MCMC toolkit: it draws a random spanning tree of the block graph, cuts the edge that
splits off one territory's worth of leads (within ``epsilon`` of the target), and recurses. Every territory is
therefore a connected subtree of the block graph: contiguous over shared borders, except blocks on other land
masses, which hang on the graph by a bridge. If no balanced cut exists at ``epsilon`` (large blocks, such as states),
the tolerance is doubled until one does (reported). docs/territories.md says why this library and what it measured.

**Keep** (``repair``): start from the current alignment and move as few blocks as possible. The leads each
territory must give or take travel along the territory adjacency graph as a minimum-cost flow (networkx); each
unit of flow from A to B is then realised by moving A's border blocks next to B into B, the largest that fit
first (fewest blocks), never a block whose removal would cut A in two (articulation points). Rounds repeat until
the coefficient of variation is at most the target or nothing more can move.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from functools import partial

import networkx as nx
import numpy as np

from territory_router_tools.design.balance import cv
from territory_router_tools.design.graph import BlockGraph, DesignError

MAX_EPSILON = 0.5


def _gerrychain():
    try:
        from gerrychain import Graph
        from gerrychain.partition import recursive_tree_part
        from gerrychain.tree import bipartition_tree
    except ImportError as exc:  # pragma: no cover - the design extra is part of the dev install
        raise DesignError(
            "the proposal needs GerryChain: pip install 'territory-router[design]'"
        ) from exc
    return Graph, recursive_tree_part, bipartition_tree


def propose(graph: BlockGraph, k: int, *, seed: int = 0, epsilon: float = 0.02) -> tuple[np.ndarray, float]:
    """``(assignment, epsilon used)``: territory number (0..k-1) of each block, balanced on ``graph.leads``."""
    n = len(graph.ids)
    if k < 1:
        raise DesignError("--k must be at least 1")
    if k > n:
        raise DesignError(f"--k {k} is more territories than there are blocks ({n})")
    if k == 1:
        return np.zeros(n, dtype=np.int64), 0.0
    total = int(graph.leads.sum())
    if total == 0:
        raise DesignError("no lead falls in any building block: nothing to balance")
    Graph, recursive_tree_part, bipartition_tree = _gerrychain()
    nxg = nx.Graph()
    # GerryChain balances one node attribute; a block with no lead still weighs a little so that territories
    # without leads (empty countryside) are not all lumped together.
    floor = max(total * 1e-6, 1e-3)
    for node in range(n):
        nxg.add_node(node, leads=float(graph.leads[node]) + floor)
    nxg.add_edges_from(graph.graph.edges)
    gc_graph = Graph.from_networkx(nxg)
    target = sum(d["leads"] for _, d in nxg.nodes(data=True)) / k
    rng = random.Random(seed)
    eps = epsilon
    while True:
        try:
            parts = recursive_tree_part(
                gc_graph, range(k), target, "leads", eps,
                bipartition_tree_fn=partial(bipartition_tree, max_attempts=2000, allow_pair_reselection=True),
                rng=rng,
            )  # fmt: skip
            break
        except Exception as exc:  # gerrychain raises RuntimeError/BalanceError/... when no cut fits
            if eps >= MAX_EPSILON:
                raise DesignError(
                    f"no contiguous split into {k} territories within ±{eps:.0%} of the mean: use smaller blocks "
                    f"or fewer territories ({type(exc).__name__})"
                ) from exc
            eps = min(MAX_EPSILON, eps * 2)
    assignment = np.array([parts[node] for node in range(n)], dtype=np.int64)
    return _order_west_to_east(graph, assignment, k), eps


def _order_west_to_east(graph: BlockGraph, assignment: np.ndarray, k: int) -> np.ndarray:
    """Territory numbers by the longitude of their leads' centre of mass (T01 is the westernmost)."""
    x = np.array([g.centroid.x for g in graph.geometries])
    weights = graph.leads + 1e-9
    centre = [np.average(x[assignment == t], weights=weights[assignment == t]) for t in range(k)]
    rank = np.argsort(np.argsort(centre))
    return rank[assignment]


def names_for(graph: BlockGraph, assignment: np.ndarray, k: int) -> tuple[list[str], list[str]]:
    """Ids ``T01``... and names from the states holding most of each territory's leads (``West: CA, NV``)."""
    width = max(2, len(str(k)))
    ids = [f"T{t + 1:0{width}d}" for t in range(k)]
    names = []
    for t in range(k):
        by_state: dict[str, float] = {}
        for node in np.flatnonzero(assignment == t):
            by_state[graph.states[node]] = by_state.get(graph.states[node], 0) + graph.leads[node] + 1e-6
        top = sorted(by_state, key=lambda s: -by_state[s])
        names.append(", ".join(top[:3]) + (" +" if len(top) > 3 else ""))
    return ids, names


def to_block_csv(graph: BlockGraph, assignment: np.ndarray, ids: Sequence[str], names: Sequence[str]) -> bytes:
    """The block CSV upload accepts (rows grouped by territory, blocks sorted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["territory_id", "territory_name", "block_type", "block_id"])
    for t, (tid, name) in enumerate(zip(ids, names, strict=True)):
        for node in sorted(np.flatnonzero(assignment == t), key=lambda n: graph.ids[n]):
            writer.writerow([tid, name, graph.kind, graph.ids[node]])
    return out.getvalue().encode()


# --------------------------------------------------------------------------------------------------- keep


def fill_unassigned(graph: BlockGraph, assignment: np.ndarray) -> np.ndarray:
    """Blocks in no territory join the territory of a neighbour (breadth first), so the repair starts complete."""
    out = assignment.copy()
    if (out >= 0).sum() == 0:
        raise DesignError("the existing alignment covers none of the building blocks")
    frontier = [n for n in range(len(out)) if out[n] >= 0]
    while (out < 0).any():
        nxt = []
        for node in frontier:
            for other in graph.graph.neighbors(node):
                if out[other] < 0:
                    out[other] = out[node]
                    nxt.append(other)
        if not nxt:
            break
        frontier = nxt
    return out


def repair(
    graph: BlockGraph, assignment: np.ndarray, k: int, *, target_cv: float = 0.05, max_rounds: int = 200
) -> np.ndarray:
    """Move as few blocks as possible until the CV of leads per territory is at most ``target_cv``."""
    out = fill_unassigned(graph, assignment)
    leads = graph.leads.astype(np.int64)
    band = 0.5  # each round brings territories within band x target of the mean; narrower when that falls short
    for _ in range(max_rounds):
        loads = np.bincount(out, weights=leads, minlength=k)
        if cv(loads) <= target_cv:
            break
        mean = loads.sum() / k
        flows = _flows(graph, out, loads, mean, target_cv * mean * band, k)
        moved_any = False
        for (a, b), amount in sorted(flows.items(), key=lambda item: -item[1]):
            moved_any |= _move(graph, out, leads, a, b, amount)
        if not moved_any and band < 0.05:
            break
        band *= 0.7
    return out


def _territory_graph(graph: BlockGraph, assignment: np.ndarray) -> nx.Graph:
    tg = nx.Graph()
    tg.add_nodes_from(set(assignment.tolist()))
    for u, v in graph.graph.edges:
        a, b = int(assignment[u]), int(assignment[v])
        if a != b:
            tg.add_edge(a, b)
    return tg


def _flows(graph, assignment, loads, mean, slack, k) -> dict[tuple[int, int], int]:
    """Leads to move between adjacent territories: a minimum-cost flow from those above the band to those below."""
    tg = _territory_graph(graph, assignment)
    demand = np.zeros(k, dtype=np.int64)
    for t in range(k):
        # only what brings each territory back to the edge of the band: fewer blocks than aiming at the mean
        if loads[t] > mean + slack:
            demand[t] = -round(loads[t] - mean - slack)
        elif loads[t] < mean - slack:
            demand[t] = round(mean - slack - loads[t])
    if not demand.any():
        return {}
    flow_graph = nx.DiGraph()
    sink = "balance"
    for t in range(k):
        flow_graph.add_node(t, demand=int(demand[t]))
    # territories inside the band may absorb or give the difference between supply and demand
    flow_graph.add_node(sink, demand=int(-demand.sum()))
    for t in range(k):
        flow_graph.add_edge(t, sink, weight=1000)
        flow_graph.add_edge(sink, t, weight=1000)
    for a, b in tg.edges:
        flow_graph.add_edge(a, b, weight=1)
        flow_graph.add_edge(b, a, weight=1)
    try:
        flow = nx.min_cost_flow(flow_graph)
    except nx.NetworkXUnfeasible:
        return {}
    return {(a, b): f for a, row in flow.items() if a != sink for b, f in row.items() if b != sink and f > 0}


def _move(graph: BlockGraph, assignment: np.ndarray, leads: np.ndarray, a: int, b: int, amount: int) -> bool:
    """Move border blocks of ``a`` next to ``b`` into ``b``, about ``amount`` leads, keeping ``a`` in one piece.

    When every border block is empty (countryside between the two), the shortest run of blocks through ``a`` to a
    block with leads moves with it (at most ``MAX_PATH`` blocks), so the border can still advance."""
    remaining = amount
    moved = False
    while remaining > 0:
        members = set(np.flatnonzero(assignment == a).tolist())
        if len(members) <= 1:
            break
        sub = graph.graph.subgraph(members)
        cut = set(nx.articulation_points(sub))
        border = [n for n in members if n not in cut and any(assignment[m] == b for m in graph.graph.neighbors(n))]
        fits = [n for n in border if 0 < leads[n] <= remaining * 1.5]
        if fits:
            # the largest that does not overshoot by more than half: fewest blocks for the same leads
            best = max(fits, key=lambda n: (min(leads[n], 2 * remaining - leads[n]), -n))
            assignment[best] = b
            remaining -= int(leads[best])
            moved = True
            continue
        path = _path_to_leads(graph, sub, border, leads, remaining)
        if not path:
            break
        for node in path:
            if node in set(nx.articulation_points(graph.graph.subgraph(np.flatnonzero(assignment == a).tolist()))):
                return moved
            assignment[node] = b
            remaining -= int(leads[node])
            moved = True
    return moved


MAX_PATH = 6


def _path_to_leads(graph, sub, border, leads, remaining) -> list[int]:
    """The shortest chain of blocks from ``border`` into the territory that ends on a block worth moving."""
    seen = {n: None for n in border}
    frontier = list(border)
    for _ in range(MAX_PATH):
        nxt = []
        for node in frontier:
            if 0 < leads[node] <= remaining * 1.5:
                path = [node]
                while seen[path[-1]] is not None:
                    path.append(seen[path[-1]])
                return path[::-1]
            for other in sub.neighbors(node):
                if other not in seen:
                    seen[other] = node
                    nxt.append(other)
        frontier = nxt
    return []
