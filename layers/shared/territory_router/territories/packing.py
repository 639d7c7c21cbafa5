"""The one polygon packing of the shipped geography artifacts (``data/us_blocks.bin``, ``data/map_context.bin``).

Polygon coordinates become int32 multiples of ``1/scale`` degrees, delta-encoded in one run over every ring of
every geometry (x deltas, then y deltas: separate runs compress better than interleaved pairs) and zlib-compressed;
the ring lengths, per polygon per geometry, go to the artifact's JSON metadata. Pure numpy.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np

Rings = list[np.ndarray]  # one polygon: its exterior ring, then its holes, each an (n, 2) array


def rings_of(geometry) -> list[Rings]:
    """A shapely (multi)polygon as lists of ring coordinates, the form :func:`pack` takes."""
    return [[np.asarray(r.coords) for r in (p.exterior, *p.interiors)] for p in getattr(geometry, "geoms", [geometry])]


def pack(geometries: Iterable[Sequence[Sequence]], scale: int) -> tuple[list[list[list[int]]], bytes]:
    """``geometries``: per geometry its polygons, per polygon its rings (coordinate sequences). Returns the ring
    lengths (per geometry, per polygon) and the compressed coordinates."""
    parts_meta: list[list[list[int]]] = []
    coords: list[np.ndarray] = []
    for polygons in geometries:
        parts = []
        for polygon in polygons:
            rings = []
            for ring in polygon:
                arr = np.round(np.asarray(ring, dtype=float)[:, :2] * scale).astype(np.int64)
                rings.append(len(arr))
                coords.append(arr)
            parts.append(rings)
        parts_meta.append(parts)
    flat = np.concatenate(coords) if coords else np.zeros((0, 2), dtype=np.int64)
    deltas = np.diff(flat, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).astype("<i4")
    return parts_meta, zlib.compress(np.ascontiguousarray(deltas.T).tobytes(), 9)


def unpack(parts_meta: Sequence[Sequence[Sequence[int]]], data: bytes, scale: float) -> list[list[Rings]]:
    """The inverse of :func:`pack`: per geometry its polygons, per polygon its rings as (n, 2) arrays in degrees."""
    raw = zlib.decompress(data)
    coords = np.cumsum(np.frombuffer(raw, dtype="<i4").reshape(2, -1).T.astype(np.int64), axis=0) / float(scale)
    out: list[list[Rings]] = []
    pos = 0
    for parts in parts_meta:
        polygons = []
        for rings in parts:
            polygon = []
            for n in rings:
                polygon.append(coords[pos : pos + n])
                pos += n
            polygons.append(polygon)
        out.append(polygons)
    return out
