"""The offline gazetteer: a US ZIP code, or a city with its state/province (US, Canada), to a point.

Most leads reach Salesforce from web forms and list imports with a postal code and perhaps a city and state, but
no coordinates. The tagger places such a lead at its ZIP's centroid (precision ``POSTAL_CODE``) or at its city
(precision ``CITY``) and runs the same polygon -> nearest steps as for real coordinates.

The data is compiled by ``scripts/build_gazetteer.py`` (sources and licences: ``data/ATTRIBUTION.md``) into one
compact binary file, ``data/gazetteer.bin``, that ships in the Lambda layer; nothing is downloaded at run time.

File format (little-endian)::

    b"TRGAZ\\n"                      magic, 6 bytes
    uint32 header length, header    JSON: format, sources, states table, counts, body sha256
    zlib body                        arrays in this order:
        uint32 zip[Z]                  ZIP as a number (00501 -> 501), sorted
        int32  zip_lat[Z], zip_lon[Z]  degrees x 1e5; INT32_MIN = the ZIP has no location (APO/FPO ...)
        uint8  zip_state[Z]            index into the header's ``states`` ("US-CA", "CA-ON", ...)
        int32  city_lat[C], city_lon[C]
        ascii  city keys[C]            "\\n"-separated, sorted, in the arrays' order: "US-CA:san francisco"
                                       (state label, ":", the :func:`city_key` form of the name)

Loading reads the file, checks its checksum, decompresses the body (one zlib call) and maps the arrays with
``numpy.frombuffer``; nothing is parsed into Python objects, so it takes a few milliseconds (``make bench``
measures it; target <= 20 ms). ZIPs are found by ``numpy.searchsorted``, cities by a binary search over the
sorted keys. ``default_gazetteer()`` loads the file once per process.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from territory_router.geography.precision import TagPrecision

MAGIC = b"TRGAZ\n"
FORMAT = 1
SCALE = 1e5
NO_LOCATION = np.iinfo(np.int32).min
ARTIFACT = "gazetteer.bin"


class GazetteerError(ValueError):
    """The file is not a gazetteer this code can read."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where the gazetteer puts a lead: a point, how precise it is, and what it was found from (for notes)."""

    latitude: float
    longitude: float
    precision: TagPrecision
    found_from: str  # "ZIP 94105", "city 'san francisco' (US-CA)"
    state: tuple[str, str] | None = None


