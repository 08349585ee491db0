# gureum: `make up` starts the cloud, `make test` runs every check.
# Both create .venv (Python >= 3.11) and install what they need into it, once.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extra flags: make up ARGS="--port 4567", make pytest PYTEST_ARGS="-k sts -x"
ARGS ?=
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_PYTHON_VERSION_WARNING := 1
PIP := $(BIN)/python -m pip install --quiet

.DEFAULT_GOAL := help
.PHONY: help up test lint types imports pytest bench clean distclean

help:
	@echo "make up         install gureum into .venv and start it (ARGS=... for gureum up flags)"
	@echo "make test       install the test tools and run lint, types, layering and pytest"
	@echo "make lint       ruff, mypy and the import layering only"
	@echo "make pytest     the test suite only (PYTEST_ARGS=...)"
	@echo "make bench      startup and per-call CPU benchmarks (bench/README.md)"
	@echo "make clean      remove caches and build files; make distclean also removes .venv"

up: $(VENV)/.stamp-cli
	$(BIN)/gureum up $(ARGS)

test: lint pytest

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench
	$(BIN)/lint-imports

# Three workers: the slow end-to-end groups (instances, load balancers, engines)
# mostly wait on real processes, so they run side by side (PYTEST_WORKERS=0: one process).
PYTEST_WORKERS ?= 3
pytest: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(VENV)/.stamp-test
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/api.py

# --- the virtual environment ------------------------------------------------

$(VENV)/.stamp-venv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "gureum needs Python >= 3.11; install it or run make PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq python3-venv >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }; \
	  else \
	    echo "$(PYTHON) cannot create virtual environments: install python3-venv" \
	         "(sudo apt-get install python3-venv) and run make again" >&2; \
	    exit 1; \
	  fi; \
	fi
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "creating $(VENV)"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	@touch $@

$(VENV)/.stamp-cli: pyproject.toml $(VENV)/.stamp-venv
	@echo "installing gureum into $(VENV)"
	$(PIP) -e '.[cli]'
	@touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-venv
	@echo "installing gureum and its test tools into $(VENV)"
	$(PIP) -e '.[cli,test]'
	@touch $@ $(VENV)/.stamp-cli

# --- housekeeping -----------------------------------------------------------

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	  .import_linter_cache
	find src tests bench -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
