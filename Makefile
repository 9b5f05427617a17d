# Relaydesk developer entry points. Every target is idempotent and quick when nothing is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv install services test lint bench demo web browser-deps screenshots api-snapshot events-docs mail-servers clean

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

test: install services web browser-deps mail-servers ## Run every test: pytest (browser E2E included), then Vitest
	$(VPY) -m pytest $(PYTEST_ARGS)
	cd $(FRONTEND) && $(NPM) test

mail-servers: ## Install Debian's dovecot IMAP server for the e-mail channel tests, if missing
	@if [ ! -x /usr/sbin/dovecot ]; then \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd \
		|| { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd; }; fi

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

# --- web UI (frontend/ -> relaydesk/web/dist; see docs/web.md) -----------------------------
FRONTEND := frontend
WEB_DIST := relaydesk/web/dist
NPM ?= npm
# npm ci wipes node_modules, so this stamp inside it also records "installed from this lock"
WEB_DEPS := $(FRONTEND)/node_modules/.relaydesk-installed
WEB_SOURCES := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f 2>/dev/null) \
	$(wildcard $(FRONTEND)/index.html $(FRONTEND)/package.json $(FRONTEND)/vite.config.ts \
	           $(FRONTEND)/tsconfig.json $(FRONTEND)/tsconfig.app.json)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(WEB_DEPS): $(FRONTEND)/package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 \
		|| { echo "npm is missing: install Node.js >= 20.19 to build the web UI" >&2; exit 1; }
	cd $(FRONTEND) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(WEB_DIST)/index.html: $(WEB_DEPS) $(WEB_SOURCES)
	cd $(FRONTEND) && $(NPM) run build
	@touch $@

WIDGET := widget
WIDGET_JS := relaydesk/web/widget/dist/widget.js
WIDGET_DEPS := $(WIDGET)/node_modules/.relaydesk-installed
WIDGET_SOURCES := $(shell find $(WIDGET)/src -type f 2>/dev/null) \
	$(wildcard $(WIDGET)/package.json $(WIDGET)/vite.config.ts $(WIDGET)/tsconfig.json \
	           $(WIDGET)/scripts/size.mjs)

$(WIDGET_DEPS): $(WIDGET)/package-lock.json
	cd $(WIDGET) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(WIDGET_JS): $(WIDGET_DEPS) $(WIDGET_SOURCES)
	cd $(WIDGET) && $(NPM) run build
	@touch $@

web: $(WEB_DIST)/index.html $(WIDGET_JS) ## Build the web UI and the chat widget (only when stale)

browser-deps: ## Install Debian's Chromium (and a CJK font) for the browser tests, if missing
	@if ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get install -y chromium fonts-wqy-microhei \
			|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium fonts-wqy-microhei; }; \
	elif ! fc-list 2>/dev/null | grep -qi 'wqy\|noto sans cjk'; then \
		$(SUDO) apt-get install -y fonts-wqy-microhei \
			|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y fonts-wqy-microhei; }; \
	fi

screenshots: install web browser-deps ## Refresh docs/screenshots/*.png from the browser suite
	RELAYDESK_SCREENSHOTS=1 $(VPY) -m pytest tests/web/test_e2e.py -q -p no:cacheprovider

events-docs: install ## Regenerate docs/events.md from the event catalogue
	$(VENV)/bin/python -m relaydesk.events.docs

api-snapshot: install $(WEB_DEPS) ## Regenerate frontend/src/api/openapi.json and schema.d.ts
	cd $(FRONTEND) && $(NPM) run api:generate

demo: install web ## Migrate, seed and serve a demo instance (prints URLs and logins)
	$(VENV)/bin/relaydesk demo

clean: ## Remove var/ and caches (keeps .venv)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage build dist \
		$(WEB_DIST) relaydesk/web/widget/dist
	find . \( -path ./.venv -o -path ./.git -o -path ./frontend/node_modules \
		-o -path ./widget/node_modules \) -prune \
		-o -type d -name __pycache__ -exec rm -rf {} +
