"""docs/architecture.md's package picture is the import contract that `lint-imports` (make test) enforces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _picture() -> str:
    text = DOC.read_text()
    marker = text.index("import-contracts:")
    start = text.index("```mermaid", marker)
    return text[start : text.index("```", start + 3)]


def _layer(spec: str) -> tuple[str, set[str]]:
    """("independent" | "siblings" | "single", names) of one layer of the contract or one node of the picture."""
    if "|" in spec:
        kind, parts = "independent", spec.split("|")
    elif ":" in spec or "·" in spec:
        kind, parts = "siblings", re.split(r"[:·]", spec)
    else:
        kind, parts = "single", [spec]
    return kind, {p.strip().strip("()") for p in parts if p.strip()}


def test_the_picture_shows_the_layers_of_the_contract_in_order():
    contract = _contracts()["runtime-layers"]
    assert contract["type"] == "layers" and contract["containers"] == ["territory_router"]
    assert contract.get("exhaustive") is True
    picture = _picture()
    nodes = {m.group(1): m.group(2).split("<br/>")[0] for m in re.finditer(r'^\s*(\w+)\["([^"]+)"\]', picture, re.M)}
    chain = [line.strip() for line in picture.splitlines() if line.count("-->") >= 3]
    assert len(chain) == 1, "one line of the picture chains the runtime's layers top to bottom"
    drawn = [_layer(nodes[node_id.strip()]) for node_id in chain[0].split("-->")]
    declared = [_layer(spec) for spec in contract["layers"]]
    assert drawn == declared, f"docs/architecture.md draws {drawn}, pyproject.toml declares {declared}"


def test_every_runtime_package_is_in_the_picture_and_the_pure_box_names_the_pure_contract():
    package = REPO / "layers" / "shared" / "territory_router"
    children = {p.stem for p in package.iterdir() if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    drawn = set().union(*(_layer(spec)[1] for spec in _contracts()["runtime-layers"]["layers"]))
    assert children <= drawn, f"not in any layer: {sorted(children - drawn)}"
    pure = _contracts()["pure-domain"]
    sources = {m.removeprefix("territory_router.") for m in pure["source_modules"]}
    picture = _picture()
    box = picture[picture.index('subgraph pure["') : picture.index("end", picture.index('subgraph pure["'))]
    labels = re.findall(r'^\s*\w+\["([^"]+)"\]', box, re.M)  # the nodes in the box, not the box's own title
    assert sources == set().union(*(_layer(label.split("<br/>")[0])[1] for label in labels))
    assert {"territory_router_tools"} == set(_contracts()["runtime-without-tooling"]["forbidden_modules"])


def test_make_test_runs_the_contracts():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("\ntest:") : makefile.index("\n\n", makefile.index("\ntest:"))]
    assert "lint-imports" in recipe
