# One place for set-up, the demo and the checks. `.ci/run` calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit bench revision clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/p2p-bot demo

lint: install
	$(BIN)/ruff check bot commands tests bench tools

typecheck: install
	$(BIN)/mypy

# on every core; one file alone: .venv/bin/pytest -q tests/test_x.py
unit: install
	$(BIN)/pytest -q -n auto --dist loadgroup

test: lint typecheck unit

bench: install
	$(BIN)/python -m bench $(or $(WHAT),answers) $(ARGS)

# a new schema revision from the change to bot/edges/store.py's tables: make revision M="add the docs table"
revision: install
	$(BIN)/python tools/revision.py "$(M)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
