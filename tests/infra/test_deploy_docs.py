"""docs/deploy.md and samconfig.example.toml stay in step with template.yaml."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.infra.template_loader import REPO_ROOT


def _documented_parameters() -> set[str]:
    text = (REPO_ROOT / "docs/deploy.md").read_text()
    section = text.split("### Parameters", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_every_parameter_is_documented(sam_template):
    assert _documented_parameters() == set(sam_template["Parameters"])


def test_every_alarm_is_documented(sam_template):
    text = (REPO_ROOT / "docs/deploy.md").read_text()
    alarms = [lid for lid, r in sam_template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    assert [a for a in alarms if f"`{a}`" not in text] == []


def test_samconfig_example_overrides_known_parameters(sam_template):
    config = tomllib.loads((REPO_ROOT / "samconfig.example.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
    params = sam_template["Parameters"]
    assert set(overrides) <= set(params)
    required = {name for name, spec in params.items() if "Default" not in spec}
    assert required <= set(overrides)
    for name, value in overrides.items():
        pattern = params[name].get("AllowedPattern")
        if pattern:
            assert re.fullmatch(pattern, value), f"{name}={value!r} does not match {pattern}"
        if "AllowedValues" in params[name]:
            assert value in params[name]["AllowedValues"]
    assert "CAPABILITY_IAM" in deploy["capabilities"]
