"""Each handler parses its own settings model at import: complete, it imports; a required variable missing, the
import fails with the variable's name (the cold start fails, not the first use of the value)."""

from __future__ import annotations

import importlib.util
import uuid

import pytest

from territory_router.config import LeadTaggingSettings, SettingsError, load_settings
from tests.infra.template_loader import REPO_ROOT
from tests.infra.test_template_transform import FUNCTIONS, settings_model_of


def _import_handler(logical_id: str):
    code_uri, handler = FUNCTIONS[logical_id]
    path = REPO_ROOT / code_uri / f"{handler.rpartition('.')[0]}.py"
    spec = importlib.util.spec_from_file_location(f"settings_check_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _required(logical_id: str) -> list[str]:
    return [name for name, required in settings_model_of(logical_id).variables().items() if required]


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_handler_imports_with_its_variables_and_fails_without_one(logical_id, monkeypatch):
    required = _required(logical_id)
    assert required, f"{logical_id}: a function that needs no resource?"
    for name in required:
        monkeypatch.setenv(name, f"test-{name.lower()}")
    module = _import_handler(logical_id)
    assert module.config.model_dump(include={n.lower() for n in required}) == {
        n.lower(): f"test-{n.lower()}" for n in required
    }
    monkeypatch.delenv(required[0])
    with pytest.raises(SettingsError, match=required[0]):
        _import_handler(logical_id)


def test_an_empty_required_variable_fails_and_an_empty_optional_one_takes_its_default():
    env = {"LEADS_TABLE": "leads", "ROUTING_TABLE": "routing", "TERRITORY_BUCKET": "bucket",
           "ASSIGNMENT_QUEUE_URL": "q", "TAGGING_DLQ_URL": "dlq", "NEAREST_TOLERANCE_KM": "", "CATCH_ALL_TERRITORY_ID": ""}
    settings = load_settings(LeadTaggingSettings, env)
    assert settings.nearest_tolerance_km == 25.0 and settings.catch_all_territory_id is None
    with pytest.raises(SettingsError, match="LEADS_TABLE"):
        load_settings(LeadTaggingSettings, {**env, "LEADS_TABLE": ""})
    with pytest.raises(SettingsError, match="NEAREST_TOLERANCE_KM"):
        load_settings(LeadTaggingSettings, {**env, "NEAREST_TOLERANCE_KM": "far"})


def test_architecture_doc_lists_each_function_s_variables():
    import re

    text = (REPO_ROOT / "docs/architecture.md").read_text()
    section = text[text.index("### Environment variables per function"):text.index("Functions (logical id")]
    rows = {m.group(1): m for m in re.finditer(r"^\| `(\w+Function)` \| `(\w+)` \| (.*?) \| (.*?) \|$", section, re.M)}
    assert set(rows) == set(FUNCTIONS)
    for logical_id, row in rows.items():
        model = settings_model_of(logical_id)
        assert row.group(2) == model.__name__
        listed = {"required": set(re.findall(r"`([A-Z0-9_]+)`", row.group(3))),
                  "optional": set(re.findall(r"`([A-Z0-9_]+)`", row.group(4)))}
        variables = model.variables()
        assert listed == {"required": {n for n, r in variables.items() if r},
                          "optional": {n for n, r in variables.items() if not r}}, logical_id
