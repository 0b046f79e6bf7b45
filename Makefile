# One entry point for people and CI: `make test` installs what is missing, lints, tests.
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
PY := $(VENV)/bin/python
# Packages that exist so far; mypy is strict for wire/ and ledger/ (pyproject overrides).
PKGS := $(wildcard common wire ledger edge cloud firmware_sim channeltrace)
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: bootstrap demo test lint unit clean distclean

bootstrap:
	bash scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/channeltrace demo $(DEMO_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(if $(PKGS),$(VENV)/bin/mypy $(PKGS),@echo "no packages to type-check")
	$(VENV)/bin/lint-imports --no-cache  # the floors between packages (docs/architecture.md)

# `python -m pytest` puts the repository root on sys.path, which the -p tests.plugins.*
# option in pyproject needs before any conftest is loaded.
#
# In CI the whole suite runs once, inside a fresh clone with nothing beside it
# (tests/acceptance: the README's commands as a user runs them); then here only the tests
# that clone skipped, those needing ../shared (tests/plugins/outcomes.py).
OUTCOMES := $(CURDIR)/.cache/bare-clone-outcomes.json
test: bootstrap lint
ifeq ($(CI)$(CT_BARE_CLONE_NESTED),true)
	rm -f $(OUTCOMES)
	CT_BARE_CLONE_OUTCOMES=$(OUTCOMES) $(PY) -m pytest tests/acceptance $(PYTEST_ARGS)
	$(PY) -m pytest --ignore=tests/acceptance --only-skipped-in=$(OUTCOMES) $(PYTEST_ARGS)
else
	$(PY) -m pytest $(PYTEST_ARGS)
endif

unit: bootstrap
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
