# truenorth: the two quick-start commands are `make run` and `make test`.
# Both set up everything they need (system packages, .venv, the package) first;
# setting up is idempotent and quick when nothing changed. `make run` installs only what
# running needs (git, bubblewrap for the engine sandbox, the package without its dev
# tools); `make test` adds what the tests need (sshd, chromium, PostgreSQL); `make check`
# installs no system package at all.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.system-deps-run
TESTSTAMP := $(VENV)/.system-deps-test
DATA_DIR ?= .truenorth
PYTEST_ARGS ?=

.PHONY: setup setup-run run-deps test-deps run test test-unit check lint format bench clean

# The package with its development tools (tests, linters).
setup: $(DEVSTAMP)

# The package alone: what running it needs.
setup-run: $(STAMP)

run-deps: $(RUNSTAMP)

test-deps: $(TESTSTAMP)

$(RUNSTAMP): scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh run
	@mkdir -p $(VENV) && touch $@

$(TESTSTAMP): scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh test
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

run: run-deps setup-run
	$(BIN)/python scripts/demo.py --data-dir $(DATA_DIR)

test: test-deps setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The fast tier: pure code only (tests/support/tiers.py lists it), 2 s per test at most.
# One process: starting xdist workers costs more than the tier's few seconds of tests.
# kmock's pytest plugin (unused by the tests) costs a second to import.
test-unit: setup
	$(BIN)/python -m pytest -n 0 -m unit -p no:kmock --timeout 2 $(PYTEST_ARGS)

check: setup
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/ruff check --fix src tests scripts benchmarks

# Speed against the tools users run today (issue 16): writes benchmarks/results.json and
# docs/benchmarks.md. Full size takes minutes; `make test` runs it at a tiny size.
bench: test-deps setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(DATA_DIR) build *.egg-info src/*.egg-info
