"""Every file of tests/data/broken_territories gives its expected, human reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from territory_router.territories.report import Severity
from territory_router.territories.validate import validate_files

CORPUS = Path(__file__).resolve().parents[2] / "data" / "broken_territories"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())


def test_corpus_is_complete():
    files = {p.name for p in CORPUS.iterdir() if p.name not in {"expected.json", "README.md"}}
    assert files == set(EXPECTED)
    assert len(EXPECTED) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_gives_its_reason(name: str):
    report = validate_files([(name, (CORPUS / name).read_bytes())])
    reason = EXPECTED[name]
    if name.startswith("warn_"):
        assert report.valid, [e.reason for e in report.errors]
        assert report.territory_set is not None
        assert any(reason in w.reason and w.severity is Severity.WARNING for w in report.warnings), (
            report.warnings
        )
    else:
        assert not report.valid
        assert report.territory_set is None
        assert any(reason in e.reason and e.severity is Severity.ERROR for e in report.errors), report.errors
    # every issue names a territory (or the file) and says why, in words
    for issue in report.errors + report.warnings:
        assert issue.territory and len(issue.reason) > 10
