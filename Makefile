# Everyday tasks for django-multipay. `make help` lists them.
#
# Every target works from a fresh clone with only `python3` on PATH: the
# first run creates .venv and installs what the target needs; later runs
# reinstall only when pyproject.toml has changed.
#
# Useful overrides:
#   make test PYTEST_ARGS="-k refunds -x"
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make test
#   make demo DEMO_ADDR=0.0.0.0:8000
#   make test PYTHON=python3.13        (only matters when .venv is created)

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# The install stamps share one virtualenv; never run two pip installs at once.
.NOTPARALLEL:

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
PIP := $(VENV_PY) -m pip

# The example shop's manage.py; every demo and migrations command goes through it.
MANAGE_PY := example_project/manage.py
MANAGE := $(VENV_PY) $(MANAGE_PY)
DEMO_ADDR ?= 127.0.0.1:8000

PYTEST_ARGS ?=
# Only the folders that exist, so a checkout without one of them still lints.
LINT_PATHS := $(wildcard django_multipay tests example_project bench)
DOCS_OUT := docs/_build/html

# Install stamps. They live inside the virtualenv, so deleting .venv
# forgets them too.
STAMP_VENV := $(VENV)/.stamp-venv
STAMP_DEMO := $(VENV)/.stamp-demo
STAMP_TEST := $(VENV)/.stamp-test
STAMP_LINT := $(VENV)/.stamp-lint
STAMP_TYPE := $(VENV)/.stamp-type
STAMP_DOCS := $(VENV)/.stamp-docs

.PHONY: help install test bench bench-smoke soak api-fuzz demo first-contact lint imports format type docs migrations-check messages messages-check package-check check clean distclean

help:
	@echo "make test              run the test suite (PYTEST_ARGS=... to pass options; DATABASE_URL selects the database)"
	@echo "make bench             benchmarks on PostgreSQL (BENCH_DATABASE_URL): bench/results/latest.json, docs/performance.md"
	@echo "make bench-smoke       every benchmark part, shortened, checked; writes no files"
	@echo "make soak              10 min of mixed traffic, 5% of gateway calls failing (SOAK_SECONDS=600): bench/results/soak.json"
	@echo "make api-fuzz          fuzz the REST API against its OpenAPI schema (schemathesis; API_FUZZ_EXAMPLES=10)"
	@echo "make demo              migrate, load demo data and serve the example shop on $(DEMO_ADDR)"
	@echo "make first-contact     a fresh copy of this tree: make demo on another port, buy through every gateway"
	@echo "make lint              ruff check and ruff format --check"
	@echo "make imports           the layers as import contracts (lint-imports; pyproject.toml [tool.importlinter])"
	@echo "make format            ruff check --fix and ruff format"
	@echo "make type              mypy over django_multipay"
	@echo "make docs              build the HTML docs into $(DOCS_OUT) (warnings are errors)"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make messages          rebuild and compile the translation catalogues (django_multipay/locale)"
	@echo "make messages-check    fail if a catalogue lacks a translation or its .mo is stale"
	@echo "make check             lint, imports, type, migrations-check, messages-check, test and docs"
	@echo "make clean             remove build output and caches"
	@echo "make distclean         clean, plus .venv, .tox and the demo database"

# --- virtualenv and installs -------------------------------------------------

# pip >= 25.1 understands `--group` (PEP 735 dependency groups).
$(STAMP_VENV):
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=25.1"
	touch $@

# What the example shop needs and nothing more: the package (editable) and the `demo`
# group (its extras and django-environ). The `test` group includes it.
$(STAMP_DEMO): pyproject.toml $(STAMP_VENV)
	$(PIP) install -e . --group demo
	touch $@

# The package (editable) with its `testing` extra and the `test` group, in one
# resolve so the group's reference to django-multipay[testing] is this checkout.
$(STAMP_TEST): pyproject.toml $(STAMP_VENV)
	$(PIP) install -e ".[testing]" --group test
	touch $@

$(STAMP_LINT): pyproject.toml $(STAMP_VENV)
	$(PIP) install --group lint
	touch $@

# mypy's Django plugin imports tests.settings, so the test install comes first.
$(STAMP_TYPE): pyproject.toml $(STAMP_TEST)
	$(PIP) install --group type
	touch $@

