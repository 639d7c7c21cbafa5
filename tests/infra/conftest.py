"""Fixtures for the template.yaml checks: the SAM template and its offline SAM transform, parsed once."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # `tests.infra.*` imports also work when pytest is not started from the repo root
    sys.path.insert(0, _ROOT)

from tests.infra.template_loader import load_template, transform_template  # noqa: E402


@pytest.fixture(scope="session")
def _sam_template_once() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def _cfn_template_once() -> dict[str, Any]:
    return transform_template()


@pytest.fixture
def sam_template(_sam_template_once: dict[str, Any]) -> dict[str, Any]:
    """template.yaml as written (SAM), a private copy."""
    return copy.deepcopy(_sam_template_once)


@pytest.fixture
def cfn_template(_cfn_template_once: dict[str, Any]) -> dict[str, Any]:
    """template.yaml after the SAM transform (CloudFormation), a private copy."""
    return copy.deepcopy(_cfn_template_once)
