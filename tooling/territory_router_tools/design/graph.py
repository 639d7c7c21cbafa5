"""The building blocks as a graph: one node per county (or state, or 3-digit ZIP area), an edge where two share a
border.

Edges join blocks whose boundaries share a line (a "rook" adjacency: touching at a single point is not a shared
border). Land masses that share no border with the rest (Alaska, Hawaii, Puerto Rico, islands) are joined to the
nearest block of the largest land mass by a *bridge* edge, so every block can be placed in a territory; contiguity
is then judged per land mass (see ``pieces``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import shapely

from territory_router.territories.blocks import BlockCatalog, catalog

BLOCK_KINDS = {"counties": "county", "county": "county", "states": "state", "state": "state", "zip3": "zip3"}


class DesignError(ValueError):
    """Bad design input (one line, for the CLI)."""


@dataclass(eq=False)
class BlockGraph:
    kind: str  # "county" | "state" | "zip3"
    ids: list[str]  # block ids (FIPS, USPS or ZIP prefix), node n is ids[n]
    names: list[str]
    states: list[str]  # USPS code of each block
    geometries: np.ndarray  # shapely geometries (lon/lat)
    graph: nx.Graph  # nodes 0..n-1; edges with bridge=True join separate land masses
    land_mass: np.ndarray  # land-mass number of each node (components over shared borders)
    leads: np.ndarray = field(default_factory=lambda: np.zeros(0))  # leads per block (set by ``count_leads``)
    unplaced_leads: int = 0

    @property
    def keys(self) -> list[str]:
        return [f"{self.kind}:{i}" for i in self.ids]

    def index(self) -> dict[str, int]:
        return {block_id: n for n, block_id in enumerate(self.ids)}

    def label(self, n: int) -> str:
        return f"{self.names[n]}, {self.states[n]}" if self.kind == "county" else self.names[n]

    def count_leads(self, lonlat: np.ndarray, postal: Sequence[str | None] | None = None) -> None:
        """Leads per block: each located lead goes to the block that contains it (first by id on a border). With
        the leads' ZIPs (``postal``), as the tagger routes them: on ZIP3 blocks a lead with a ZIP goes to its
        prefix's block, whatever its coordinates say (the areas are approximations drawn from ZIP centroids, and
        the tagger lets a lead's ZIP decide there); on county and state blocks a lead whose point lies in no block
        (an offshore ZIP centroid) goes to the block of its ZIP's county."""
        self.leads = np.zeros(len(self.ids), dtype=np.int64)
        lonlat = np.array(lonlat, dtype=float, copy=True)
        index = self.index()
        codes = list(postal) if postal is not None else [None] * len(lonlat)
        if self.kind == "zip3":
            by_prefix = np.array([index.get(code[:3], -1) if code else -1 for code in codes], dtype=np.int64)
            listed = by_prefix >= 0
            np.add.at(self.leads, by_prefix[listed], 1)
            lonlat[listed] = np.nan  # counted: not again by their point
        else:
            listed = np.zeros(len(lonlat), dtype=bool)
        block = self.block_of_points(lonlat)
        if self.kind != "zip3" and postal is not None:
            cat = catalog()
            for i in np.flatnonzero(block < 0).tolist():
                fips = cat.county_of_zip(codes[i]) if codes[i] else None
                if fips is not None:
                    block[i] = index.get(fips if self.kind == "county" else cat.counties[fips].state, -1)
        np.add.at(self.leads, block[block >= 0], 1)
        self.unplaced_leads = int(np.count_nonzero((block < 0) & ~listed))

    def block_of_points(self, lonlat: np.ndarray) -> np.ndarray:
        """The block (node) containing each point (the first by id on a border), -1 where none does."""
        out = np.full(len(lonlat), -1, dtype=np.int64)
        ok = np.flatnonzero(~np.isnan(lonlat[:, 0]))
        if not len(ok):
            return out
        point_idx, block_idx = self._tree.query(shapely.points(lonlat[ok]), predicate="intersects")
        best = np.full(len(ok), len(self.ids), dtype=np.int64)
        np.minimum.at(best, point_idx, block_idx)
        found = best < len(self.ids)
        out[ok[found]] = best[found]
        return out

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geometries)

    def pieces(self, nodes: Sequence[int]) -> tuple[int, int]:
        """``(pieces, land_masses)`` of a set of blocks: its connected pieces over shared borders, and the land
        masses those pieces lie on. A territory is contiguous when ``pieces == land_masses``: one piece per land
        mass (a piece on an island or in Alaska, which no shared border could join, is excepted)."""
        sub = self.graph.subgraph(nodes)
        land = nx.Graph()
        land.add_nodes_from(sub.nodes)
        land.add_edges_from((a, b) for a, b, bridge in sub.edges(data="bridge") if not bridge)
        components = list(nx.connected_components(land))
        masses = {int(self.land_mass[next(iter(c))]) for c in components}
        return len(components), len(masses)


