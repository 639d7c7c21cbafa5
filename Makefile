# Single entry point. Every target bootstraps .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration infra e2e demo lint bench bench-design bench-cold bench-scale gazetteer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,design]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

infra: $(STAMP)
	$(BIN)/python -m pytest -q tests/infra

e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

demo: $(STAMP)
	$(BIN)/territory-router demo

# Benchmarks: the bench extra (geopandas, pyarrow) only here. BENCH_LEADS=N for a shorter pipeline run.
$(VENV)/.bench-installed: $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,design,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run_all.py

# Only the cold start part (handler imports against the baseline import, one run), merged into the results.
bench-cold: $(STAMP)
	$(BIN)/python bench/run_all.py --only cold_start

# Rebuild layers/shared/territory_router/data/gazetteer.bin from its pinned sources (the gazetteer extra).
gazetteer: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[gazetteer]'
	$(BIN)/python scripts/build_gazetteer.py

# Only the territory design benchmark, merged into bench/results.json and docs/benchmarks.md.
bench-design: $(STAMP)
	$(BIN)/python bench/run_all.py --only design

# Only the scale part (one group's hot keys under N concurrent containers, about two minutes), merged likewise.
bench-scale: $(STAMP)
	$(BIN)/python bench/run_all.py --only scale

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint template.yaml

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache

# ------------------------------------------------------------------------------------- Lambda artifacts
# `sam build` builds the shared layer and every function with these targets (template.yaml: `Metadata:
# BuildMethod: makefile, ContextPath: .`). SAM copies the resource's ContentUri/CodeUri to a scratch directory,
# runs `make --makefile <this file> build-<LogicalId>` there with ARTIFACTS_DIR set, and zips ARTIFACTS_DIR.
# The recipe ships only the runtime: the layer's requirements installed for Lambda (Python 3.12 on arm64,
# binary wheels only), the territory_router package without any __pycache__, the handler files; then every
# module compiled to hash-based bytecode that Lambda's read-only, 1980-dated files accept as they are
# (docs/deploy.md, "What sam build ships"). tests/infra/test_lambda_build.py runs these same targets.
LAMBDA_PYTHON ?= python3.12
LAMBDA_PLATFORM ?= --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --implementation cp --python-version 3.12
LAMBDA_COMPILE = $(LAMBDA_PYTHON) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash
LAMBDA_COPY_PACKAGE = $(LAMBDA_PYTHON) -c 'import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))'

build-SharedLayer:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2; }
	$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
	  --only-binary=:all: $(LAMBDA_PLATFORM) --target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	rm -rf "$(ARTIFACTS_DIR)/python/bin"
	$(LAMBDA_COPY_PACKAGE) territory_router "$(ARTIFACTS_DIR)/python/territory_router"
	$(LAMBDA_COMPILE) -d /opt/python "$(ARTIFACTS_DIR)/python"

build-%Function:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2; }
	mkdir -p "$(ARTIFACTS_DIR)"
	cp *.py "$(ARTIFACTS_DIR)/"
	$(LAMBDA_COMPILE) -d /var/task "$(ARTIFACTS_DIR)"
