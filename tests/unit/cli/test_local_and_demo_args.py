"""`local up` and `demo` refuse bad arguments with a one-line reason, before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from territory_router_tools.cli.main import main


def test_local_up_unknown_parameter_is_a_clear_error(capsys) -> None:
    assert main(["local", "up", "--parameter", "NoSuchParameter=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter override(s): NoSuchParameter" in err and "Traceback" not in err


def test_local_up_parameter_needs_key_value() -> None:
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        main(["local", "up", "--parameter", "justaword"])


def test_local_up_missing_template_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["local", "up", "--template", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_demo_needs_at_least_one_lead(value: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--leads", value])
    assert "must be at least 1" in capsys.readouterr().err