_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`´]")
_WORDS = {
    "saint": "st", "sainte": "ste", "fort": "ft", "mount": "mt", "mountain": "mtn", "north": "n", "south": "s", "east": "e", "west": "w", "heights": "hts", "springs": "spgs",
    "township": "twp", "village": "vlg", "junction": "jct", "center": "ctr", "centre": "ctr",
}  # fmt: skip
_PREFIXES = ("city of ", "town of ", "village of ", "township of ", "borough of ")


@lru_cache(maxsize=16384)
def city_key(name: str | None) -> str:
    """The comparable form of a city name: accents, case, punctuation and the usual abbreviations folded.

    ``"St. Louis"``, ``"Saint Louis"`` and ``"SAINT-LOUIS"`` -> ``"st louis"``; ``"Montréal"`` -> ``"montreal"``;
    ``"Fort Worth"`` and ``"Ft Worth"`` -> ``"ft worth"``; ``"City of Boston"`` -> ``"boston"``. Build and look-up use
    this same function, so the two always agree."""
    if not name:
        return ""
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().casefold()
    folded = _APOSTROPHES.sub("", folded).replace("&", " and ")
    text = _NON_ALNUM.sub(" ", folded).strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
            break
    return " ".join(_WORDS.get(word, word) for word in text.split())


def _state_label(state: tuple[str, str]) -> str:
    return f"{state[0]}-{state[1]}"


class Gazetteer:
    """Read-only look-ups over the compiled arrays. Cheap to share: one per process (:func:`default_gazetteer`)."""

    def __init__(
        self,
        header: dict,
        zips: np.ndarray,
        zip_lat: np.ndarray,
        zip_lon: np.ndarray,
        zip_state: np.ndarray,
        city_lat: np.ndarray,
        city_lon: np.ndarray,
        city_keys: bytes,
    ) -> None:
        self.header = header
        self.states: list[tuple[str, str]] = [tuple(s.split("-", 1)) for s in header["states"]]  # type: ignore[misc]
        self._state_labels = {s: label for s, label in zip(self.states, header["states"], strict=True)}
        self.zips, self.zip_lat, self.zip_lon, self.zip_state = zips, zip_lat, zip_lon, zip_state
        self.city_lat, self.city_lon = city_lat, city_lon
        self._keys = city_keys
        ends = np.flatnonzero(np.frombuffer(city_keys, dtype="u1") == 10) if city_keys else np.empty(0, np.int64)
        self._ends = np.append(ends, len(city_keys)) if city_keys else ends
        self._starts = np.concatenate(([0], self._ends[:-1] + 1)) if city_keys else ends
        if len(self._starts) != len(city_lat):
            raise GazetteerError(f"gazetteer lists {len(self._starts)} city keys for {len(city_lat)} cities")

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_bytes(cls, data: bytes) -> Gazetteer:
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise GazetteerError("not a gazetteer file (bad magic)")
        (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        try:
            header = json.loads(data[start : start + hlen])
        except ValueError as exc:
            raise GazetteerError("gazetteer header is not JSON") from exc
        if header.get("format") != FORMAT:
            raise GazetteerError(f"gazetteer format {header.get('format')!r}, this code reads {FORMAT}")
        compressed = data[start + hlen :]
        if hashlib.sha256(compressed).hexdigest() != header.get("body_sha256"):
            raise GazetteerError("gazetteer body does not match its checksum (truncated or altered file)")
        body = zlib.decompress(compressed)
        z, c = int(header["zips"]), int(header["cities"])
        offset = 0

        def take(dtype: str, count: int) -> np.ndarray:
            nonlocal offset
            array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
            offset += array.nbytes
            return array

        zips = take("<u4", z)
        zip_lat, zip_lon = take("<i4", z), take("<i4", z)
        zip_state = take("u1", z)
        city_lat, city_lon = take("<i4", c), take("<i4", c)
        return cls(header, zips, zip_lat, zip_lon, zip_state, city_lat, city_lon, body[offset:])

    @classmethod
    def packaged(cls) -> Gazetteer:
        """The gazetteer shipped with the package (``territory_router/data/gazetteer.bin``)."""
        return cls.from_bytes((Path(__file__).resolve().parent.parent / "data" / ARTIFACT).read_bytes())

    # ------------------------------------------------------------------ look-ups

    def __len__(self) -> int:
        return len(self.zips) + len(self.city_lat)

    def _city_position(self, key: bytes) -> int | None:
        keys, starts, ends = self._keys, self._starts, self._ends
        lo, hi = 0, len(starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[starts[mid] : ends[mid]] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(starts) and keys[starts[lo] : ends[lo]] == key:
            return lo
        return None

    def _zip_position(self, zip5: str) -> int | None:
        if len(zip5) != 5 or not zip5.isdigit():
            return None
        number = int(zip5)
        i = int(np.searchsorted(self.zips, number))
        return i if i < len(self.zips) and int(self.zips[i]) == number else None

    def postal_state(self, zip5: str) -> tuple[str, str] | None:
        """The state of a known ZIP (also for ZIPs without a location: APO/FPO), None when unknown."""
        i = self._zip_position(zip5)
        return None if i is None else self.states[int(self.zip_state[i])]

    def postal(self, zip5: str) -> Place | None:
        """The centroid of a US ZIP (already normalised to 5 digits), None when unknown or without location."""
        i = self._zip_position(zip5)
        if i is None or int(self.zip_lat[i]) == NO_LOCATION:
            return None
        state = self.states[int(self.zip_state[i])]
        return Place(
            int(self.zip_lat[i]) / SCALE, int(self.zip_lon[i]) / SCALE, TagPrecision.POSTAL_CODE, f"ZIP {zip5}", state
        )

    def city(self, name: str | None, state: tuple[str, str] | None) -> Place | None:
        """A city of a US state or Canadian province, None when unknown. "New York City" also finds "New York"."""
        if not name or state is None:
            return None
        label = self._state_labels.get(state)
        key = city_key(name)
        if label is None or not key:
            return None
        i = self._city_position(f"{label}:{key}".encode())
        if i is None and key.endswith(" city"):
            i = self._city_position(f"{label}:{key[: -len(' city')]}".encode())
        if i is None:
            return None
        return Place(
            int(self.city_lat[i]) / SCALE,
            int(self.city_lon[i]) / SCALE,
            TagPrecision.CITY,
            f"city {name.strip()!r} ({_state_label(state)})",
            state,
        )


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The packaged gazetteer, loaded once per process (a few ms)."""
    return Gazetteer.packaged()


def encode(  # the file's arrays, named as Gazetteer.__init__ receives them back: deliberately the same list
    *,
    sources: dict,
    states: list[str],
    zips: np.ndarray,
    zip_lat: np.ndarray,
    zip_lon: np.ndarray,
    zip_state: np.ndarray,
    city_lat: np.ndarray,
    city_lon: np.ndarray,
    city_keys: list[str],
) -> bytes:
    """The file bytes for these arrays (used by ``scripts/build_gazetteer.py`` and tests). Deterministic.

    ``city_keys``: ``"US-CA:san francisco"`` (a state label of ``states``, ":", a :func:`city_key`), unique."""
    if len(states) > 255:
        raise GazetteerError("at most 255 states")
    if len(set(city_keys)) != len(city_keys) or any("\n" in k or not k.isascii() for k in city_keys):
        raise GazetteerError("city keys must be unique ASCII without newlines")
    order = np.argsort(zips, kind="stable")
    by_key = sorted(range(len(city_keys)), key=lambda i: city_keys[i].encode())
    parts = [
        np.asarray(zips, "<u4")[order].tobytes(),
        np.asarray(zip_lat, "<i4")[order].tobytes(),
        np.asarray(zip_lon, "<i4")[order].tobytes(),
        np.asarray(zip_state, "u1")[order].tobytes(),
        np.asarray(city_lat, "<i4")[by_key].tobytes(),
        np.asarray(city_lon, "<i4")[by_key].tobytes(),
        "\n".join(city_keys[i] for i in by_key).encode("ascii"),
    ]
    body = zlib.compress(b"".join(parts), 9)
    header = {
        "format": FORMAT,
        "sources": sources,
        "states": states,
        "zips": len(zips),
        "cities": len(city_keys),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + struct.pack("<I", len(raw)) + raw + body
