# Local demo, tests and checks. `make run` and `make test` work from a fresh clone: each target
# installs what it needs first. Stamp files make a second run skip what is already done.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
VAR := var
PYTEST_ARGS ?=

INSTALL_STAMP := $(VENV)/.installed
STATIC_STAMP := static_build/.built
COLLECT_STAMP := $(VAR)/.collectstatic
STATIC_INPUTS := scripts/build_static.sh $(wildcard package.json package-lock.json)
OWN_STATIC := $(shell find static -type f 2>/dev/null)

REQUIREMENTS_FROM_PYPROJECT := import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))

# `make run` is the local demo: SQLite and Celery's filesystem broker under var/.
LOCAL := DJANGO_SETTINGS_MODULE=config.settings.local

.PHONY: help install static run test test-all lint format schema migrations-check bench bench-load clean

help:
	@echo "make run               install, build, migrate, load demo data; serve http://127.0.0.1:8000/"
	@echo "                       with a Celery worker and beat (Ctrl-C stops all three)"
	@echo "make test              the fast suite: everything but the tests marked slow (fuzzing, workflow"
	@echo "                       state machine, browser, Celery processes); PostgreSQL/Redis when"
	@echo "                       DATABASE_URL/CELERY_BROKER_URL are set"
	@echo "make test-all          the whole suite, slow tests included (what CI runs)"
	@echo "make lint              ruff check, ruff format --check and mypy (Django and DRF plugins)"
	@echo "make format            ruff format and ruff check --fix"
	@echo "make schema            validate the OpenAPI schema (written to var/schema.yml)"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make bench             national-scale benchmark on PostgreSQL (BENCH_EPISODES, BENCH_DATABASE_URL)"
	@echo "make bench-load        police intake over HTTP under gunicorn (bench/load.py)"
	@echo "make clean             remove the virtualenv, built assets and everything under var/"

install: $(INSTALL_STAMP)

# The dependency lists in pyproject.toml are pinned. They are installed directly rather than with
# `pip install -e .`: the project is not a package (packages = []), and an editable install
# would only leave an .egg-info directory in the work tree.
$(INSTALL_STAMP): pyproject.toml
	@echo "==> Python virtualenv and dependencies ($(VENV))"
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed (python3.11 or python3)." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "$(PYTHON) is not Python 3.11; run with PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c '$(REQUIREMENTS_FROM_PYPROJECT)' > $(VENV)/requirements.txt
	$(PY) -m pip install --disable-pip-version-check --quiet --progress-bar off -r $(VENV)/requirements.txt
	@touch $@

static: $(STATIC_STAMP)

# GOV.UK Frontend from npm, built into static_build/, and axe-core for the browser tests into
# tests/browser/vendor/ (neither committed).
$(STATIC_STAMP): $(STATIC_INPUTS)
	@echo "==> Static assets (scripts/build_static.sh)"
	bash scripts/build_static.sh
	@mkdir -p $(dir $@) && touch $@

scripts/build_static.sh:
	@echo "scripts/build_static.sh is missing: it builds GOV.UK Frontend into static_build/." >&2
	@exit 1

$(COLLECT_STAMP): $(INSTALL_STAMP) $(STATIC_STAMP) $(OWN_STATIC)
	@echo "==> collectstatic"
	$(LOCAL) $(PY) manage.py collectstatic --noinput --verbosity 0
	@mkdir -p $(dir $@) && touch $@

run: $(INSTALL_STAMP) $(STATIC_STAMP) $(COLLECT_STAMP)
	@echo "==> Migrations"
	$(LOCAL) $(PY) manage.py migrate --noinput
	@echo "==> Demo data, then the web server, Celery worker and Celery beat"
	$(LOCAL) $(PY) scripts/run_local.py

# `make test` leaves out the tests marked slow (tests/conftest.py marks them); a `-m` in
# PYTEST_ARGS comes later on the command line and replaces it, e.g. PYTEST_ARGS="-m browser".
test: $(INSTALL_STAMP) $(STATIC_STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(INSTALL_STAMP) $(STATIC_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(INSTALL_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(INSTALL_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

schema: $(INSTALL_STAMP)
	@mkdir -p $(VAR)
	$(PY) manage.py spectacular --validate --fail-on-warn --file $(VAR)/schema.yml

migrations-check: $(INSTALL_STAMP)
	$(PY) manage.py makemigrations --check --dry-run

# Not part of `make test`: generates a million episodes (once) and times each operation against
# its floor on PostgreSQL. See bench/README.md.
BENCH_EPISODES ?= 1000000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/missing_bench
BENCH_ARGS ?=

bench: $(INSTALL_STAMP)
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py --episodes $(BENCH_EPISODES) $(BENCH_ARGS)

bench-load: $(INSTALL_STAMP)
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules static_build tests/browser/vendor $(VAR) .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
