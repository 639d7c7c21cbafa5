"""KML (Google My Maps), KMZ, zipped shapefiles, postal-code and regions CSV, limits."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import shapefile

from territory_router.territories.report import ValidationOptions
from territory_router.territories.validate import validate_files

MY_MAPS_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>Sales territories</name>
    <Folder>
      <name>West</name>
      <Placemark>
        <name>Bay Area</name>
        <styleUrl>#poly-0288D1-1200-77-nodesc</styleUrl>
        <ExtendedData>
          <Data name="territory_id"><value>bay</value></Data>
          <Data name="priority"><value>1</value></Data>
          <Data name="owner_group"><value>west-sales</value></Data>
        </ExtendedData>
        <Polygon>
          <outerBoundaryIs><LinearRing><tessellate>1</tessellate><coordinates>
            -123.0,37.0,0 -121.5,37.0,0 -121.5,38.5,0 -123.0,38.5,0 -123.0,37.0,0
          </coordinates></LinearRing></outerBoundaryIs>
        </Polygon>
      </Placemark>
      <Placemark>
        <name>California</name>
        <MultiGeometry>
          <Polygon><outerBoundaryIs><LinearRing><coordinates>
            -124,36 -119,36 -119,42 -124,42 -124,36
          </coordinates></LinearRing></outerBoundaryIs>
          <innerBoundaryIs><LinearRing><coordinates>
            -120.5,39 -120,39 -120,39.5 -120.5,39.5 -120.5,39
          </coordinates></LinearRing></innerBoundaryIs></Polygon>
          <Polygon><outerBoundaryIs><LinearRing><coordinates>
            -119,32 -115,32 -115,36 -119,36 -119,32
          </coordinates></LinearRing></outerBoundaryIs></Polygon>
        </MultiGeometry>
      </Placemark>
    </Folder>
  </Document>
</kml>
"""


def test_google_my_maps_kml_with_extended_data_and_multigeometry():
    report = validate_files([("my-map.kml", MY_MAPS_KML.encode())])
    assert report.valid, report.errors
    by_id = report.territory_set.by_id()
    assert set(by_id) == {"bay", "California"}  # placemark name is the id when there is no territory_id
    bay = by_id["bay"]
    assert bay.name == "Bay Area" and bay.priority == 1
    assert bay.metadata == {"owner_group": "west-sales"}
    ca = by_id["California"]
    assert ca.geometry.geom_type == "MultiPolygon" and len(ca.geometry.geoms) == 2
    assert len(ca.geometry.geoms[0].interiors) == 1
    # bay (priority 1) wins the overlap with California
    assert [t.territory_id for t in report.territory_set.territories] == ["bay", "California"]
    assert report.overlaps[0].resolution == "bay wins (priority 1; California has none)"


def test_kmz_is_read_like_kml():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("doc.kml", MY_MAPS_KML)
    report = validate_files([("export.kmz", buf.getvalue())])
    assert report.valid and len(report.territories) == 2


def _shapefile_zip(rows, *, field_name="territory_id") -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with pytest.warns(Warning) if len(field_name) > 10 else _nullcontext():
        w = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON)
        w.field(field_name, "C", 20)
    w.field("name", "C", 40)
    w.field("priority", "N", 4)
    w.field("region_mgr", "C", 20)
    for tid, name, priority, rings in rows:
        w.poly(rings)
        w.record(tid, name, priority, "mgr-" + tid)
    w.close()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("terr/territories.shp", shp.getvalue())
        z.writestr("terr/territories.shx", shx.getvalue())
        z.writestr("terr/territories.dbf", dbf.getvalue())
        z.writestr("terr/territories.prj", 'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984"]]')
    return buf.getvalue()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_zipped_shapefile_with_truncated_dbf_field_name():
    outer = [(-100, 40), (-100, 41), (-99, 41), (-99, 40), (-100, 40)]  # clockwise: shapefile outer ring
    hole = [(-99.6, 40.4), (-99.4, 40.4), (-99.4, 40.6), (-99.6, 40.6), (-99.6, 40.4)]
    data = _shapefile_zip(
        [("north", "North", 2, [outer, hole]), ("south", "South", None, [[(x, y - 2) for x, y in outer]])]
    )
    report = validate_files([("territories.zip", data)])
    assert report.valid, report.errors
    north = report.territory_set.by_id()["north"]
    assert north.name == "North" and north.priority == 2
    assert north.metadata == {"region_mgr": "mgr-north"}
    assert len(north.geometry.interiors) == 1
    assert report.territory_set.by_id()["south"].priority is None