def build_graph(kind: str = "counties", within: Sequence[str] | None = None, cat: BlockCatalog | None = None) -> BlockGraph:
    """The block graph of ``kind`` (counties, states or zip3), optionally only inside some states (USPS codes; a
    ZIP3 area belongs to the state holding most of its ZIPs)."""
    cat = cat or catalog()
    block_kind = BLOCK_KINDS.get(kind.lower())
    if block_kind is None:
        raise DesignError(f"--blocks {kind!r}: use counties, states or zip3")
    wanted = None
    if within:
        wanted = {s.strip().upper() for s in within if s.strip()}
        unknown = sorted(wanted - set(cat.state_fips))
        if unknown:
            raise DesignError(f"--within: {', '.join(unknown)} not US state codes (USPS, e.g. CO,UT)")
    ids, names, states, geoms = [], [], [], []
    if block_kind == "county":
        for fips, county in sorted(cat.counties.items()):
            if county.geometry is None or (wanted and county.state not in wanted):
                continue
            ids.append(fips)
            names.append(county.name)
            states.append(county.state)
            geoms.append(county.geometry)
    elif block_kind == "zip3":
        for prefix, geometry in sorted(cat.zip3_areas.items()):
            state = cat.zip3_states[prefix][0]
            if wanted and state not in wanted:
                continue
            ids.append(prefix)
            names.append(f"({', '.join(cat.zip3_states[prefix])})")
            states.append(state)
            geoms.append(geometry)
    else:
        for usps in sorted(cat.state_fips):
            if wanted and usps not in wanted:
                continue
            geometry = cat.state_geometry(usps)
            if geometry is None:
                continue
            ids.append(usps)
            names.append(cat.state_names.get(usps, usps))
            states.append(usps)
            geoms.append(geometry)
    if not ids:
        raise DesignError("no building blocks to work with")
    geometries = np.array(geoms, dtype=object)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(ids)))
    tree = shapely.STRtree(geometries)
    a, b = tree.query(geometries, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        shared = shapely.length(shapely.intersection(geometries[a], geometries[b])) > 0
        graph.add_edges_from(zip(a[shared].tolist(), b[shared].tolist(), strict=True), bridge=False)
    components = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c)))
    land_mass = np.zeros(len(ids), dtype=np.int64)
    for number, component in enumerate(components):
        land_mass[list(component)] = number
    if len(components) > 1:
        main = np.array(sorted(components[0]))
        main_tree = shapely.STRtree(geometries[main])
        for component in components[1:]:
            nodes = np.array(sorted(component))
            near_a, near_b = main_tree.query_nearest(geometries[nodes], return_distance=False)
            distance = shapely.distance(geometries[nodes][near_a], geometries[main][near_b])
            j = int(np.argmin(distance))
            graph.add_edge(int(nodes[near_a[j]]), int(main[near_b[j]]), bridge=True)
    return BlockGraph(block_kind, ids, names, states, geometries, graph, land_mass)

