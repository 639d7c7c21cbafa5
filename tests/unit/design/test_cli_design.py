"""``territories balance|propose|edit`` from the command line: results, and one-line errors (never a traceback)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from territory_router_tools.cli.main import main

REPO = Path(__file__).resolve().parents[3]
ZIPS = REPO / "tooling/territory_router_tools/data/us_zip_sample.csv"


@pytest.fixture()
def files(tmp_path):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Id", "Latitude", "Longitude", "PostalCode"])
    for n, z in enumerate(csv.DictReader(io.StringIO(ZIPS.read_text()))):
        if z["state"] in ("CO", "UT"):
            writer.writerow([f"L{n}", z["lat"], z["lon"], z["zip_code"]])
    leads = tmp_path / "leads.csv"
    leads.write_text(out.getvalue())
    states = tmp_path / "states.csv"
    states.write_text("territory_id,territory_name,block_type,block_id\nco,Colorado,state,CO\nut,Utah,state,UT\n")
    return tmp_path, leads, states


def test_propose_writes_a_block_csv_and_its_balance_then_keep_reports_moves(files, capsys):
    tmp, leads, _ = files
    out = tmp / "p.csv"
    assert main(["territories", "propose", "--k", "3", "--within", "CO,UT", str(leads), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["blocks"] == 93 and summary["balance"]["balance_cv"] <= 0.05
    assert all(r["contiguous"] for r in summary["balance"]["territories"])
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 93 and {r["territory_id"] for r in rows} == {"T01", "T02", "T03"}
    assert main(["territories", "propose", "--k", "3", "--within", "CO,UT", str(leads), "--keep", str(out),
                 "-o", str(tmp / "same.csv")]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "0 of 93 blocks moved; 0 of" in text and "leads would change territory" in text


def test_propose_on_zip3_areas_then_balance_and_edit_work_on_them(files, capsys):
    tmp, leads, _ = files
    out = tmp / "z.csv"
    assert main(["territories", "propose", "--blocks", "zip3", "--k", "2", "--within", "CO,UT", str(leads), "-o",
                 str(out), "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["block_type"] == "zip3" and summary["balance"]["balance_cv"] <= 0.05
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["block_type"] for r in rows} == {"zip3"} and "802" in {r["block_id"] for r in rows}
    assert main(["territories", "balance", str(out), str(leads), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(r["blocks"] for r in report["territories"]) == summary["blocks"]  # judged on ZIP3 areas
    assert all(r["contiguous"] for r in report["territories"])
    page = tmp / "z.html"
    assert main(["territories", "edit", str(out), "--leads", str(leads), "-o", str(page)]) == 0
    assert '"blockType":"zip3"' in page.read_text()


def test_balance_prints_the_table_and_the_score(files, capsys):
    _, leads, states = files
    assert main(["territories", "balance", str(states), str(leads)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("balance: CV of leads per territory = ")
    assert "co Colorado" in text and "ut Utah" in text and "yes" in text


def test_edit_writes_a_self_contained_page(files, capsys):
    tmp, leads, states = files
    page = tmp / "e.html"
    assert main(["territories", "edit", str(states), "--leads", str(leads), "-o", str(page)]) == 0
    html = page.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count('class="block"') == 93 and '"hasLeads":true' in html


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["propose", "--k", "0", "{leads}", "-o", "{tmp}/x.csv"], "--k must be at least 1"),
        (["propose", "--k", "2", "--within", "CO,ZZ", "{leads}", "-o", "{tmp}/x.csv"], "ZZ not US state codes"),
        (["propose", "--k", "3", "--keep", "{states}", "{leads}", "-o", "{tmp}/x.csv"], "--k 3 but"),
        (["propose", "--k", "2", "{tmp}/missing.csv", "-o", "{tmp}/x.csv"], "cannot read"),
        (["propose", "--k", "2", "{tmp}/bad-leads.csv", "-o", "{tmp}/x.csv"], "needs Latitude and Longitude"),
        (["balance", "{tmp}/rejected.csv", "{leads}"], "is rejected (1 errors; first: a: line 2: county '99999'"),
        (["balance", "{states}", "{leads}", "--reps", "{tmp}/bad-roster.json"], "is not a valid roster"),
        (["edit", "{states}", "-o", "{tmp}/no/such/dir/e.html"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, capsys, argv, message):
    tmp, leads, states = files
    (tmp / "bad-leads.csv").write_text("Id,Name\n1,x\n")
    (tmp / "rejected.csv").write_text("territory_id,territory_name,block_type,block_id\na,A,county,99999\n")
    (tmp / "bad-roster.json").write_text("[]")
    args = [a.format(tmp=tmp, leads=leads, states=states) for a in argv]
    assert main(["territories", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("territory-router: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
