"""The compiled territory index: a small binary built once per territory-set version, loaded on cold start.

Layout (all integers little endian)::

    offset  size  field
    0       4     magic b"TRIX"
    4       2     format version (1)
    6       2     reserved (0)
    8       4     M: length of the JSON metadata in bytes
    12      4     N: number of polygon territories
    16      M     JSON metadata (UTF-8): territories in precedence order, catch-all, set metadata
    ..      pad   zero bytes up to a multiple of 8
    ..      8N+8  uint64 offsets of each polygon's WKB inside the blob that follows (N + 1 values)
    ..      ...   the concatenated ISO WKB of the N polygons, in precedence order

Loading reads the metadata, cuts the blob into N WKB strings, turns them into geometries with one
vectorised ``shapely.from_wkb`` call, prepares them and builds one ``shapely.STRtree``: a few milliseconds
for the 3,231 US counties, against hundreds for parsing GeoJSON.

Territories keep the order of ``TerritorySet.territories`` (overlap precedence: first wins). The tree holds
only territories that have a geometry, in the same order, so a smaller tree position always means higher
precedence.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.errors

from territory_router.domain.territory import Territory, TerritorySet

MAGIC = b"TRIX"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sHHII")


class IndexFormatError(ValueError):
    """The bytes are not a compiled territory index this code can read."""


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    return str(value)


def _has_geometry(territory: Territory) -> bool:
    return territory.geometry is not None and not territory.geometry.is_empty


def compile_index(territory_set: TerritorySet) -> bytes:
    """Compile a validated territory set into the binary index (deterministic: same set, same bytes).

    The metadata is columnar (one list per attribute, sparse lists for postal codes, regions and free
    metadata) because one JSON object per territory is several times slower to parse on cold start.
    """
    territories = territory_set.territories
    ids = [t.territory_id for t in territories]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate territory ids: {dupes}")
    with_geometry = [i for i, t in enumerate(territories) if _has_geometry(t)]
    geoms = np.array([territories[i].geometry for i in with_geometry], dtype=object)
    wkbs = list(shapely.to_wkb(geoms, flavor="iso")) if len(geoms) else []
    offsets = np.zeros(len(wkbs) + 1, dtype="<u8")
    if wkbs:
        offsets[1:] = np.cumsum([len(w) for w in wkbs])
    blob = b"".join(wkbs)
    meta = {
        "format": FORMAT_VERSION,
        "catch_all_territory_id": territory_set.catch_all_territory_id,
        "set_metadata": dict(territory_set.metadata),
        "ids": ids,
        "names": [t.name for t in territories],
        "priorities": [t.priority for t in territories],
        "areas_km2": [t.area_km2 for t in territories],
        "geometry_positions": with_geometry,
        "postal_codes": sorted([i, c, code] for i, t in enumerate(territories) for c, code in t.postal_codes),
        "regions": sorted(
            ([i, c, s] for i, t in enumerate(territories) for c, s in t.regions),
            key=lambda r: (r[0], r[1], r[2] or ""),
        ),
        "metadata": {str(i): dict(t.metadata) for i, t in enumerate(territories) if t.metadata},
        "geometry_sha256": hashlib.sha256(blob).hexdigest(),
    }
    body = json.dumps(meta, sort_keys=True, separators=(",", ":"), default=_json_default).encode()
    meta["digest"] = hashlib.sha256(body).hexdigest()[:16]
    meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":"), default=_json_default).encode()
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(meta_bytes), len(wkbs))
    pad = (-(len(header) + len(meta_bytes))) % 8
    return b"".join([header, meta_bytes, b"\0" * pad, offsets.tobytes(), blob])


@dataclass(frozen=True, slots=True, eq=False)
class TerritoryIndex:
    """A loaded index: territories in precedence order, their prepared polygons and the spatial tree.

    Position ``p`` (0 = highest precedence) names territory ``ids[p]`` / ``names[p]``. ``geometries[i]`` is the
    polygon at tree position ``i`` and belongs to position ``geometry_owner[i]``; tree positions follow
    precedence too. ``postal_lookup``/``region_lookup`` map ``(country, code)``/``(country, state or None)`` to
    the position of the first territory (in precedence order) that lists it.
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    geometries: np.ndarray
    geometry_owner: np.ndarray
    tree: shapely.STRtree
    catch_all_territory_id: str | None = None
    postal_lookup: Mapping[tuple[str, str], int] = field(default_factory=dict)
    region_lookup: Mapping[tuple[str, str | None], int] = field(default_factory=dict)
    regions_by_position: Mapping[int, frozenset[tuple[str, str | None]]] = field(default_factory=dict)
    set_metadata: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""
    positions: Mapping[str, int] = field(default_factory=dict)  # territory id -> position
    _meta: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_bytes(cls, data: bytes) -> TerritoryIndex:
        """Load an index produced by :func:`compile_index`."""
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise IndexFormatError("too short to be a territory index")
        magic, version, _reserved, meta_len, count = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise IndexFormatError("not a territory index (bad magic)")
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"unsupported index format version {version} (this code reads {FORMAT_VERSION})"
            )
        start = _HEADER.size
        try:
            meta = json.loads(data[start : start + meta_len])
        except ValueError as exc:
            raise IndexFormatError(f"corrupt index metadata: {exc}") from exc
        pos = start + meta_len
        pos += (-pos) % 8
        if pos + 8 * (count + 1) > len(data):
            raise IndexFormatError("truncated index geometry offsets")
        offsets = np.frombuffer(data, dtype="<u8", count=count + 1, offset=pos).tolist()
        blob_start = pos + 8 * (count + 1)
        if blob_start + offsets[-1] != len(data) or len(meta.get("geometry_positions", ())) != count:
            raise IndexFormatError("truncated or corrupt index geometry section")
        parts = np.empty(count, dtype=object)
        parts[:] = [
            data[blob_start + a : blob_start + b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        try:
            geometries = shapely.from_wkb(parts) if count else np.empty(0, dtype=object)
        except shapely.errors.GEOSException as exc:
            raise IndexFormatError(f"corrupt index geometry: {exc}") from exc
        return cls._build(meta, geometries)

    @classmethod
    def _build(cls, meta: dict[str, Any], geometries: np.ndarray) -> TerritoryIndex:
        ids = tuple(meta["ids"])
        postal: dict[tuple[str, str], int] = {}
        for position, country, code in meta["postal_codes"]:
            postal.setdefault((country, code), position)
        regions: dict[tuple[str, str | None], int] = {}
        by_position: dict[int, set[tuple[str, str | None]]] = {}
        for position, country, state in meta["regions"]:
            regions.setdefault((country, state), position)
            by_position.setdefault(position, set()).add((country, state))
        if len(geometries):
            shapely.prepare(geometries)
        return cls(
            ids=ids,
            names=tuple(meta["names"]),
            geometries=geometries,
            geometry_owner=np.asarray(meta["geometry_positions"], dtype=np.int64),
            tree=shapely.STRtree(geometries),
            catch_all_territory_id=meta.get("catch_all_territory_id"),
            postal_lookup=postal,
            region_lookup=regions,
            regions_by_position={p: frozenset(r) for p, r in by_position.items()},
            set_metadata=meta.get("set_metadata") or {},
            digest=meta.get("digest", ""),
            positions={tid: i for i, tid in enumerate(ids)},
            _meta=meta,
        )

    # ------------------------------------------------------------------ territories

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def territories(self) -> tuple[Territory, ...]:
        """The territories as domain objects, in precedence order (built on first use, then cached)."""
        cached = self._cache.get("territories")
        if cached is None:
            meta = self._meta
            postal: dict[int, set[tuple[str, str]]] = {}
            for position, country, code in meta["postal_codes"]:
                postal.setdefault(position, set()).add((country, code))
            geometry_at = dict(zip(meta["geometry_positions"], self.geometries, strict=True))
            free = meta.get("metadata") or {}
            cached = tuple(
                Territory(
                    territory_id=tid,
                    name=self.names[p],
                    priority=meta["priorities"][p],
                    geometry=geometry_at.get(p),
                    postal_codes=frozenset(postal.get(p, ())),
                    regions=self.regions_by_position.get(p, frozenset()),
                    area_km2=meta["areas_km2"][p],
                    metadata=dict(free.get(str(p), {})),
                )
                for p, tid in enumerate(self.ids)
            )
            self._cache["territories"] = cached
        return cached

    @property
    def approximate_positions(self) -> frozenset[int]:
        """Positions of the territories whose polygon only approximates what defines them: territories built from
        ``zip3`` blocks (their areas are drawn from ZIP centroids, not USPS boundaries). For a lead inside such a
        polygon, the lead's own ZIP decides (``tagging/triage.py``)."""
        out = set()
        for key, meta in (self._meta.get("metadata") or {}).items():
            blocks = meta.get("blocks") if isinstance(meta, dict) else None
            if isinstance(blocks, list) and any(str(b).startswith("zip3:") for b in blocks):
                out.add(int(key))
        return frozenset(out)

    def territory(self, territory_id: str) -> Territory | None:
        position = self.positions.get(territory_id)
        return None if position is None else self.territories[position]

    def to_territory_set(self) -> TerritorySet:
        return TerritorySet(
            territories=self.territories,
            catch_all_territory_id=self.catch_all_territory_id,
            metadata=dict(self.set_metadata),
        )

    # ------------------------------------------------------------------ queries

    def polygon_hits(self, lon: float, lat: float) -> list[int]:
        """Positions (precedence order) of every territory whose polygon covers the point (boundary included)."""
        candidates = self.tree.query(shapely.points(lon, lat))
        if not len(candidates):
            return []
        candidates.sort()
        hits = candidates[shapely.intersects_xy(self.geometries[candidates], lon, lat)]
        return [int(self.geometry_owner[i]) for i in hits]
