# Single entry point. Every target bootstraps .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration infra e2e demo lint bench bench-design gazetteer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,design]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
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

# Rebuild layers/shared/territory_router/data/gazetteer.bin from its pinned sources (the gazetteer extra).
gazetteer: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[gazetteer]'
	$(BIN)/python scripts/build_gazetteer.py

# Only the territory design benchmark, merged into bench/results.json and docs/benchmarks.md.
bench-design: $(STAMP)
	$(BIN)/python bench/run_all.py --only design

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
