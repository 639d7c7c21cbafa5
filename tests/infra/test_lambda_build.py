"""What `sam build` ships, checked on the real recipe: the Makefile's build targets run as SAM runs them.

SAM's makefile builder (template.yaml: ``BuildMethod: makefile``, ``ContextPath: .``) copies the resource's
ContentUri/CodeUri to a scratch directory and runs ``make --makefile Makefile build-<LogicalId>`` there with
``ARTIFACTS_DIR`` set (aws-lambda-builders, workflows/custom_make). These tests do the same, into a temporary
directory:

- for the host interpreter (always): what the layer holds (runtime only, the requirements' closure and nothing
  else) and that every handler imports from the built artifacts with their bytecode, nothing compiled from source,
  with the files dated 1980 as in the zip ``sam deploy`` uploads;
- for Lambda's platform (Python 3.12 on arm64, as `sam build` does; skipped where no Python 3.12 is installed):
  the same contents, and bytecode for CPython 3.12 only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from importlib.util import MAGIC_NUMBER, cache_from_source, source_hash
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "Makefile"
LAYER_SOURCE = REPO / "layers" / "shared"
TOOLING = REPO / "tooling" / "territory_router_tools"
ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z: the date `sam deploy` gives every file of the zip it uploads
LAMBDA_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0", "platform_machine": "aarch64",
                  "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip
GEOMETRY_AT_IMPORT = {"TerritoryUploadFunction"}  # validates and compiles polygons on every invocation
# Stray files a working tree has and the layer must not ship (SAM's scratch copy takes the whole ContentUri).
STRAYS = {
    "territory_router.egg-info/PKG-INFO": "Metadata-Version: 2.1\nName: territory-router\n",
    "territory_router/__pycache__/config.cpython-311.pyc": "stale",
    "territory_router/__pycache__/config.cpython-312.pyc": "stale",
}


@dataclass
class Build:
    root: Path  # ARTIFACTS_DIR of each resource: root/<LogicalId>
    python: str
    markers: dict[str, str]

    @property
    def layer(self) -> Path:
        return self.root / "SharedLayer" / "python"


def _functions() -> list[tuple[str, Path, str]]:
    """(logical id, code folder, handler module) of every function in template.yaml."""
    from territory_router_tools.local.template import Template

    specs = Template.load(REPO / "template.yaml", parameter_overrides=LOCAL_PARAMETERS).functions()
    return [(s.logical_id, s.code_uri, s.handler.rpartition(".")[0]) for s in specs]


LOCAL_PARAMETERS = {"SalesforceEventBusName": "aws.partner/salesforce.com/00D5e000000LoClEAK/0YL5e0000000001GAA",
                    "SalesforceOrgId": "00D5e000000LoClEAK"}  # fmt: skip


def _make(target: str, source: Path, scratch: Path, artifacts: Path, python: str, platform: str | None) -> None:
    """Run one build target as SAM does: on a scratch copy of the source folder, ARTIFACTS_DIR in the environment."""
    shutil.copytree(source, scratch, ignore=shutil.ignore_patterns(".aws-sam", ".git"))
    if target == "build-SharedLayer":
        for rel, text in STRAYS.items():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            (scratch / rel).write_text(text)
    variables = [f"LAMBDA_PYTHON={python}"] + ([f"LAMBDA_PLATFORM={platform}"] if platform is not None else [])
    done = subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(MAKEFILE), target, *variables],
        cwd=scratch, env={**os.environ, "ARTIFACTS_DIR": str(artifacts)}, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, f"make {target} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _build(root: Path, python: str, platform: str | None, markers: dict[str, str]) -> Build:
    scratch = root / ".scratch"
    _make("build-SharedLayer", LAYER_SOURCE, scratch / "SharedLayer", root / "SharedLayer", python, platform)
    for logical_id, code_uri, _module in _functions():
        _make(f"build-{logical_id}", code_uri, scratch / logical_id, root / logical_id, python, platform)
    shutil.rmtree(scratch)
    return Build(root=root, python=python, markers=markers)


@pytest.fixture(scope="module")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The recipe for this machine's interpreter (binary wheels for the host), so its output can be imported."""
    env = {k: str(v) for k, v in default_environment().items()}
    return _build(tmp_path_factory.mktemp("host-build"), sys.executable, "", env)


def _python312() -> str | None:
    candidates = [shutil.which("python3.12"), *sorted(map(str, Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")))]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", "import sys, pip; print(sys.version_info[:2] == (3, 12))"],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        except OSError:
            continue
        if out.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def lambda_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The recipe exactly as `sam build` runs it: Python 3.12, wheels for manylinux aarch64."""
    python = _python312()
    if python is None:
        pytest.skip("no Python 3.12 with pip on this machine: the Lambda-platform build needs one (sam build does too)")
    return _build(tmp_path_factory.mktemp("lambda-build"), python, None, LAMBDA_MARKERS)


@pytest.fixture(params=["host", "lambda"])
def build(request: pytest.FixtureRequest) -> Build:
    return request.getfixturevalue(f"{request.param}_build")


def _files(folder: Path) -> Iterator[Path]:
    return (p.relative_to(folder) for p in sorted(folder.rglob("*")) if p.is_file())


# ------------------------------------------------------------------------------------------ what ships


def _tooling_modules() -> set[str]:
    """Paths (relative to the package) of the tooling package's modules and data, but its __init__ files."""
    return {str(p) for p in _files(TOOLING) if p.name != "__init__.py" and "__pycache__" not in p.parts}


def test_the_layer_ships_the_runtime_package_and_nothing_of_the_tooling(build: Build):
    shipped = [str(p) for p in _files(build.layer)]
    ours = [p for p in shipped if p.startswith("territory_router/")]
    assert "territory_router/config.py" in ours and "territory_router/data/gazetteer.bin" in ours
    assert not [p for p in shipped if p.startswith("territory_router_tools")], "the tooling package is in the layer"
    assert not [p for p in shipped if ".egg-info" in p], "an egg-info of the working tree was shipped"
    tooling = _tooling_modules()
    assert tooling, "the tooling package was not found"
    leaked = sorted(p for p in ours if p.removeprefix("territory_router/") in tooling)
    assert not leaked, f"tooling modules in the runtime package: {leaked}"
    kinds = re.compile(r"/(cli|local|demo|design|tests?)/|/(fake_\w+|samples|test_\w+|conftest)\.py$")
    assert not [p for p in ours if kinds.search(p)], "CLI, local stack, demo, design or test code in the layer"
    # Only the runtime's data: what is under layers/shared/territory_router/data, none of the sample data.
    data = {p.removeprefix("territory_router/data/") for p in ours if p.startswith("territory_router/data/")}
    assert data == {str(p) for p in _files(LAYER_SOURCE / "territory_router" / "data")}
    assert not [p for p in data if (TOOLING / "data" / p).exists()]
    # Our own bytecode is the recipe's, not stale files from the working tree.
    for rel, text in STRAYS.items():
        target = build.layer / rel
        assert not target.exists() or target.read_bytes() != text.encode(), f"{rel} was copied from the source folder"


def _requirements() -> list[Requirement]:
    lines = (LAYER_SOURCE / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]


def _shipped_distributions(layer: Path) -> dict[str, metadata.Distribution]:
    return {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(layer)])}


def _closure(requirements: list[Requirement], dists: dict[str, metadata.Distribution], markers: dict[str, str]):
    """Names of the distributions ``requirements`` need (extras and markers resolved for ``markers``)."""
    needed: set[str] = set()
    missing: set[str] = set()
    todo = [(r, frozenset()) for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, via_extras = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({**markers, "extra": e}) for e in via_extras or {""}):
            continue
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        needed.add(name)
        dist = dists.get(name)
        if dist is None:
            missing.add(name)
            continue
        todo.extend((Requirement(r), frozenset(req.extras)) for r in dist.requires or [])
    return needed, missing


def test_the_layer_holds_exactly_the_closure_of_its_requirements(build: Build):
    shipped = _shipped_distributions(build.layer)
    needed, missing = _closure(_requirements(), shipped, build.markers)
    assert not missing, f"required but not in the layer: {sorted(missing)}"
    assert set(shipped) == needed, (
        f"in the layer without being required: {sorted(set(shipped) - needed)}; "
        f"required and absent: {sorted(needed - set(shipped))}"
    )


