# Two commands set up everything on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test lint typecheck pytest test-postgres clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

serve: $(STAMP)
	$(BIN)/threatcast serve --bootstrap

test: $(DEV_STAMP) browser lint typecheck pytest

# The dashboard's browser test drives Debian's Chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the dashboard test"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	  || { echo "could not install chromium; as root: apt-get install chromium"; exit 1; }; }

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest -m "not postgres" --cov --cov-report=term --durations=15

# Needs the PostgreSQL server at THREATCAST_TEST_POSTGRES_URL (default: local, trust auth, database test).
test-postgres: $(DEV_STAMP)
	$(BIN)/pytest -m postgres --durations=10

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage
