# egca: `make demo` (set up + main job: egca train on the offline defaults), `make test` (lint, types, tests).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint clean

$(BIN)/.egca-installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/.egca-installed

demo: setup
	$(BIN)/egca doctor
	$(BIN)/egca train

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) egca-out .pytest_cache .mypy_cache .ruff_cache
