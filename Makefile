# Relaydesk developer entry points. Every target is idempotent and quick when nothing is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv install services test lint bench demo web clean

help: ## List the targets
	@echo "Relaydesk make targets:"
	@awk -F':.*## ' '/^[a-z][a-z \/-]*:.*## / { printf "  %-14s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)
	@echo "Variables: PYTHON=$(PYTHON) (>= 3.11, used to create $(VENV)), PYTEST_ARGS='...'"

venv install: $(STAMP) ## Create .venv and install the project (only when pyproject.toml changed)

$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
		|| { echo "$(PYTHON) is missing or older than 3.11; run: make PYTHON=python3.11 ..." >&2; \
		     exit 1; }
	$(PYTHON) -m venv $(VENV)

# The stamp lives inside .venv, so a re-created venv is always re-installed.
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

services: install ## Start PostgreSQL, Redis and MariaDB if installed but stopped
	@bash scripts/services.sh

test: install services ## Run the test suite (PYTEST_ARGS='-k foo -x' to pass options)
	$(VPY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff on relaydesk, tests and bench; mypy --strict on relaydesk
	$(VENV)/bin/ruff check $(wildcard relaydesk tests bench)
	$(VENV)/bin/mypy relaydesk

bench: install services ## Run every bench/*.py (each prints its own figures)
	@shopt -s nullglob; scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "bench: no bench/*.py scripts yet"; fi; \
	for script in "$${scripts[@]}"; do \
		echo "== $$script"; \
		$(VPY) "$$script"; \
	done

# Hook for the web UI build: it will build frontend/ with npm (npm ci && npm run build) once
# the front end exists. A no-op until then; `demo` already depends on it.
web: ## Build the web UI (no-op for now)
	@:

demo: install web ## Migrate, seed and serve a demo instance (prints URLs and logins)
	$(VENV)/bin/relaydesk demo

clean: ## Remove var/ and caches (keeps .venv)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage build dist
	find . \( -path ./.venv -o -path ./.git -o -path ./frontend/node_modules \) -prune \
		-o -type d -name __pycache__ -exec rm -rf {} +
