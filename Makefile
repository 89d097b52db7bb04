# truenorth: the two quick-start commands are `make run` and `make test`.
# Both set up everything they need (system packages, .venv, the package) first;
# setting up is idempotent and quick when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := $(VENV)/.system-deps
DATA_DIR ?= .truenorth
PYTEST_ARGS ?=

.PHONY: setup system-deps run test check lint format bench clean

setup: $(STAMP)

system-deps: $(SYSSTAMP)

$(SYSSTAMP): scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml $(SYSSTAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

run: setup
	$(BIN)/python scripts/demo.py --data-dir $(DATA_DIR)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

check: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format src tests scripts
	$(BIN)/ruff check --fix src tests scripts

bench: setup
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) $(DATA_DIR) build *.egg-info src/*.egg-info
