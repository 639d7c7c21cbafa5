"""Every function in template.yaml points at a folder and a handler that exist (what `sam build` packages)."""

from __future__ import annotations

import ast

import pytest

from tests.infra.template_loader import REPO_ROOT, load_template, resources_of_type

FUNCTIONS = sorted(resources_of_type(load_template(), "AWS::Serverless::Function"))


def test_there_are_nine_functions():
    assert len(FUNCTIONS) == 9


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_code_uri_and_handler_exist(sam_template, logical_id):
    props = sam_template["Resources"][logical_id]["Properties"]
    folder = REPO_ROOT / props["CodeUri"]
    assert folder.is_dir(), f"{logical_id}: CodeUri {props['CodeUri']} is not a folder"
    module, _, function = props["Handler"].rpartition(".")
    source = folder / f"{module.replace('.', '/')}.py"
    assert source.is_file(), f"{logical_id}: {source.relative_to(REPO_ROOT)} does not exist"
    tree = ast.parse(source.read_text())
    top_level = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert function in top_level, f"{logical_id}: {module}.py defines no top-level {function}()"
    # handler modules must be importable side by side (unique names), see docs/architecture.md
    assert module.startswith("handle_")


def test_handler_module_names_are_unique(sam_template):
    modules = [sam_template["Resources"][f]["Properties"]["Handler"].rpartition(".")[0] for f in FUNCTIONS]
    assert len(set(modules)) == len(modules)


def test_function_folders_hold_no_vendored_packages():
    # dependencies belong in the shared layer; a stray requirements.txt would make `sam build` vendor a copy
    for folder in (REPO_ROOT / "functions").iterdir():
        if folder.is_dir():
            assert not (folder / "requirements.txt").exists(), folder.name
