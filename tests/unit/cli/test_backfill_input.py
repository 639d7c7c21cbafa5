"""``territory-router backfill``: bad input is one clear line, checked before anything is asked of a stack."""

from __future__ import annotations

import contextlib
import io
import sys
from datetime import UTC, datetime, timedelta

import pytest
import urllib3  # noqa: F401 - imported before sockets are disabled: it probes IPv6 when imported

from territory_router.cli.backfill import read_leads_csv
from territory_router.cli.main import main
from territory_router.cli.progress import Progress


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
                code = 1
            else:
                code = exc.code or 0
    return code, out.getvalue(), err.getvalue()


def one_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .territory-router/stack.json here
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["backfill", "--since", "yesterday"], "not a date: 'yesterday'"),
        (["backfill", "--since", "2026-02-30"], "not a date"),
        (["backfill", "--since", (datetime.now(UTC) + timedelta(days=2)).date().isoformat()], "is in the future"),
        (["backfill"], "one of the arguments --since --from-csv is required"),
        (["backfill", "--since", "2026-01-01", "--from-csv", "x.csv"], "not allowed with argument"),
        (["backfill", "--since", "2026-01-01", "--limit", "0"], "must be at least 1"),
    ],
)
def test_bad_arguments(here, argv, expected):
    line = one_line(*run(argv)[::2])
    assert expected in line and "--help" in line


def test_a_csv_without_an_id_column(here):
    (here / "leads.csv").write_text("FirstName,LastName,City\nAda,Lovelace,London\n")
    line = one_line(*run(["backfill", "--from-csv", "leads.csv"])[::2])
    assert "leads.csv has no Id column (its columns: FirstName, LastName, City)" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "is empty"), (b"\xff\xfeI\x00d\x00", "is not UTF-8 text"), (b"\n\n", "is empty")],
)
def test_unreadable_csv(here, content, expected):
    (here / "leads.csv").write_bytes(content)
    assert expected in one_line(*run(["backfill", "--from-csv", "leads.csv"])[::2])


def test_a_missing_file(here):
    assert "cannot read missing.csv" in one_line(*run(["backfill", "--from-csv", "missing.csv"])[::2])


def test_a_good_csv_without_a_stack_says_how_to_get_one(here):
    (here / "leads.csv").write_text("Id,LastName\n00Qxx0000001AbCEAU,Lovelace\n")
    line = one_line(*run(["backfill", "--from-csv", "leads.csv"])[::2])
    assert "territory-router local up" in line


def test_data_loader_headers_any_case_and_bad_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        "\ufeff\"ID\",\"LASTNAME\",\"COMPANY\",\"POSTALCODE\",\"STATUS\",\"ISCONVERTED\",\"ROUTING_STATUS__C\",\"LANGUAGE__C\",\"NOTES\"\n"
        "\"00Qxx0000001AbCEAU\",\"Lovelace\",\"AE\",\"94105\",\"Open - Not Contacted\",\"false\",\"\",\"fr\",\"x\"\n"
        "\"003xx0000001AbCAAA\",\"Contact\",\"C\",\"\",\"\",\"false\",\"\",\"\",\"\"\n"
        "\"\",\"NoId\",\"C\",\"\",\"\",\"false\",\"\",\"\",\"\"\n".encode()
    )
    records, invalid, has_status = read_leads_csv(path)
    assert records == [{"Id": "00Qxx0000001AbCEAU", "LastName": "Lovelace", "Company": "AE", "PostalCode": "94105",
                        "Status": "Open - Not Contacted", "IsConverted": "false", "Routing_Status__c": None,
                        "Language__c": "fr", "NOTES": "x"}]
    assert invalid == ["row 3: Id '003xx0000001AbCAAA' is not a Lead id (00Q...)", "row 4: Id '' is not a Lead id (00Q...)"]
    assert has_status


def test_progress_bar_draws_only_on_a_terminal():
    stream = io.StringIO()
    bar = Progress("sending", total=4, stream=stream, enabled=True, min_interval_s=0)
    bar.update(2)
    bar.update(4)
    bar.close()
    assert stream.getvalue().splitlines()[-1].endswith("[" + "#" * 30 + "] 4/4 100%")
    quiet = io.StringIO()
    Progress("sending", total=4, stream=quiet).update(4)  # StringIO is not a tty
    assert quiet.getvalue() == ""
