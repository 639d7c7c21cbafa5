"""Building blocks: territories defined as lists of US states, counties, 3-digit ZIP areas and ZIP codes.

A block CSV (``territory_id,territory_name,block_type,block_id``) compiles to the same ``Territory`` a drawn
polygon does, so the index, the tagger and the map need nothing new:

========== ========================== ============================================================================
block_type block_id                   compiles to
========== ========================== ============================================================================
state      USPS code or 2-digit FIPS  the union of its counties (polygon) + the region ``US-XX`` (state fallback)
county     5-digit FIPS               its polygon (dissolved with the territory's other blocks) + the ZIPs inside
zip3       3-digit ZIP prefix         the postal key ``US 941`` (the tagger's ZIP3 postal fallback) + its approximate
                                      area (dissolved with the territory's other blocks; the lead's ZIP decides
                                      inside it, see ``tagging/triage.py``)
zip        5-digit ZIP                the postal code ``US 94105`` (exact postal fallback); no polygon
========== ========================== ============================================================================

ZIP3 areas are approximations of the USPS 3-digit ZIP areas, not official boundaries (USPS publishes none;
Census ZCTAs are 5-digit): per state, the Voronoi cells of the gazetteer's ZIP centroids, clipped to the state and
dissolved per prefix, then simplified as one coverage (``scripts/build_blocks.py``).

Block geometry comes from ``data/us_blocks.bin`` (built by ``scripts/build_blocks.py`` from US Census 2017
county boundaries): per county its FIPS code, name, state and polygons, coordinates as int32 multiples of 1e-6°,
delta-encoded and zlib-compressed, plus every located US ZIP of the gazetteer with the county its centroid lies in
(see ``BlockCatalog.postal_keys``). Counties share exact borders, so a territory's counties dissolve with
``shapely.coverage_union_all`` without slivers.

Overlaps and gaps of block territories are reported per block: a county (or a whole state) listed by two
territories, and every county of a state the set touches that no territory lists.

Runtime code: pure (numpy + shapely), no design libraries.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from territory_router.territories import packing

MAGIC = b"TRBK"
FORMAT_VERSION = 2
SCALE = 1_000_000  # coordinates are int32 multiples of 1/SCALE degrees
ZIP3_SCALE = 10_000  # ZIP3 areas are approximations (simplified to about 1 km): 1e-4° (11 m) keeps their shared edges exact
_HEADER = struct.Struct("<4sHHI")

BLOCK_TYPES = ("state", "county", "zip3", "zip")
ARTIFACT = "us_blocks.bin"


class BlockError(ValueError):
    """A block id or type that is not a building block."""


# --------------------------------------------------------------------------------------------------- artifact


def write_artifact(
    counties: Iterable[tuple[str, str, str, list]],
    *,
    state_fips: dict[str, str],
    state_names: dict[str, str],
    zips: dict[str, str] | None = None,
    zip_source: dict[str, Any] | None = None,
    zip3: Iterable[tuple[str, Sequence[str], BaseGeometry]] = (),
) -> bytes:
    """The artifact bytes for ``(fips, name, usps, polygons)`` rows (polygons: GeoJSON polygon coordinates) and
    ``zips``: ZIP -> the county FIPS it belongs to (its centroid's county).

    ``zip3``: ``(prefix, states, geometry)`` of the approximate 3-digit ZIP areas (``scripts/build_blocks.py``).

    Layout: header, JSON metadata (counties, states, ZIP3 areas, section lengths), then three zlib sections: the
    county coordinates (x and y deltas as int32 runs), the ZIPs (sorted ZIP numbers as uint32 deltas, then each
    ZIP's county as an int16 position in the metadata's county list) and the ZIP3 area coordinates (as the
    counties', at ``ZIP3_SCALE``)."""
    rows = list(counties)
    position = {fips: n for n, (fips, *_rest) in enumerate(rows)}
    county_parts, coords_z = packing.pack((polygons for *_rest, polygons in rows), SCALE)
    meta_counties = [[fips, name, usps, parts] for (fips, name, usps, _), parts in zip(rows, county_parts, strict=True)]
    pairs = sorted((int(code), position[fips]) for code, fips in (zips or {}).items())
    numbers = np.array([p[0] for p in pairs], dtype=np.int64)
    zip_deltas = np.diff(numbers, prepend=0).astype("<u4")
    owners = np.array([p[1] for p in pairs], dtype="<i2")
    zips_z = zlib.compress(zip_deltas.tobytes() + owners.tobytes(), 9)
    zip3_rows = list(zip3)
    zip3_parts, zip3_z = packing.pack((packing.rings_of(g) for _, _, g in zip3_rows), ZIP3_SCALE)
    meta = {
        "format": FORMAT_VERSION,
        "scale": SCALE,
        "counties": meta_counties,
        "state_fips": state_fips,
        "state_names": state_names,
        "zip_count": len(pairs),
        "zip3": [[prefix, list(states), parts] for (prefix, states, _), parts in zip(zip3_rows, zip3_parts, strict=True)],
        "zip3_scale": ZIP3_SCALE,
        "sections": [len(coords_z), len(zips_z), len(zip3_z)],
        "source": "US Census Bureau 2017 county boundaries via us-atlas (ISC); see data/ATTRIBUTION.md",
        "zip_source": zip_source or {},
    }
    meta_bytes = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(meta_bytes)) + meta_bytes + coords_z + zips_z + zip3_z


@dataclass(frozen=True, slots=True)
class County:
    fips: str
    name: str
    state: str  # USPS code
    geometry: BaseGeometry | None  # None when the county has no area at this scale (e.g. 51610 Falls Church)

    @property
    def label(self) -> str:
        return f"{self.name}, {self.state}"


@dataclass(eq=False)
class BlockCatalog:
    """Every building block: counties with geometry, states as unions of counties, ZIP areas as postal keys, and
    every located US ZIP with the county its centroid lies in."""

    counties: dict[str, County]
    state_fips: dict[str, str]  # USPS -> FIPS
    state_names: dict[str, str]  # USPS -> name
    by_state: dict[str, tuple[str, ...]] = field(default_factory=dict)  # USPS -> county FIPS codes
    zip_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sorted ZIPs as numbers
    zip_county: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # position in county_order
    county_order: tuple[str, ...] = ()  # county FIPS in artifact order (what zip_county points into)
    zip_source: dict[str, Any] = field(default_factory=dict)
    zip3_states: dict[str, tuple[str, ...]] = field(default_factory=dict)  # prefix -> states (most ZIPs first)
    _zip3_packed: tuple[list, bytes, int] | None = field(default=None, repr=False)
    _state_geoms: dict[str, BaseGeometry | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockCatalog:
        magic, version, _reserved, meta_len = _HEADER.unpack_from(data, 0)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise ValueError("not a building-block artifact this code can read")
        meta = json.loads(data[_HEADER.size : _HEADER.size + meta_len])
        start = _HEADER.size + meta_len
        coords_len, zips_len, zip3_len = meta["sections"]
        geometries = packing.unpack([parts for *_, parts in meta["counties"]], data[start : start + coords_len],
                                    meta["scale"])  # fmt: skip
        counties: dict[str, County] = {}
        order: list[str] = []
        for (fips, name, usps, _), polygons in zip(meta["counties"], geometries, strict=True):
            counties[fips] = County(fips, name, usps, _area(polygons))
            order.append(fips)
        by_state: dict[str, list[str]] = {}
        for fips, county in counties.items():
            by_state.setdefault(county.state, []).append(fips)
        n = int(meta["zip_count"])
        zraw = zlib.decompress(data[start + coords_len : start + coords_len + zips_len])
        numbers = np.cumsum(np.frombuffer(zraw, dtype="<u4", count=n).astype(np.int64))
        owners = np.frombuffer(zraw, dtype="<i2", count=n, offset=4 * n).astype(np.int64)
        return cls(
            counties=counties,
            state_fips=dict(meta["state_fips"]),
            state_names=dict(meta["state_names"]),
            by_state={s: tuple(sorted(c)) for s, c in by_state.items()},
            zip_numbers=numbers,
            zip_county=owners,
            county_order=tuple(order),
            zip_source=dict(meta.get("zip_source") or {}),
            zip3_states={prefix: tuple(states) for prefix, states, _ in meta["zip3"]},
            _zip3_packed=(
                [parts for _, _, parts in meta["zip3"]],
                data[start + coords_len + zips_len : start + coords_len + zips_len + zip3_len],
                int(meta["zip3_scale"]),
            ),
        )

    @cached_property
    def zip3_areas(self) -> dict[str, BaseGeometry]:
        """Prefix -> its approximate area (decoded on first use: only ZIP3 blocks need it)."""
        if self._zip3_packed is None:
            return {}
        parts, data, scale = self._zip3_packed
        geometries = [_area(polygons) for polygons in packing.unpack(parts, data, scale)]
        return {p: g for p, g in zip(self.zip3_states, geometries, strict=True) if g is not None}

    @cached_property
    def zips(self) -> dict[str, tuple[str, ...]]:
        """County FIPS -> the ZIPs whose centroid lies in it (sorted)."""
        out: dict[str, list[str]] = {}
        for number, owner in zip(self.zip_numbers.tolist(), self.zip_county.tolist(), strict=True):
            out.setdefault(self.county_order[owner], []).append(f"{number:05d}")
        return {fips: tuple(codes) for fips, codes in out.items()}

    def county_of_zip(self, code: str) -> str | None:
        """The county FIPS of a 5-digit ZIP (by its centroid), None for a ZIP the catalog does not locate."""
        if len(code) != 5 or not code.isdigit():
            return None
        number = int(code)
        i = int(np.searchsorted(self.zip_numbers, number))
        if i < len(self.zip_numbers) and int(self.zip_numbers[i]) == number:
            return self.county_order[int(self.zip_county[i])]
        return None

    @cached_property
    def zip3_counties(self) -> dict[str, frozenset[str]]:
        """ZIP3 prefix -> the counties its ZIPs fall in."""
        out: dict[str, set[str]] = {}
        for fips, codes in self.zips.items():
            for code in codes:
                out.setdefault(code[:3], set()).add(fips)
        return {k: frozenset(v) for k, v in out.items()}

    def postal_keys(self, county_ids: set[str]) -> set[str]:
        """The postal keys a set of counties answers for, compactly: the ZIP3 prefixes all of whose located ZIPs
        lie in them (a lead with any ZIP of the prefix matches, also one the gazetteer does not know), and the
        ZIPs lying in them whose prefix is split with other counties."""
        codes = {code for f in county_ids for code in self.zips.get(f, ())}
        whole = {code[:3] for code in codes if self.zip3_counties[code[:3]] <= county_ids}
        return whole | {code for code in codes if code[:3] not in whole}

    @cached_property
    def fips_to_state(self) -> dict[str, str]:
        return {fips: usps for usps, fips in self.state_fips.items()}

    def state_geometry(self, usps: str) -> BaseGeometry | None:
        if usps not in self._state_geoms:
            self._state_geoms[usps] = dissolve(self.counties[f].geometry for f in self.by_state.get(usps, ()))
        return self._state_geoms[usps]

    # ------------------------------------------------------------------ ids

    def normalise(self, block_type: str, block_id: str) -> str:
        """The canonical id of a block (``county`` ``8031`` -> ``08031``), or ``BlockError`` with the reason."""
        kind = block_type.strip().lower()
        value = str(block_id).strip().upper()
        if value.endswith(".0"):  # a spreadsheet read the id as a number
            value = value[:-2]
        if kind == "state":
            if value in self.state_fips:
                return value
            if value.isdigit() and value.zfill(2) in self.fips_to_state:
                return self.fips_to_state[value.zfill(2)]
            raise BlockError(f"state {block_id!r} is not a US state (USPS code such as CO, or 2-digit FIPS)")
        if kind == "county":
            if value.isdigit() and len(value) <= 5 and value.zfill(5) in self.counties:
                return value.zfill(5)
            raise BlockError(f"county {block_id!r} is not a US county FIPS code (5 digits, e.g. 08031)")
        if kind == "zip3":
            if re.fullmatch(r"\d{1,3}", value):
                return value.zfill(3)
            raise BlockError(f"zip3 {block_id!r} is not a 3-digit ZIP prefix (e.g. 802)")
        if kind == "zip":
            from territory_router.geography.postal import normalise_postal_code

            code = normalise_postal_code(value, "US") if re.fullmatch(r"\d{3,5}(-\d{4})?", value) else None
            if code is None:
                raise BlockError(f"zip {block_id!r} is not a 5-digit US ZIP code")
            return code
        raise BlockError(f"block_type {block_type!r} is not one of {', '.join(BLOCK_TYPES)}")

    def counties_of(self, key: str) -> tuple[str, ...]:
        """County FIPS codes a ``type:id`` key covers (a state: all its counties; ZIP keys: none)."""
        kind, _, value = key.partition(":")
        if kind == "county":
            return (value,)
        if kind == "state":
            return self.by_state.get(value, ())
        return ()

    def label(self, key: str) -> str:
        kind, _, value = key.partition(":")
        if kind == "county":
            return f"county {value} ({self.counties[value].label})"
        if kind == "state":
            return f"state {value} ({self.state_names.get(value, value)})"
        if kind == "zip3" and value in self.zip3_states:
            return f"zip3 {value} ({', '.join(self.zip3_states[value])})"
        return f"{kind} {value}"

    def geometry(self, key: str) -> BaseGeometry | None:
        kind, _, value = key.partition(":")
        if kind == "county":
            return self.counties[value].geometry
        if kind == "state":
            return self.state_geometry(value)
        if kind == "zip3":
            return self.zip3_areas.get(value)
        return None


def _area(polygons: list[packing.Rings]) -> BaseGeometry | None:
    """A block's geometry from its unpacked rings (rings too short for a polygon dropped), None without area."""
    return _valid_area(
        [shapely.Polygon(rings[0], [r for r in rings[1:] if len(r) >= 4]) for rings in polygons if len(rings[0]) >= 4]
    )


def _valid_area(polygons: list) -> BaseGeometry | None:
    polygons = [p for p in polygons if p.area > 0]
    if not polygons:
        return None
    geometry = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
    if not geometry.is_valid:
        from territory_router.territories.geo import polygonal_part

        geometry = polygonal_part(shapely.make_valid(geometry))
    return geometry


def dissolve(geometries: Iterable[BaseGeometry | None]) -> BaseGeometry | None:
    """One (multi)polygon of adjacent blocks. Counties form a coverage (shared edges are identical), which
    ``coverage_union_all`` dissolves in linear time; anything else falls back to ``union_all``."""
    parts = [g for g in geometries if g is not None and not g.is_empty]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    try:
        merged = shapely.coverage_union_all(parts)
        if not merged.is_valid:
            raise ValueError("not a clean coverage")
    except (shapely.errors.GEOSException, ValueError):
        merged = shapely.union_all(parts)
    from territory_router.territories.geo import polygonal_part

    return polygonal_part(merged)


@cache
def catalog() -> BlockCatalog:
    """The shipped catalog (loaded once per process: about 0.1 s)."""
    data = resources.files("territory_router.data").joinpath(ARTIFACT).read_bytes()
    return BlockCatalog.from_bytes(data)


# --------------------------------------------------------------------------------------------------- compile


@dataclass
class CompiledBlocks:
    """What a territory's block list compiles to (before the territory's own validation)."""

    keys: list[str]  # canonical "type:id", sorted, unique
    geometry: BaseGeometry | None
    regions: set[tuple[str, str | None]]
    postal_codes: set[tuple[str, str]]
    errors: list[tuple[str, str]]  # (reason, code)
    warnings: list[tuple[str, str]]


def compile_blocks(blocks: Sequence[tuple[str, str, str]], cat: BlockCatalog | None = None) -> CompiledBlocks:
    """``blocks``: ``(where, block_type, block_id)`` rows of one territory (``where`` names the CSV line)."""
    cat = cat or catalog()
    keys: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    for where, block_type, block_id in blocks:
        try:
            value = cat.normalise(block_type, block_id)
        except BlockError as exc:
            code = "bad_block_type" if "block_type" in str(exc) else "unknown_block"
            errors.append((f"{where}: {exc}", code))
            continue
        key = f"{block_type.strip().lower()}:{value}"
        if key in keys:
            warnings.append((f"{where}: {cat.label(key)} is listed twice (also {keys[key]})", "duplicate_block"))
            continue
        keys[key] = where
    county_ids: set[str] = set()
    regions: set[tuple[str, str | None]] = set()
    postal: set[tuple[str, str]] = set()
    for key in keys:
        kind, _, value = key.partition(":")
        if kind == "state":
            regions.add(("US", value))
        elif kind in ("zip", "zip3"):
            postal.add(("US", value))
        county_ids.update(cat.counties_of(key))
    # county and state blocks answer for the ZIPs inside them too (the tagger's postal step, for leads without
    # coordinates): the ZIP3 prefixes wholly inside, and the ZIPs of the prefixes they share with other counties
    postal |= {("US", code) for code in cat.postal_keys(county_ids)}
    empty = sorted(f for f in county_ids if cat.counties[f].geometry is None)
    for fips in empty:
        warnings.append(
            (
                f"county {fips} ({cat.counties[fips].label}) has no area in the boundary data; leads there are "
                "tagged by the county around it or by postal code",
                "block_without_area",
            )
        )
    zip3_keys = sorted(key for key in keys if key.startswith("zip3:"))
    for key in zip3_keys:
        if cat.geometry(key) is None:
            warnings.append(
                (f"{keys[key]}: zip3 {key[5:]} has no located ZIP: it routes leads by postal code only (no area)",
                 "zip3_without_area")  # fmt: skip
            )
    parts = [cat.counties[f].geometry for f in sorted(county_ids)] + [cat.geometry(k) for k in zip3_keys]
    geometry = dissolve(parts) if county_ids or zip3_keys else None
    return CompiledBlocks(sorted(keys), geometry, regions, postal, errors, warnings)


# --------------------------------------------------------------------------------------------------- overlaps / gaps


def block_keys(metadata: dict[str, Any]) -> list[str]:
    value = metadata.get("blocks") if metadata else None
    return list(value) if isinstance(value, list) else []


def _collapse(cat: BlockCatalog, counties: set[str]) -> list[str]:
    """County FIPS codes as block keys, a whole state as one ``state:XX`` key."""
    out: list[str] = []
    by_state: dict[str, list[str]] = {}
    for fips in counties:
        by_state.setdefault(cat.counties[fips].state, []).append(fips)
    for usps, fips_list in sorted(by_state.items()):
        if len(fips_list) == len(cat.by_state.get(usps, ())) and len(fips_list) > 1:
            out.append(f"state:{usps}")
        else:
            out.extend(f"county:{f}" for f in sorted(fips_list))
    return out


def _units(cat: BlockCatalog, key: str) -> tuple[str, ...]:
    """The smallest blocks a ``type:id`` key covers, as keys: counties (a state: all its counties), or the ZIP3 area
    itself (ZIP keys: none, they have no area)."""
    if key.startswith("zip3:"):
        return (key,) if key[5:] in cat.zip3_areas else ()
    return tuple(f"county:{f}" for f in cat.counties_of(key))


def _collapse_units(cat: BlockCatalog, units: set[str]) -> list[str]:
    counties = {u[7:] for u in units if u.startswith("county:")}
    return _collapse(cat, counties) + sorted(u for u in units if u.startswith("zip3:"))


def block_overlaps(territories: Sequence[Any], leads_xy: np.ndarray | None, cat: BlockCatalog | None = None):
    """One ``Overlap`` per block (county, a whole state, or ZIP3 area) listed by two block territories.
    ``territories`` are in precedence order: the first that lists a block wins it."""
    from territory_router.territories import geo
    from territory_router.territories.overlaps import count_points, resolution_text
    from territory_router.territories.report import Overlap

    cat = cat or catalog()
    owners: dict[str, list[int]] = {}
    for position, territory in enumerate(territories):
        for key in block_keys(territory.metadata):
            for unit in _units(cat, key):
                owners.setdefault(unit, []).append(position)
    pairs: dict[tuple[int, int], set[str]] = {}
    for unit, positions in owners.items():
        if len(positions) > 1:
            first = min(positions)
            for other in sorted(set(positions) - {first}):
                pairs.setdefault((first, other), set()).add(unit)
    out = []
    for (a, b), units in sorted(pairs.items()):
        winner, loser = territories[a], territories[b]
        for key in _collapse_units(cat, units):
            shape = cat.geometry(key)
            out.append(
                Overlap(
                    a=winner.territory_id,
                    b=loser.territory_id,
                    area_km2=geo.area_km2(shape),
                    winner=winner.territory_id,
                    resolution=resolution_text(winner, loser),
                    centroid=geo.representative_lonlat(shape) if shape is not None else None,
                    bbox=geo.rounded_bbox(shape) if shape is not None else None,
                    leads=count_points(shape, leads_xy) if shape is not None else None,
                    block=cat.label(key),
                    geometry=shape,
                )
            )
    return out


def block_gaps(territories: Sequence[Any], leads_xy: np.ndarray | None, cat: BlockCatalog | None = None):
    """One ``Gap`` per block of a state the block territories touch that no territory covers: its counties when the
    set lists counties or states there, its ZIP3 areas when it lists ZIP3 areas there (a block whose inside point
    another territory's polygon covers, a drawn one included, is not a gap)."""
    from territory_router.territories import geo
    from territory_router.territories.overlaps import count_points
    from territory_router.territories.report import Gap

    cat = cat or catalog()
    listed: set[str] = set()
    for territory in territories:
        for key in block_keys(territory.metadata):
            listed.update(_units(cat, key))
    if not listed:
        return []
    county_states = {cat.counties[u[7:]].state for u in listed if u.startswith("county:")}
    zip3_states = {cat.zip3_states[u[5:]][0] for u in listed if u.startswith("zip3:")}
    missing = {f"county:{f}" for s in county_states for f in cat.by_state[s]
               if f"county:{f}" not in listed and cat.counties[f].geometry is not None}  # fmt: skip
    missing |= {f"zip3:{p}" for p in cat.zip3_areas if cat.zip3_states[p][0] in zip3_states and f"zip3:{p}" not in listed}
    covered = [t.geometry for t in territories if t.geometry is not None]
    if covered and missing:
        union = shapely.union_all(covered)
        missing = {u for u in missing if not union.covers(cat.geometry(u).representative_point())}
    out = []
    for key in _collapse_units(cat, missing):
        shape = cat.geometry(key)
        out.append(
            Gap(
                area_km2=geo.area_km2(shape),
                centroid=geo.representative_lonlat(shape),
                bbox=geo.rounded_bbox(shape),
                leads=count_points(shape, leads_xy),
                block=cat.label(key),
                geometry=shape,
            )
        )
    out.sort(key=lambda g: -g.area_km2)
    return out


def block_outlines(territories: Sequence[Any], cat: BlockCatalog | None = None) -> list[BaseGeometry]:
    """The county and ZIP3 area outlines behind the block territories of a set (for the map's faint block layer)."""
    cat = cat or catalog()
    units: set[str] = set()
    for territory in territories:
        for key in block_keys(territory.metadata):
            units.update(_units(cat, key))
    shapes = (cat.geometry(u) for u in sorted(units))
    return [g for g in shapes if g is not None]
