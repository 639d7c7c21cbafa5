"""Read the territory files an admin uploads into raw features, one per territory, before validation.

Supported: GeoJSON (Feature / FeatureCollection / bare geometry), KML and KMZ (Google My Maps exports), zipped
ESRI Shapefiles, postal-code CSV and regions CSV. Parsing only reads: it never repairs nor judges a geometry, so
that validation can tell the admin exactly what is wrong with which feature.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from territory_router.territories.report import MAX_FILE_BYTES, Issue

# Property names with a meaning; everything else is kept as free metadata.
# (Only these exact names: a free "state" property on a polygon must not silently become a region.)
ID_KEYS = ("territory_id", "id")
NAME_KEYS = ("name",)
PRIORITY_KEYS = ("priority",)
POSTAL_KEYS = ("postal_codes",)
REGION_KEYS = ("regions",)
COUNTRY_KEYS = ("countries",)
RESERVED_KEYS = set(ID_KEYS + NAME_KEYS + PRIORITY_KEYS + POSTAL_KEYS + REGION_KEYS + COUNTRY_KEYS)


class FormatError(ValueError):
    """The file as a whole cannot be read. ``code`` is a stable machine-readable reason."""

    def __init__(self, message: str, code: str = "format") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RawFeature:
    """One would-be territory as read from a file: values are unvalidated."""

    label: str  # where it came from, for messages: "file.geojson feature 3"
    territory_id: str | None = None
    name: str | None = None
    priority: Any = None
    geometry: dict[str, Any] | None = None  # GeoJSON-like {"type": ..., "coordinates": ...}
    postal_codes: list[tuple[str | None, str]] = field(default_factory=list)  # (country or None, raw code)
    regions: list[str] = field(default_factory=list)  # "US-CA", "CA-ON", "US" ...
    countries: list[str] = field(default_factory=list)  # "CA", "MX" ...
    metadata: dict[str, Any] = field(default_factory=dict)
    vertices: int = 0
    blocks: list[tuple[str, str, str]] = field(default_factory=list)  # (where, block_type, block_id): blocks.py

    @property
    def display(self) -> str:
        return self.territory_id or self.label


@dataclass
class ParsedFile:
    features: list[RawFeature]
    issues: list[Issue] = field(default_factory=list)
    kind: str = ""


def detect_kind(name: str, data: bytes) -> str:
    """``geojson`` | ``kml`` | ``kmz`` | ``shapefile`` | ``csv`` from the extension, else from the content."""
    suffix = PurePosixPath(name.lower()).suffix
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix == ".kml":
        return "kml"
    if suffix == ".kmz":
        return "kmz"
    if suffix == ".zip":
        return "zip"
    if suffix in (".csv", ".txt"):
        return "csv"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "geojson"
    if head.startswith(b"<"):
        return "kml"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if b"," in head:
        return "csv"
    raise FormatError(
        f"unknown file type for {name!r}: use .geojson, .kml, .kmz, .zip (shapefile) or .csv",
        "unknown_format",
    )


def parse_file(
    name: str, data: bytes, *, max_bytes: int = MAX_FILE_BYTES, default_country: str = "US"
) -> ParsedFile:
    """Read one uploaded file. Raises ``FormatError`` when the file itself is unreadable."""
    if not data.strip():
        raise FormatError(f"{name} is empty", "empty_file")
    kind = detect_kind(name, data)
    if kind == "geojson":
        return parse_geojson(name, data)
    if kind == "kml":
        return parse_kml(name, data)
    if kind in ("zip", "kmz"):
        return parse_zip(name, data, max_bytes=max_bytes)
    return parse_csv(name, data, default_country=default_country)


# --------------------------------------------------------------------------------------------------- GeoJSON


def _decode_text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})", "encoding") from exc


def parse_geojson(name: str, data: bytes) -> ParsedFile:
    text = _decode_text(name, data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "json"
        ) from exc
    if not isinstance(doc, dict) or "type" not in doc:
        raise FormatError(f"{name} is not GeoJSON: expected an object with a 'type'", "not_geojson")
    crs = (
        ((doc.get("crs") or {}).get("properties") or {}).get("name")
        if isinstance(doc.get("crs"), dict)
        else None
    )
    if crs and not re.search(r"(CRS84|EPSG:{1,2}4326)$", str(crs), re.IGNORECASE):
        raise FormatError(
            f"{name} declares the coordinate system {crs}; territories must be in WGS84 longitude/latitude "
            "(EPSG:4326 / CRS84)",
            "projected_crs",
        )
    kind = doc.get("type")
    if kind == "FeatureCollection":
        raw_features = doc.get("features")
        if not isinstance(raw_features, list):
            raise FormatError(f"{name}: FeatureCollection has no 'features' list", "not_geojson")
    elif kind == "Feature":
        raw_features = [doc]
    elif kind in ("Polygon", "MultiPolygon", "GeometryCollection", "Point", "LineString", "MultiPoint"):
        stem = PurePosixPath(name).stem
        raw_features = [{"type": "Feature", "id": stem, "properties": {"name": stem}, "geometry": doc}]
    else:
        raise FormatError(f"{name}: unsupported GeoJSON type {kind!r}", "not_geojson")

    out: list[RawFeature] = []
    issues: list[Issue] = []
    for index, feat in enumerate(raw_features, start=1):
        label = f"{name} feature {index}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            issues.append(Issue(label, "not a GeoJSON Feature object", "not_feature"))
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            issues.append(Issue(label, "'properties' must be an object", "bad_properties"))
            continue
        raw = _feature_from_properties(label, props, fallback_id=feat.get("id"))
        geometry = feat.get("geometry")
        if geometry is not None and not isinstance(geometry, dict):
            issues.append(Issue(raw.display, "'geometry' must be an object or null", "bad_geometry"))
            continue
        raw.geometry = geometry
        raw.vertices = count_positions(geometry)
        out.append(raw)
    return ParsedFile(out, issues, "geojson")


def _first(props: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in props.items()}
    for key in keys:
        value = lowered.get(key)
        if value not in (None, ""):
            return value
    return None


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[,;|\s]+", str(value)) if part.strip()]


def _feature_from_properties(label: str, props: dict[str, Any], fallback_id: Any = None) -> RawFeature:
    tid = props.get("territory_id")
    if tid in (None, ""):
        tid = fallback_id if fallback_id not in (None, "") else _first(props, ID_KEYS[1:])
    postal = [(None, code) for code in _as_list(_first(props, POSTAL_KEYS))]
    regions = _as_list(_first(props, REGION_KEYS))
    countries = _as_list(_first(props, COUNTRY_KEYS))
    metadata = {k: v for k, v in props.items() if str(k).lower() not in RESERVED_KEYS}
    name = _first(props, NAME_KEYS)
    return RawFeature(
        label=label,
        territory_id=None if tid in (None, "") else str(tid).strip(),
        name=None if name is None else str(name).strip(),
        priority=_first(props, PRIORITY_KEYS),
        postal_codes=postal,
        regions=regions,
        countries=countries,
        metadata=metadata,
    )


def count_positions(geometry: Any) -> int:
    """Number of coordinate positions in a GeoJSON-like geometry (tolerant of malformed input)."""
    if not isinstance(geometry, dict):
        return 0
    if geometry.get("type") == "GeometryCollection":
        return sum(count_positions(g) for g in geometry.get("geometries") or [])

    def walk(node: Any) -> int:
        if isinstance(node, (list, tuple)):
            if node and all(isinstance(v, (int, float)) for v in node):
                return 1
            return sum(walk(child) for child in node)
        return 0

    return walk(geometry.get("coordinates"))


# --------------------------------------------------------------------------------------------------- KML


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _descendants(elem: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in elem.iter() if _local(c.tag) == name]


def _text(elem: ElementTree.Element | None) -> str | None:
    if elem is None or elem.text is None:
        return None
    return elem.text.strip() or None


def _kml_coordinates(text: str | None) -> list[list[float]]:
    positions: list[list[float]] = []
    for token in (text or "").split():
        parts = token.split(",")
        try:
            positions.append([float(p) for p in parts[:2]])
        except ValueError:
            positions.append([float("nan"), float("nan")])
    return positions


def _kml_polygon(elem: ElementTree.Element) -> list[list[list[float]]]:
    rings: list[list[list[float]]] = []
    for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
        for b in _children(elem, boundary):
            for ring in _descendants(b, "LinearRing"):
                coords = _descendants(ring, "coordinates")
                rings.append(_kml_coordinates(_text(coords[0]) if coords else None))
    return rings


def _kml_geometry(placemark: ElementTree.Element) -> dict[str, Any] | None:
    polygons = _descendants(placemark, "Polygon")
    if polygons:
        parts = [_kml_polygon(p) for p in polygons]
        if len(parts) == 1:
            return {"type": "Polygon", "coordinates": parts[0]}
        return {"type": "MultiPolygon", "coordinates": parts}
    for other in ("Point", "LineString", "LinearRing"):
        if _descendants(placemark, other):
            return {"type": other, "coordinates": []}
    return None


def parse_kml(name: str, data: bytes) -> ParsedFile:
    # defusedxml refuses any DTD while parsing, wherever it stands (a byte scan of the head of the file could be
    # passed by a long comment before <!DOCTYPE>); KML never needs one.
    try:
        root = defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FormatError(f"{name}: XML with a DTD or entities is refused (remove the <!DOCTYPE>)", "kml_dtd") from exc
    except ElementTree.ParseError as exc:
        raise FormatError(f"{name} is not valid KML/XML: {exc}", "kml_xml") from exc
    if _local(root.tag) != "kml":
        raise FormatError(f"{name} is not KML: root element is <{_local(root.tag)}>", "not_kml")
    out: list[RawFeature] = []
    for index, placemark in enumerate(_descendants(root, "Placemark"), start=1):
        props: dict[str, Any] = {}
        for data_elem in _descendants(placemark, "Data"):
            key = data_elem.get("name")
            if key:
                props[key] = _text(next(iter(_children(data_elem, "value")), None))
        for simple in _descendants(placemark, "SimpleData"):
            key = simple.get("name")
            if key:
                props[key] = _text(simple)
        placemark_name = _text(next(iter(_children(placemark, "name")), None))
        if placemark_name and "name" not in {k.lower() for k in props}:
            props["name"] = placemark_name
        description = _text(next(iter(_children(placemark, "description")), None))
        if description and "description" not in props:
            props["description"] = description
        # Google My Maps exports carry only the placemark name: it is the id unless territory_id is given.
        raw = _feature_from_properties(
            f"{name} placemark {index}", props, fallback_id=placemark.get("id") or placemark_name
        )
        raw.geometry = _kml_geometry(placemark)
        raw.vertices = count_positions(raw.geometry)
        out.append(raw)
    if not out:
        raise FormatError(f"{name}: no <Placemark> found", "empty_file")
    return ParsedFile(out, [], "kml")


# --------------------------------------------------------------------------------------------------- zip: shapefile / KMZ


def parse_zip(name: str, data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> ParsedFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{name} is not a valid zip archive", "bad_zip") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise FormatError(
                f"{name} unzips to {total / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB limit (MAX_FILE_BYTES)",
                "file_too_large",
            )
        by_suffix: dict[str, list[zipfile.ZipInfo]] = {}
        for info in infos:
            by_suffix.setdefault(PurePosixPath(info.filename.lower()).suffix, []).append(info)
        if ".kml" in by_suffix:
            inner = by_suffix[".kml"][0]
            parsed = parse_kml(f"{name}:{inner.filename}", archive.read(inner))
            parsed.kind = "kmz"
            return parsed
        if ".shp" not in by_suffix:
            raise FormatError(f"{name}: zip holds no .shp (shapefile) nor .kml", "no_shapefile")
        if len(by_suffix[".shp"]) > 1:
            raise FormatError(
                f"{name}: zip holds several .shp files; upload one shapefile per zip", "many_shapefiles"
            )
        shp_info = by_suffix[".shp"][0]
        stem = shp_info.filename[: -len(".shp")]

        def sibling(suffix: str) -> bytes | None:
            for info in infos:
                if info.filename.lower() == (stem + suffix).lower():
                    return archive.read(info)
            return None

        dbf = sibling(".dbf")
        if dbf is None:
            raise FormatError(
                f"{name}: {shp_info.filename} has no .dbf next to it (attributes are required)", "no_dbf"
            )
        prj = sibling(".prj")
        return parse_shapefile(name, archive.read(shp_info), dbf, sibling(".shx"), prj)


# DBF field names are at most 10 characters: "territory_id" arrives as "territory_" (or an admin's short name).
SHAPEFILE_ALIASES = {
    "territory_": "territory_id",
    "territoryi": "territory_id",
    "terr_id": "territory_id",
    "territory": "territory_id",
    "terr_name": "name",
    "postal_cod": "postal_codes",
}


def parse_shapefile(
    name: str, shp: bytes, dbf: bytes, shx: bytes | None = None, prj: bytes | None = None
) -> ParsedFile:
    import shapefile  # pyshp

    if prj is not None:
        wkt = prj.decode("latin-1").strip().upper()
        if wkt.startswith("PROJCS") or wkt.startswith("PROJCRS"):
            raise FormatError(
                f"{name}: the shapefile is in a projected coordinate system ({wkt[:60]}...); "
                "export it in WGS84 longitude/latitude (EPSG:4326)",
                "projected_crs",
            )
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(shp), dbf=io.BytesIO(dbf), shx=io.BytesIO(shx) if shx is not None else None
        )
        fields = [f[0] for f in reader.fields[1:]]
        records = list(reader.iterShapeRecords())
    except Exception as exc:  # pyshp raises plain Exceptions on corrupt files
        raise FormatError(f"{name}: cannot read the shapefile ({exc})", "bad_shapefile") from exc
    out: list[RawFeature] = []
    for index, shape_record in enumerate(records, start=1):
        values = list(shape_record.record)
        props = {
            SHAPEFILE_ALIASES.get(fname.lower(), fname): (v.strip() if isinstance(v, str) else v)
            for fname, v in zip(fields, values, strict=False)
        }
        raw = _feature_from_properties(f"{name} record {index}", props)
        shp_obj = shape_record.shape
        if shp_obj.shapeType == shapefile.NULL:
            raw.geometry = None
        else:
            geo = shp_obj.__geo_interface__
            raw.geometry = {"type": geo["type"], "coordinates": _lists(geo.get("coordinates", []))}
        raw.vertices = count_positions(raw.geometry)
        out.append(raw)
    return ParsedFile(out, [], "shapefile")


def _lists(node: Any) -> Any:
    if isinstance(node, (list, tuple)):
        return [_lists(n) for n in node]
    return node


# --------------------------------------------------------------------------------------------------- CSV


class _CsvTerritories:
    """The territories of a CSV, read row by row: a territory is created at its first row and named and prioritised
    by the first row that says so; a row without a territory id is an issue, not a row."""

    def __init__(self, name: str, reader: csv.DictReader, columns: dict[str, str], id_col: str,
                 name_keys: tuple[str, ...]) -> None:
        self.name = name
        self.by_id: dict[str, RawFeature] = {}
        self.issues: list[Issue] = []
        self._reader, self._id_col = reader, id_col
        self._name_col = next((columns[k] for k in name_keys if k in columns), None)
        self._priority_col = columns.get("priority")

    def rows(self) -> Iterator[tuple[int, dict[str, str], RawFeature]]:
        """``(line, row, its territory)`` for each row that names a territory."""
        name_col, priority_col = self._name_col, self._priority_col
        for line, row in enumerate(self._reader, start=2):
            tid = (row.get(self._id_col) or "").strip()
            if not tid:
                self.issues.append(Issue(f"{self.name} line {line}", "row has no territory_id", "missing_id"))
                continue
            raw = self.by_id.get(tid)
            if raw is None:
                raw = self.by_id[tid] = RawFeature(label=f"{self.name} line {line}", territory_id=tid)
            if name_col and (row.get(name_col) or "").strip() and raw.name is None:
                raw.name = row[name_col].strip()
            if priority_col and (row.get(priority_col) or "").strip() and raw.priority is None:
                raw.priority = row[priority_col].strip()
            yield line, row, raw

    def parsed(self, kind: str) -> ParsedFile:
        if not self.by_id and not self.issues:
            raise FormatError(f"{self.name}: CSV has a header but no rows", "empty_file")
        return ParsedFile(list(self.by_id.values()), self.issues, kind)


def parse_csv(name: str, data: bytes, *, default_country: str = "US") -> ParsedFile:
    """``territory_id,postal_code[,country][,name][,priority]``, ``territory_id,region|state|country[,name]``
    or building blocks ``territory_id,territory_name,block_type,block_id`` (see ``blocks.py``).

    One territory per id: its rows are merged.
    """
    text = _decode_text(name, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise FormatError(f"{name}: CSV has no header row", "csv_header")
    columns = {c.strip().lower(): c for c in reader.fieldnames if c}
    id_col = next((columns[k] for k in ID_KEYS if k in columns), None)
    if id_col is None:
        raise FormatError(
            f"{name}: CSV needs a territory_id column (found: {', '.join(columns)})", "csv_header"
        )
    if "block_type" in columns or "block_id" in columns:
        return _parse_block_csv(name, reader, columns, id_col)
    postal_col = next(
        (columns[k] for k in ("postal_code", "zip", "zip_code", "postcode") if k in columns), None
    )
    region_col = next((columns[k] for k in ("region", "state", "province") if k in columns), None)
    country_col = columns.get("country")
    if postal_col is None and region_col is None and country_col is None:
        raise FormatError(
            f"{name}: CSV needs a postal_code column (postal codes) or a region/state/country column (regions)",
            "csv_header",
        )
    table = _CsvTerritories(name, reader, columns, id_col, ("name", "territory_name"))
    for line, row, raw in table.rows():
        tid = raw.territory_id
        country = (row.get(country_col) or "").strip() if country_col else ""
        if postal_col:
            code = (row.get(postal_col) or "").strip()
            if code:
                raw.postal_codes.append((country or None, code))
            elif not region_col:
                table.issues.append(Issue(tid, f"line {line}: empty postal_code", "empty_postal_code"))
        if region_col:
            region = (row.get(region_col) or "").strip()
            if region:
                raw.regions.append(region if "-" in region or not country else f"{country}-{region}")
            elif country and not postal_col:
                raw.countries.append(country)
        elif country_col and not postal_col and country:
            raw.countries.append(country)
    return table.parsed("csv")


def _parse_block_csv(name: str, reader: csv.DictReader, columns: dict[str, str], id_col: str) -> ParsedFile:
    """Rows ``territory_id,territory_name,block_type,block_id[,priority]``; blocks are resolved in validation."""
    missing = [c for c in ("block_type", "block_id") if c not in columns]
    if missing:
        raise FormatError(
            f"{name}: a block CSV needs territory_id, territory_name, block_type and block_id columns "
            f"(missing: {', '.join(missing)})",
            "csv_header",
        )
    type_col, block_col = columns["block_type"], columns["block_id"]
    table = _CsvTerritories(name, reader, columns, id_col, ("territory_name", "name"))
    for line, row, raw in table.rows():
        tid = raw.territory_id
        block_type, block_id = (row.get(type_col) or "").strip(), (row.get(block_col) or "").strip()
        if not block_type or not block_id:
            table.issues.append(Issue(tid, f"line {line}: empty block_type or block_id", "empty_block"))
            continue
        raw.blocks.append((f"line {line}", block_type, block_id))
    return table.parsed("blocks")
