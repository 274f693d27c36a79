# The two commands a new user runs: `make demo` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
CONSTRAINTS := constraints-3.11.txt
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml $(CONSTRAINTS) Makefile | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# The suite runs on two pytest-xdist workers: its end-to-end tests mostly wait (on rate limits, Airflow's
# loops, HTTP), so two share a 2-core machine well (5 min against 9 serially; four were slower than two).
PYTEST_WORKERS ?= 2
CHROMIUM := /usr/bin/chromium
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
# Azurite (the Azure Storage emulator) for the multi-worker tests, pinned in its package-lock.json.
AZURITE := gitsync_devkit/azurite/node_modules/.installed

.PHONY: demo test test-matrix lint format install browser constraints matrix-constraints clean

# Python writes and reuses bytecode as it does by default: a machine that sets
# PYTHONDONTWRITEBYTECODE would otherwise compile every module in every Airflow task process
# (about 8 s of start-up each on a 2-core machine), which no production install does.
unexport PYTHONDONTWRITEBYTECODE

# `make demo UI=1` leaves Airflow's UI running with the Backups view after the demo's runs.
demo: $(STAMP)
	$(BIN)/python -m gitsync_devkit.demo $(if $(UI),--ui)

test: $(STAMP) browser $(AZURITE) lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-matrix

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
# (Airflow's own install practice), with the test and bench dependency groups of pyproject.toml.
# Re-runs whenever setup.cfg, pyproject.toml, the constraints or this file change.
# The dev kit (gitsync_devkit/: emulator, git server, demo) is not in the wheel, and the editable
# install maps only airflow_gitsync; a symlink to it in the venv's site-packages makes it import from
# any directory (Airflow's task subprocesses, `python -m gitsync_devkit...` elsewhere). Not a .pth
# naming the checkout: that also put the checkout's airflow_gitsync.egg-info on the path, a second
# installed copy of this package, whose plugin Airflow then loaded twice ("1 Plugin Import Error").
$(STAMP):
	@command -v git >/dev/null || { echo "error: git is required (apt-get install git)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' \
		|| { echo "error: Python >= 3.11 is required, found $$($(PYTHON) --version)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -c $(CONSTRAINTS) -e '.[celery]' \
		--group test --group bench
	$(call devkit_pth,$(BIN)/python)
	rm -f $(VENV)/.installed-*
	touch $@

define devkit_pth
	$(1) -c 'import pathlib, sysconfig; \
		site = pathlib.Path(sysconfig.get_path("purelib")); \
		(site / "gitsync_devkit.pth").unlink(missing_ok=True); \
		(site / "gitsync_devkit").unlink(missing_ok=True); \
		(site / "gitsync_devkit").symlink_to(pathlib.Path.cwd() / "gitsync_devkit", target_is_directory=True)'
endef

$(AZURITE): gitsync_devkit/azurite/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is required for Azurite (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix gitsync_devkit/azurite --no-audit --no-fund --loglevel=error
	touch $@

# Re-resolve the pinned set after changing dependencies in setup.cfg. Every existing pin is kept (the
# current file constrains the resolution, as uv's own preference for it did not always); to upgrade a
# package, delete its line first.
constraints: $(STAMP)
	cp $(CONSTRAINTS) $(VENV)/constraints.previous
	$(BIN)/uv pip compile setup.cfg --extra celery --group pyproject.toml:test --group pyproject.toml:bench \
		--python-version 3.11 --no-header --no-annotate -c $(VENV)/constraints.previous -o $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .matrix .demo .bench build *.egg-info node_modules gitsync_devkit/azurite/node_modules

# The version matrix: the combinations of Python and Airflow besides the main set (Python 3.11, Airflow
# 3.3), each in a venv under .matrix/ built with `uv venv` on pyenv's interpreter and installed with
# constraints/<combination>.txt. Each runs the unit tests (not the dev kit's, the wheel's or the
# benchmarks', which do not depend on Airflow) and one `airflow dags test` backup, checked byte for byte.
MATRIX := py3.10-airflow3.1 py3.12-airflow3.2 py3.13-airflow3.3
# The Airflow release each minor's constraints are resolved for (`make matrix-constraints`).
AIRFLOW_RELEASE.3.1 := 3.1.8
AIRFLOW_RELEASE.3.2 := 3.2.2
AIRFLOW_RELEASE.3.3 := 3.3.2
# Airflow 3.2.2 caps few of its dependencies, and their later releases break its execution API (`airflow
# dags test`, every task: fastapi, starlette, cadwyn, svcs): its dependencies are resolved as of its
# release, as Airflow's own constraints file pins them; the providers as new as they come.
AIRFLOW_RELEASED.3.2 := 2026-06-01
MATRIX_UNIT_ARGS := tests --ignore=tests/e2e --ignore=tests/devkit --ignore=tests/test_benchmarks.py \
	--ignore=tests/test_packaging.py
python_of = $(patsubst py%,%,$(firstword $(subst -, ,$(1))))
airflow_of = $(patsubst airflow%,%,$(lastword $(subst -, ,$(1))))
# The newest pyenv interpreter of a Python minor, else python3.X on the PATH.
interpreter = $(or $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/$(1).*/bin/python$(1)))), \
	$(shell command -v python$(1)))