@cache
def _dev_only_distributions() -> dict[str, set[str]]:
    """Distributions the extras (dev, design, bench, gazetteer) bring and the runtime does not, with the top-level
    names they install (from this virtual environment, where they are installed)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras = {canonicalize_name(Requirement(r).name) for group in project["optional-dependencies"].values() for r in group}
    top_level: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for dist in dists:
            top_level.setdefault(canonicalize_name(dist), set()).add(top)
    return {name: top_level.get(name, set()) for name in extras - runtime}


def test_no_development_dependency_is_in_the_layer(build: Build):
    dev = _dev_only_distributions()
    assert {"moto", "pytest", "hypothesis", "cfn-lint", "gerrychain", "networkx", "geopandas"} <= set(dev)
    shipped = _shipped_distributions(build.layer)
    assert not sorted(set(dev) & set(shipped)), "development distributions in the layer"
    runtime_tops = {t for names in _runtime_top_levels(build.layer).values() for t in names}
    entries = {p.name.split(".")[0] for p in build.layer.iterdir()}
    leaked = {name: sorted(tops & entries - runtime_tops) for name, tops in dev.items() if tops & entries - runtime_tops}
    assert not leaked, f"modules of development distributions in the layer: {leaked}"


def _runtime_top_levels(layer: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, dist in _shipped_distributions(layer).items():
        out[name] = {Path(str(f)).parts[0].split(".")[0] for f in dist.files or []}
    return out


def test_every_third_party_module_the_runtime_imports_is_in_the_layer(host_build: Build):
    # Every import anywhere in territory_router, the lazy ones inside functions included (import graph).
    import grimp

    graph = grimp.build_graph("territory_router", include_external_packages=True, cache_dir=None)
    external = {m for m in graph.modules if not m.startswith("territory_router")}
    third_party = {m.split(".")[0] for m in external} - set(sys.stdlib_module_names) - {"__future__"}
    assert {"boto3", "pydantic", "shapely", "aws_lambda_powertools"} <= third_party
    entries = {p.name.split(".")[0] for p in host_build.layer.iterdir()}
    assert third_party <= entries, f"imported by the runtime, absent from the layer: {sorted(third_party - entries)}"


# ------------------------------------------------------------------------------------------ bytecode


def _expected_tag(build: Build) -> str:
    if build.python == sys.executable:
        return sys.implementation.cache_tag
    return "cpython-312"


def _magic(python: str) -> bytes:
    if python == sys.executable:
        return MAGIC_NUMBER
    out = subprocess.run([python, "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return bytes.fromhex(out.stdout.strip())


def test_every_module_has_hash_based_bytecode_that_needs_no_source_check(build: Build):
    tag, magic = _expected_tag(build), _magic(build.python)
    same_interpreter = build.python == sys.executable  # source_hash is keyed by the interpreter's magic number
    sources = [p for p in build.root.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 500
    bad: list[str] = []
    for source in sources:
        pycache = source.parent / "__pycache__"
        pycs = sorted(pycache.glob(f"{source.stem}.*.pyc")) if pycache.is_dir() else []
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if [p.name for p in pycs] != [pyc.name]:
            bad.append(f"{source.relative_to(build.root)}: {[p.name for p in pycs]}")
            continue
        head = pyc.read_bytes()[:16]
        flags, checksum = struct.unpack("<I", head[4:8])[0], head[8:16]
        if head[:4] != magic or flags != 0b01 or (same_interpreter and checksum != source_hash(source.read_bytes())):
            bad.append(f"{source.relative_to(build.root)}: magic {head[:4].hex()}, flags {flags:#04b}")
    assert not bad, f"{len(bad)} modules without unchecked hash-based bytecode, e.g. {bad[:5]}"


IMPORT_PROBE = r"""
import importlib, importlib._bootstrap_external as external, json, pkgutil, sys
compiled = []
to_code = external.SourceLoader.source_to_code
def spy(self, data, path, *args, **kwargs):  # only called when a module is compiled from its source
    compiled.append(str(path))
    return to_code(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = spy
sys.dont_write_bytecode = True  # Lambda's /opt and /var/task are read-only
roots, modules = sys.argv[1].split("|"), sys.argv[2].split(",")
sys.path[:0] = roots
for name in modules:
    importlib.import_module(name)
if sys.argv[3] == "all":  # every module of the runtime package, not only what the handler imports at once
    import territory_router
    for info in pkgutil.walk_packages(territory_router.__path__, "territory_router."):
        importlib.import_module(info.name)
ours = [m for m in sys.modules.values() if any(str(getattr(m, "__file__", "") or "").startswith(r) for r in roots)]
print(json.dumps({"compiled": [p for p in compiled if any(p.startswith(r) for r in roots)], "loaded": len(ours),
                  "top_level": sorted({m.__name__.split(".")[0] for m in ours})}))
"""


def _lambda_env(function_env: dict[str, str], logical_id: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "build-test",
        "AWS_SECRET_ACCESS_KEY": "build-test", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        **function_env,
    }  # fmt: skip


def _probe(roots: list[Path], modules: list[str], env: dict[str, str], everything: bool = False) -> dict:
    # -I -S: nothing from this virtual environment, only the standard library and the built folders.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_PROBE, "|".join(map(str, roots)), ",".join(modules),
         "all" if everything else "handler"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _date_like_the_zip(folder: Path) -> None:
    for path in folder.rglob("*"):
        os.utime(path, (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)


def test_the_probe_sees_a_module_compiled_from_source(tmp_path: Path):
    # The check below must be able to fail: a timestamp .pyc on files dated 1980 (what pip and SAM's own
    # python3.12 builder ship) is rejected and the module is compiled again; a hash-based one is used as it is.
    import py_compile

    for mode, expect_compiled in ((py_compile.PycInvalidationMode.TIMESTAMP, True),
                                  (py_compile.PycInvalidationMode.UNCHECKED_HASH, False)):  # fmt: skip
        folder = tmp_path / mode.name
        folder.mkdir()
        (folder / "probe_module.py").write_text("VALUE = 42\n")
        py_compile.compile(str(folder / "probe_module.py"), cfile=cache_from_source(str(folder / "probe_module.py")),
                           invalidation_mode=mode, doraise=True)  # fmt: skip
        _date_like_the_zip(folder)
        seen = _probe([folder], ["probe_module"], {"PATH": os.environ.get("PATH", "")})
        assert bool(seen["compiled"]) is expect_compiled, (mode, seen)


def test_every_handler_imports_its_built_bytecode_without_compiling(host_build: Build):
    _date_like_the_zip(host_build.root)
    from territory_router_tools.local.template import Template

    specs = {s.logical_id: s for s in Template.load(REPO / "template.yaml", parameter_overrides=LOCAL_PARAMETERS).functions()}
    assert len(specs) >= 9
    for logical_id, spec in specs.items():
        module = spec.handler.rpartition(".")[0]
        seen = _probe([host_build.root / logical_id, host_build.layer], [module], _lambda_env(spec.environment, logical_id))
        assert seen["loaded"] > 50, (logical_id, seen)  # the handler, our package and its dependencies
        assert not seen["compiled"], f"{logical_id} compiled {len(seen['compiled'])} modules: {seen['compiled'][:5]}"
        # Cold start (docs/benchmarks.md): Lambda's active tracing needs no X-Ray SDK in the function, and only the
        # functions that work on polygons load geometry (the tagger builds its index, so geometry, at first use).
        assert "aws_xray_sdk" not in seen["top_level"], logical_id
        if logical_id not in GEOMETRY_AT_IMPORT:
            assert not {"numpy", "shapely"} & set(seen["top_level"]), f"{logical_id} imports geometry at import"


def test_every_runtime_module_imports_from_the_layer_without_compiling(host_build: Build):
    _date_like_the_zip(host_build.root)
    env = _lambda_env({"POWERTOOLS_SERVICE_NAME": "territory-router"}, "LayerProbe")
    seen = _probe([host_build.layer], ["territory_router"], env, everything=True)
    assert seen["loaded"] > 100
    assert not seen["compiled"], f"compiled from source: {seen['compiled'][:5]}"
