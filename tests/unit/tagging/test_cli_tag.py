"""``territory-router tag`` end to end on small files."""

from __future__ import annotations

import csv
import io
import json

import pytest

from territory_router_tools.cli.main import main

TERRITORIES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"territory_id": "WEST", "name": "West", "priority": 1, "regions": "US-TX"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-106, 26], [-100, 26], [-100, 36], [-106, 36], [-106, 26]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"territory_id": "EAST", "name": "East", "priority": 2},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-101, 26], [-94, 26], [-94, 36], [-101, 36], [-101, 26]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"territory_id": "SF", "name": "San Francisco", "postal_codes": "94105,94107"},
            "geometry": None,
        },
    ],
}

LEADS = """Id,Company,LATITUDE,Longitude,State,PostalCode,Country
00Q000000000000001,Acme,30.0,-103.0,TX,,US
00Q000000000000002,Beta,30.0,-100.5,TX,,US
00Q000000000000003,Gamma,0,0,CA,94105-0001,United States
00Q000000000000004,Delta,,,,,
bad-id,Epsilon,abc,-97,,,
00Q000000000000006,Zeta,,,,78701,US
"""


@pytest.fixture
def files(tmp_path):
    territories = tmp_path / "territories.geojson"
    territories.write_text(json.dumps(TERRITORIES))
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    return territories, leads, tmp_path


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_tags_a_csv_to_a_file(files, capsys):
    territories, leads, tmp = files
    out = tmp / "tagged.csv"
    code = main(
        ["tag", "--territories", str(territories), str(leads), "-o", str(out), "--catch-all", "QUEUE"]
    )
    assert code == 0
    rows = _rows(out.read_text())
    assert list(rows[0]) == [
        "Id", "Company", "LATITUDE", "Longitude", "State", "PostalCode", "Country",
        "TerritoryId", "TerritoryName", "TagMethod", "TagPrecision", "TagNote",
    ]  # fmt: skip
    got = [(r["Id"], r["TerritoryId"], r["TagMethod"], r["TagPrecision"]) for r in rows]
    assert got == [
        ("00Q000000000000001", "WEST", "POLYGON", "ROOFTOP"),
        ("00Q000000000000002", "WEST", "POLYGON", "ROOFTOP"),  # in both: WEST has precedence (priority 1)
        ("00Q000000000000003", "SF", "POSTAL_CODE", "POSTAL_CODE"),
        ("00Q000000000000004", "QUEUE", "CATCH_ALL", "NONE"),
        ("bad-id", "QUEUE", "CATCH_ALL", "NONE"),
        ("00Q000000000000006", "EAST", "POSTAL_CENTROID", "POSTAL_CODE"),  # Austin's ZIP centroid, no coordinates
    ]
    assert rows[0]["TerritoryName"] == "West" and rows[0]["Company"] == "Acme"
    assert "also inside EAST" in rows[1]["TagNote"]
    assert "coordinates (0, 0) are treated as no coordinates" in rows[2]["TagNote"]
    assert "no catch-all" not in rows[3]["TagNote"] and "catch-all territory QUEUE" in rows[3]["TagNote"]
    err = capsys.readouterr().err
    assert "6 leads tagged" in err and "POLYGON 2" in err and "precision: " in err and "ROOFTOP 2" in err


def test_writes_to_stdout_without_catch_all(files, capsys):
    territories, leads, _ = files
    assert main(["tag", "--quiet", "--territories", str(territories), str(leads), "--tolerance-km", "5"]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert [r["TagMethod"] for r in rows] == [
        "POLYGON", "POLYGON", "POSTAL_CODE", "UNTAGGED", "UNTAGGED", "POSTAL_CENTROID",
    ]  # fmt: skip
    assert rows[3]["TerritoryId"] == "" and captured.err == ""


def test_leads_positional_before_territories(files, capsys):
    territories, leads, _ = files
    assert main(["tag", str(leads), "--quiet", "--territories", str(territories)]) == 0
    assert len(_rows(capsys.readouterr().out)) == 6


def test_rejected_territory_files_and_missing_files(files, capsys):
    territories, leads, tmp = files
    broken = tmp / "broken.geojson"
    broken.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": 5}]}'
    )
    assert main(["tag", "--territories", str(broken), str(leads)]) == 1
    assert "territory files rejected" in capsys.readouterr().err
    assert main(["tag", "--territories", str(tmp / "nope.geojson"), str(leads)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["tag", "--territories", str(territories)]) == 2