test-matrix: $(MATRIX:%=matrix-%)

# Kept between runs: a venv is rebuilt only when its constraints, setup.cfg or pyproject.toml change.
.PRECIOUS: .matrix/%/.installed

matrix-%: .matrix/%/.installed $(AZURITE)
	@echo "=== $*: unit tests and an airflow dags test backup"
	.matrix/$*/bin/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(MATRIX_UNIT_ARGS)
	.matrix/$*/bin/python -m pytest -q tests/e2e/test_dags_test_cli.py

.matrix/%/.installed: constraints/%.txt setup.cfg pyproject.toml | $(STAMP)
	@test -n "$(call interpreter,$(call python_of,$*))" || { echo "error: $* needs Python \
	$(call python_of,$*), found neither in pyenv nor as python$(call python_of,$*) on the PATH: \
	pyenv install $(call python_of,$*)" >&2; exit 1; }
	rm -rf .matrix/$*
	$(BIN)/uv venv -q -p $(call interpreter,$(call python_of,$*)) .matrix/$*
	$(BIN)/uv pip install -q --python .matrix/$*/bin/python --compile-bytecode -c constraints/$*.txt \
		-e '.[celery]' --group test
	$(call devkit_pth,.matrix/$*/bin/python)
	touch $@

# Re-resolve the matrix's constraints (after changing dependencies in setup.cfg or pyproject.toml), each
# for its Airflow release and Python version, keeping every existing pin as `make constraints` does:
# where AIRFLOW_RELEASED.<minor> is set, first Airflow alone as of that day, then this package on top.
matrix-constraints: $(STAMP)
	mkdir -p constraints
	$(foreach combo,$(MATRIX),$(call matrix_constraints,$(combo),$(call python_of,$(combo)),$(call airflow_of,$(combo))))

define matrix_constraints
	touch constraints/$(1).txt
	cp constraints/$(1).txt $(VENV)/constraints.previous
	$(if $(AIRFLOW_RELEASED.$(3)),echo "apache-airflow==$(AIRFLOW_RELEASE.$(3))" | $(BIN)/uv pip compile - -q \
		--python-version $(2) --exclude-newer $(AIRFLOW_RELEASED.$(3)) --no-header --no-annotate \
		| grep -v '^apache-airflow-providers-',true) > $(VENV)/constraints.airflow
	echo "apache-airflow==$(AIRFLOW_RELEASE.$(3))" | $(BIN)/uv pip compile setup.cfg - --extra celery \
		--group pyproject.toml:test --python-version $(2) --no-header --no-annotate \
		-c $(VENV)/constraints.previous -c $(VENV)/constraints.airflow -o constraints/$(1).txt

endef
