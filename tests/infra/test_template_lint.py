"""cfn-lint over template.yaml: no error, warning or informational finding, in the regions we document."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.template_loader import TEMPLATE_PATH

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]


def _lint(path: Path) -> list[str]:
    matches = lint_file(path, ManualArgs(regions=REGIONS, include_checks=["I"]))
    return [f"{m.rule.id} {m.message} ({Path(m.filename).name}:{m.linenumber})" for m in matches]


def test_template_is_lint_clean():
    assert _lint(TEMPLATE_PATH) == []


def test_lint_reports_a_broken_template(sam_template, tmp_path):
    # The same template with two real mistakes: the check above can fail.
    sam_template["Resources"]["IntakeQueue"]["Properties"]["VisibilityTimeout"] = 90000  # max is 43200
    sam_template["Resources"]["LeadsTable"]["Properties"]["BillingMode"] = "ON_DEMAND"  # not a billing mode
    broken = tmp_path / "template.json"
    broken.write_text(json.dumps(sam_template))
    findings = " | ".join(_lint(broken))
    assert "43200" in findings or "VisibilityTimeout" in findings
    assert "ON_DEMAND" in findings