def test_postal_code_csv_normalises_codes_and_merges_rows():
    data = b"territory_id,postal_code,country,name\nne,2134,,New England\nne,02135-1234,US,\nto,m5v 3l9,CA,Toronto\n"
    report = validate_files([("zips.csv", data)])
    assert report.valid, report.errors
    by_id = report.territory_set.by_id()
    assert by_id["ne"].postal_codes == {("US", "02134"), ("US", "02135")}
    assert by_id["ne"].name == "New England"
    assert by_id["to"].postal_codes == {("CA", "M5V3L9")}


def test_regions_csv_and_shared_postal_codes_are_reported_as_overlaps():
    regions = b"territory_id,region,priority\nwest,US-CA,1\nwest,US-NV,1\ncanada,CA-ON,\nnv-only,US-NV,\n"
    report = validate_files([("regions.csv", regions)])
    assert report.valid, report.errors
    assert report.territory_set.by_id()["west"].regions == {("US", "CA"), ("US", "NV")}
    shared = [o for o in report.overlaps if o.regions]
    assert [(o.a, o.b, o.regions) for o in shared] == [("west", "nv-only", ("US-NV",))]
    assert shared[0].resolution == "west wins (priority 1; nv-only has none)"




def test_limits_name_the_constant():
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    features = [{"type": "Feature", "id": f"t{i}", "properties": {}, "geometry": square} for i in range(3)]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    too_many = validate_files([("t.geojson", data)], ValidationOptions(max_features=2))
    assert not too_many.valid and "MAX_FEATURES" in too_many.errors[0].reason
    too_big = validate_files([("t.geojson", data)], ValidationOptions(max_vertices=10))
    assert (
        not too_big.valid and "MAX_VERTICES" in too_big.errors[0].reason and "15" in too_big.errors[0].reason
    )
    too_large = validate_files([("t.geojson", data)], ValidationOptions(max_file_bytes=100))
    assert not too_large.valid and "MAX_FILE_BYTES" in too_large.errors[0].reason


def test_zip_bomb_is_refused_by_uncompressed_size():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.shp", b"\0" * 2_000_000)
    data = buf.getvalue()
    assert len(data) < 100_000
    report = validate_files([("bomb.zip", data)], ValidationOptions(max_file_bytes=1_000_000))
    assert not report.valid and "unzips to" in report.errors[0].reason


def test_no_repair_option_rejects_self_intersections():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    data = json.dumps({"type": "Feature", "id": "x", "properties": {}, "geometry": bowtie}).encode()
    assert validate_files([("x.geojson", data)]).valid
    strict = validate_files([("x.geojson", data)], ValidationOptions(repair=False))
    assert not strict.valid and "self-intersection" in strict.errors[0].reason


BILLION_LAUGHS_AFTER_LONG_COMMENT = (
    '<?xml version="1.0"?>\n<!-- ' + "x" * 70000 + ' -->\n'
    '<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&c;</name>'
    '<Polygon><outerBoundary><LinearRing><coordinates>0,0 1,0 1,1 0,0</coordinates></LinearRing>'
    '</outerBoundary></Polygon></Placemark></Document></kml>'
)


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS_AFTER_LONG_COMMENT,
        # an external entity: would read a local file with a plain parser
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&x;</name></Placemark></Document></kml>',
        # a DTD with no entity at all is refused too: KML never needs one
        '<?xml version="1.0"?><!DOCTYPE kml><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>',
    ],
    ids=["entity-after-64k-comment", "external-entity", "bare-doctype"],
)
def test_kml_with_a_dtd_is_refused_wherever_the_dtd_stands(text):
    """The old guard scanned only the first 64 KiB for <!DOCTYPE>: a long comment first let an entity expand."""
    report = validate_files([("bomb.kml", text.encode())])
    assert not report.valid
    assert [e.code for e in report.errors] == ["kml_dtd"]
    assert "DTD" in report.errors[0].reason
