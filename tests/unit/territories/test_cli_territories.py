"""territory-router territories validate / diff (local files, no AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import urllib3  # noqa: F401  (probes IPv6 with a socket at import: import it before sockets are disabled)

from territory_router_tools.cli.main import main

CORPUS = Path(__file__).resolve().parents[2] / "data" / "broken_territories"


def _write(path: Path, *features) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def _sq(tid, x, y, size=1.0, **props):
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {
        "type": "Feature",
        "properties": {"territory_id": tid, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_validate_json_valid_with_overlap_leads_gaps_and_map(tmp_path, capsys):
    terr = _write(tmp_path / "t.geojson", _sq("A", 0, 0, priority=1), _sq("B", 0.5, 0, priority=5))
    zips = tmp_path / "zips.csv"
    zips.write_text("territory_id,postal_code\nZ,94105\n")
    coverage = _write(tmp_path / "coverage.geojson", _sq("all", -1, -1, 4))
    leads = tmp_path / "leads.csv"
    leads.write_text("Id,Latitude,Longitude\n00Q1,0.5,0.75\n00Q2,2.5,2.5\n00Q3,,\n")
    out_map = tmp_path / "map.html"
    rc = main(
        ["territories", "validate", str(terr), str(zips), "--json", "--coverage", str(coverage),
         "--leads", str(leads), "--map", str(out_map)]
    )  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["valid"] is True and out["territories"] == 3
    assert out["errors"] == [] and out["warnings"] == []
    (ov,) = out["overlaps"]
    assert (ov["a"], ov["b"], ov["leads"]) == ("A", "B", 1)
    assert ov["resolution"] == "A wins (priority 1 < 5)"
    assert 6000 < ov["area_km2"] < 6400
    (gap,) = out["gaps"]
    assert gap["leads"] == 1 and gap["area_km2"] > 150_000
    assert "1 leads" in captured.err or "no usable coordinates" in captured.err
    assert 'id="overlaps"' in out_map.read_text()


def test_validate_rejected_exit_1_and_readable_text(capsys):
    rc = main(
        [
            "territories",
            "validate",
            str(CORPUS / "swapped_lat_lon.geojson"),
            str(CORPUS / "duplicate_ids.geojson"),
        ]
    )
    assert rc == 1
    text = capsys.readouterr().out
    assert text.startswith("REJECTED")
    assert "swapped: latitude/longitude look swapped" in text
    assert "good: duplicate territory id 'good'" in text


def test_validate_strict_overlap(tmp_path, capsys):
    terr = _write(tmp_path / "t.geojson", _sq("A", 0, 0), _sq("B", 0.5, 0))
    assert main(["territories", "validate", str(terr), "--strict-overlap-km2", "10", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and "strict limit of 10 km²" in out["errors"][0]["reason"]
    assert main(["territories", "validate", str(terr), "--strict-overlap-km2", "10000", "--json"]) == 0


def test_diff_with_leads(tmp_path, capsys):
    old = _write(tmp_path / "old.geojson", _sq("A", 0, 0), _sq("C", 5, 5))
    new = _write(tmp_path / "new.geojson", _sq("A", 0, 0, 2), _sq("D", 5, 5))
    leads = tmp_path / "leads.csv"
    leads.write_text("Id,Latitude,Longitude\n00Q1,1.5,1.5\n00Q2,5.5,5.5\n00Q3,0.5,0.5\n")
    assert main(["territories", "diff", str(old), str(new), "--leads", str(leads), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == ["D"] and out["removed"] == ["C"]
    assert [c["territory_id"] for c in out["changed"]] == ["A"]
    assert {(m["lead_id"], m["old"], m["new"]) for m in out["lead_moves"]} == {
        ("00Q1", None, "A"),
        ("00Q2", "C", "D"),
    }
    assert main(["territories", "diff", str(old), str(new), "--leads", str(leads)]) == 0
    assert "2 of 3 leads would change territory" in capsys.readouterr().out


def test_stack_commands_without_a_stack_fail_cleanly(tmp_path, capsys):
    rc = main(["territories", "list", "--stack-file", str(tmp_path / "missing.json")])
    assert rc == 1
    assert "no stack" in capsys.readouterr().err
