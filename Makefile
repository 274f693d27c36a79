# The two commands a new user runs: `make demo` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
CONSTRAINTS := constraints-3.11.txt
STAMP := $(VENV)/.installed-$(shell cat setup.cfg $(CONSTRAINTS) Makefile | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
# Azurite (the Azure Storage emulator) for the multi-worker tests, pinned in its package-lock.json.
AZURITE := gitsync_devkit/azurite/node_modules/.installed

.PHONY: demo test lint format install browser constraints clean

# Python writes and reuses bytecode as it does by default: a machine that sets
# PYTHONDONTWRITEBYTECODE would otherwise compile every module in every Airflow task process
# (about 8 s of start-up each on a 2-core machine), which no production install does.
unexport PYTHONDONTWRITEBYTECODE

# `make demo UI=1` leaves Airflow's UI running with the Backups view after the demo's runs.
demo: $(STAMP)
	$(BIN)/python -m gitsync_devkit.demo $(if $(UI),--ui)

test: $(STAMP) browser $(AZURITE) lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(STAMP) browser $(AZURITE)

# The Backups view's browser test drives Debian's Chromium (never a browser download) with
# playwright-core from npm, pinned in package-lock.json and installed into node_modules/.
browser: $(CHROMIUM) $(NODE_STAMP)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	else echo "error: the browser test needs Debian's chromium package: sudo apt-get install chromium" >&2; \
		exit 1; fi

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || if [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q nodejs npm; \
	else echo "error: the browser test needs node and npm: sudo apt-get install nodejs npm" >&2; exit 1; fi
	npm ci --no-audit --no-fund
	rm -f node_modules/.installed-*
	touch $@

# A project venv, installed with the committed constraints so every machine gets the same set
# (Airflow's own install practice). Re-runs whenever setup.cfg, the constraints or this file change.
# The dev kit (gitsync_devkit/: emulator, git server, demo) is not in the wheel, and the editable
# install maps only airflow_gitsync; a .pth file puts the checkout on the venv's sys.path so it also
# imports from any directory (Airflow's task subprocesses, `python -m gitsync_devkit...` elsewhere).
$(STAMP):
	@command -v git >/dev/null || { echo "error: git is required (apt-get install git)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' \
		|| { echo "error: Python >= 3.11 is required, found $$($(PYTHON) --version)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -c $(CONSTRAINTS) -e '.[test,bench,celery]'
	$(BIN)/python -c 'import pathlib, sysconfig; \
		pathlib.Path(sysconfig.get_path("purelib"), "gitsync_devkit.pth").write_text(f"{pathlib.Path.cwd()}\n")'
	rm -f $(VENV)/.installed-*
	touch $@

$(AZURITE): gitsync_devkit/azurite/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is required for Azurite (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix gitsync_devkit/azurite --no-audit --no-fund --loglevel=error
	touch $@

# Re-resolve the pinned set after changing dependencies in setup.cfg. Every existing pin is kept (the
# current file constrains the resolution, as uv's own preference for it did not always); to upgrade a
# package, delete its line first.
constraints: $(STAMP)
	cp $(CONSTRAINTS) $(VENV)/constraints.previous
	$(BIN)/uv pip compile setup.cfg --extra test --extra bench --extra celery --python-version 3.11 \
		--no-header --no-annotate -c $(VENV)/constraints.previous -o $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .demo .bench build *.egg-info node_modules gitsync_devkit/azurite/node_modules
