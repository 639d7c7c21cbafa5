"""``territory-router report`` arguments and errors (no stack, no network)."""

from __future__ import annotations

from datetime import date

import pytest

from territory_router_tools.cli.main import build_parser, main
from territory_router_tools.reporting.run import default_range


def test_dates_are_parsed_and_checked(tmp_path, capsys):
    args = build_parser().parse_args(["report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(tmp_path)])
    assert (args.start, args.end, args.out) == (date(2026, 11, 1), date(2026, 11, 30), tmp_path)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--from", "2026-13-01", "--out", str(tmp_path)])
    assert "not a date" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report"])  # --out is required


def test_without_a_stack_it_says_how_to_get_one(tmp_path, capsys):
    code = main(["report", "--out", str(tmp_path / "r"), "--stack-file", str(tmp_path / "missing.json")])
    assert code == 1
    assert "territory-router local up" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_default_range_is_the_last_seven_days():
    assert default_range(date(2026, 11, 29)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert default_range(date(2026, 11, 29), end=date(2026, 11, 10)) == (date(2026, 11, 4), date(2026, 11, 10))
    assert default_range(date(2026, 11, 29), start=date(2026, 11, 1)) == (date(2026, 11, 1), date(2026, 11, 29))