$(STAMP_DOCS): pyproject.toml $(STAMP_VENV)
	$(PIP) install -e . --group docs
	touch $@

install: $(STAMP_TEST)

# --- tasks -------------------------------------------------------------------

test: $(STAMP_TEST)
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

# Throughput, SQL per operation, scale, reconciliation and pooling on PostgreSQL
# (BENCH_DATABASE_URL; its database is dropped and recreated). About 15 minutes.
bench: $(STAMP_TEST)
	$(VENV_PY) -m bench.run

# Every benchmark part, shortened, with its own correctness checks; writes no files (CI).
bench-smoke: $(STAMP_TEST)
	$(VENV_PY) -m bench.run --quick

# The example shop under gunicorn (4 workers) on PostgreSQL (SOAK_DATABASE_URL, database
# mp_soak dropped and recreated), its gateway calls through a fault-injecting proxy; ports
# 18300-18302. Ten minutes by default; not part of CI.
soak: $(STAMP_TEST)
	$(VENV_PY) -m bench.soak

# In-process (WSGI) against the example shop on a throwaway database, as staff and as a
# customer. pytest-django stays off: the example shop has its own settings.
api-fuzz: $(STAMP_TEST)
	$(VENV_PY) -m pytest -p no:django -p no:cacheprovider -W ignore::pytest.PytestConfigWarning \
		-q .ci/api_fuzz.py

# DEMO_ADDR reaches the shop's settings: every URL given to a gateway or an emulator follows it.
demo: $(STAMP_DEMO)
	DEMO_ADDR=$(DEMO_ADDR) $(MANAGE) migrate --noinput
	DEMO_ADDR=$(DEMO_ADDR) $(MANAGE) load_demo
	DEMO_ADDR=$(DEMO_ADDR) $(MANAGE) runserver $(DEMO_ADDR)

# A new user's first minutes, end to end: a copy of this tree with no virtualenv, `make demo`
# on a port other than 8000 (with the system python3 only), and a browser buying through
# every payment option of the shop. A few minutes; the browser comes from the test install.
first-contact: $(STAMP_TEST)
	MULTIPAY_FIRST_CONTACT=1 $(VENV_PY) -m pytest -p no:cacheprovider -q -s tests/test_first_contact.py

lint: $(STAMP_LINT)
	$(VENV_PY) -m ruff check $(LINT_PATHS)
	$(VENV_PY) -m ruff format --check $(LINT_PATHS)

# The layers of docs/architecture.md, as import-linter contracts in pyproject.toml. Static: it
# reads the source of django_multipay from this directory and imports none of it.
imports: $(STAMP_LINT)
	$(VENV)/bin/lint-imports

format: $(STAMP_LINT)
	$(VENV_PY) -m ruff check --fix $(LINT_PATHS)
	$(VENV_PY) -m ruff format $(LINT_PATHS)

type: $(STAMP_TYPE)
	$(VENV_PY) -m mypy django_multipay

docs: $(STAMP_DOCS)
	$(VENV_PY) -m sphinx -E -W --keep-going -b html docs $(DOCS_OUT)

migrations-check: $(STAMP_TEST)
	$(MANAGE) makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=tests.settings $(VENV_PY) -m django makemigrations --check --dry-run

# Rebuild the translation catalogues from the code (makemessages) and compile them; new
# messages arrive untranslated in each django_multipay/locale/*/LC_MESSAGES/django.po.
messages: $(STAMP_TEST)
	$(VENV_PY) .ci/messages.py update

# Fails when a catalogue lacks a translation, holds a fuzzy one, does not compile, or its
# shipped .mo is not compiled from it. Needs GNU gettext (msgfmt, xgettext).
messages-check: $(STAMP_TEST)
	$(VENV_PY) .ci/messages.py check

package-check: $(STAMP_VENV)
	$(VENV_PY) .ci/check_wheel.py

check: lint imports type migrations-check messages-check package-check test docs

clean:
	rm -rf build dist *.egg-info docs/_build htmlcov .coverage .coverage.* \
		.pytest_cache .mypy_cache .ruff_cache .import_linter_cache
	find . \( -path ./.git -o -path ./$(VENV) -o -path ./.tox \) -prune \
		-o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .tox example_project/db.sqlite3
