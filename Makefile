# egca: `make demo` (set up + main job: egca train on the offline defaults), `make test` (lint, types, tests).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

VERL_VENV ?= .venv-verl

.PHONY: setup demo test lint clean setup-verl test-verl

$(BIN)/.egca-installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/.egca-installed

# verl pins transformers <5.11 (TRL's environment: 5.24), so the verl extra lives in its own venv
$(VERL_VENV)/bin/.egca-installed: pyproject.toml constraints-verl.txt
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/pip install -q --upgrade pip
	$(VERL_VENV)/bin/pip install -q -c constraints-verl.txt -e '.[verl]' hypothesis
	touch $@

setup-verl: $(VERL_VENV)/bin/.egca-installed

# the verl tests (tests/verl skip without verl) and the verl-free ones of the integration
test-verl: setup-verl
	$(VERL_VENV)/bin/pytest -q tests/verl tests/test_verl_credit.py tests/test_verl_data.py

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
	rm -rf $(VENV) $(VERL_VENV) egca-out .pytest_cache .mypy_cache .ruff_cache
