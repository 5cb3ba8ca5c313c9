# The two commands: `make run` (the whole stack, embedded SQLite, demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test test-unit lint lint-openapi typecheck bench soak install clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## Start gateway (8000) and services (8001-8003) with demo clients; Ctrl-C stops everything.
run: $(INSTALLED)
	$(VENV)/bin/lmx up

## Every test suite, on SQLite and on PostgreSQL (set LMX_TEST_POSTGRES_URL to use another server):
## tests/unit, tests/api and tests/e2e (docs/decisions/0009-testing.md).
test: $(INSTALLED)
	$(PY) -m pytest -q -p no:cacheprovider

## The unit tier alone: pure rules and plumbing, no database server, no stack, no processes (seconds).
test-unit: $(INSTALLED)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

## ruff; mypy (strict; tests and bench too, see docs/decisions/0021); the architecture contracts
## (lint-imports, pyproject [tool.importlinter]), the migrations' imports, and the NL GOV API Design
## Rules linter (Spectral, pinned in tools/adr-linter) on every published OpenAPI document.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/check_migration_imports.py
	$(PY) tools/lint_openapi.py

## The NL GOV API Design Rules linter alone, on every published OpenAPI document (docs/decisions/0026).
lint-openapi: $(INSTALLED)
	$(PY) tools/lint_openapi.py

## Benchmarks (never part of `make test`); see docs/performance.md.
bench: $(INSTALLED)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py

## The soak (never part of `make test`): the whole stack on PostgreSQL and Redis under a mixed load through
## the gateway for SOAK_SECONDS (default 600); errors, latency percentiles, RSS over time, outbox backlog.
## Report in var/soak/latest.{json,md}; see docs/performance.md ("Soak").
soak: $(INSTALLED)
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) var
