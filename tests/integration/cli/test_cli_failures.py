"""Every CLI command, tried as a new user would on a machine with no AWS account: one line, non-zero exit.

Situations: no stack at all (no ready line), a stale ready line (the local stack has stopped), a deployed stack
named with ``--stack-name`` but no AWS credentials, and bad arguments. The table below must name every command
the parser has, so a new command cannot skip these checks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

import boto3
import pytest

from territory_router_tools.cli.main import build_parser, main

DATA = resources.files("territory_router_tools.data")

# command path -> (arguments that get it past argparse, does it talk to a stack?)
COMMANDS: dict[tuple[str, ...], tuple[list[str], bool]] = {
    ("local", "up"): (["--parameter", "NoSuchParameter=1"], False),
    ("demo",): (["--leads", "0"], False),
    ("territories", "validate"): (["missing-territories.geojson"], False),
    ("territories", "diff"): (["missing-old.geojson", "missing-new.geojson"], False),
    ("territories", "list"): ([], True),
    ("territories", "activate"): (["20260101T000000Z-abc"], True),
    ("territories", "rollback"): ([], True),
    ("territories", "upload"): (["{territories}"], True),
    ("territories", "balance"): (["{territories}", "missing-leads.csv"], False),
    ("territories", "propose"): (["--k", "2", "missing-leads.csv", "-o", "{tmp}/proposal.csv"], False),
    ("territories", "edit"): (["missing-territories.geojson", "-o", "{tmp}/editor.html"], False),
    ("tag",): (["--territories", "missing.geojson", "missing-leads.csv"], False),
    ("reps", "list"): ([], True),
    ("reps", "set"): (["005xx0000012345AAA", "--capacity", "5"], True),
    ("reps", "ooo"): (["005xx0000012345AAA", "--clear"], True),
    ("reps", "check"): ([], True),
    ("reps", "usable"): (["005xx0000012345AAA"], True),
    ("reps", "upload"): (["{roster}"], True),
    ("leads", "explain"): (["00Qxx0000012345AAA"], True),
    ("dlq", "list"): ([], True),
    ("dlq", "redrive"): ([], True),
    ("report",): (["--out", "{tmp}/report"], True),
    ("backfill",): (["--since", "2026-01-01"], True),
    ("salesforce", "echo-filter"): (["--check"], False),  # run outside the repository: no package to read
}
STACK_COMMANDS = [path for path, (_, stack) in COMMANDS.items() if stack]


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [path]
    return [leaf for a in subs for name, p in a.choices.items() for leaf in _leaf_commands(p, (*path, name))]


def _argv(path: tuple[str, ...], tmp_path: Path, extra: list[str] = ()) -> list[str]:
    files = {
        "territories": str(tmp_path / "regions.geojson"),
        "roster": str(tmp_path / "team.json"),
        "tmp": str(tmp_path),
    }
    args = [a.format(**files) for a in COMMANDS[path][0]]
    return [*path, *args, *extra]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """main() as the console script runs it: SystemExit's code or message included."""
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


def assert_one_line_failure(code: int, out: str, err: str, argv: list[str]) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0, f"{argv} succeeded: {err}"
    assert "Traceback" not in err, f"{argv} printed a traceback:\n{err}"
    assert len(lines) == 1, f"{argv} printed {len(lines)} lines on stderr:\n{err}"
    assert lines[0].startswith("territory-router"), lines[0]
    return lines[0]


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No AWS account: no credential variables, no profile files, no instance metadata; cwd without a stack."""
    for name in list(__import__("os").environ):
        if name.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_SECURITY", "AWS_PROFILE",
                            "AWS_ENDPOINT_URL", "AWS_CONTAINER", "AWS_WEB_IDENTITY", "AWS_ROLE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # forget credentials another test's session resolved
    monkeypatch.chdir(tmp_path)
    (tmp_path / "regions.geojson").write_bytes(DATA.joinpath("sample_territories.geojson").read_bytes())
    (tmp_path / "team.json").write_bytes(DATA.joinpath("sample_roster.json").read_bytes())
    return tmp_path


def test_the_table_names_every_command():
    missing = sorted(set(_leaf_commands(build_parser())) - set(COMMANDS))
    assert not missing, f"add these commands to COMMANDS in {__file__}: {missing}"
    assert sorted(_leaf_commands(build_parser())) == sorted(COMMANDS)


@pytest.mark.parametrize("path", STACK_COMMANDS, ids=" ".join)
def test_no_stack_running(bare_machine, path):
    argv = _argv(path, bare_machine)
    line = assert_one_line_failure(*run_cli(argv), argv)
    assert "territory-router local up" in line and "--stack-name" in line


@pytest.mark.parametrize("path", STACK_COMMANDS, ids=" ".join)
def test_stale_ready_line_of_a_stopped_local_stack(bare_machine, path):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stack_file = bare_machine / ".territory-router" / "stack.json"
    stack_file.parent.mkdir()
    names = ("TerritoryBucket", "LeadsTable", "RoutingTable", "IntakeDLQ", "TaggingDLQ", "AssignmentDLQ",
             "WritebackDLQ", "AggregatesDLQ", "IntakeQueue", "TaggingQueue", "AssignmentQueue", "WritebackQueue",
             "AggregatesQueue", "IdempotencyTable", "AppEventBus", "SalesforceCredentialsSecret", "ReconcileQueue")
    stack_file.write_text(json.dumps({
        "endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1",
        "resources": {n: (f"http://127.0.0.1:{port}/123456789012/{n}" if n.endswith(("Queue", "DLQ")) else f"local-{n.lower()}")
                      for n in names},
    }))
    argv = _argv(path, bare_machine)
    line = assert_one_line_failure(*run_cli(argv), argv)
    assert f"127.0.0.1:{port}" in line and "local up" in line


@pytest.mark.parametrize("path", STACK_COMMANDS, ids=" ".join)
def test_deployed_stack_without_credentials(bare_machine, path):
    argv = _argv(path, bare_machine, ["--stack-name", "territory-router-prod", "--region", "eu-west-1"])
    line = assert_one_line_failure(*run_cli(argv), argv)
    assert "no AWS credentials" in line


@pytest.mark.parametrize(
    "path", [p for p, (_, stack) in COMMANDS.items() if not stack], ids=" ".join
)
def test_commands_on_local_files_refuse_bad_input_in_one_line(bare_machine, path):
    argv = _argv(path, bare_machine)
    assert_one_line_failure(*run_cli(argv), argv)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_bad_arguments_are_one_line(bare_machine, path):
    argv = _argv(path, bare_machine, ["--no-such-option"])
    line = assert_one_line_failure(*run_cli(argv), argv)
    assert "error:" in line and "--help" in line


def test_a_real_process_on_a_bare_machine_prints_no_traceback(bare_machine):
    """The console script itself (not main() in-process): the interpreter's own exit path included."""
    env = {k: v for k, v in __import__("os").environ.items()}
    proc = subprocess.run(
        [sys.executable, "-m", "territory_router_tools.cli.main", "reps", "list", "--stack-name", "x", "--region", "us-east-1"],
        cwd=bare_machine, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "no AWS credentials" in proc.stderr
