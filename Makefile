# The two commands a newcomer needs:  `make demo` (set up + translate the bundled sample paper on the embedded
# model through the real server) and `make test` (set up + start test services + the whole test suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo serve test test-quick services

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/papertrans demo

serve: setup
	$(VENV)/bin/papertrans serve

services:
	bash scripts/ci_services.sh > .services.env

# Everything, engine-backed, training, browser and PostgreSQL tests included (what CI runs).
test: setup services
	set -a; source .services.env; set +a; $(PY) -m pytest

# Fast tests only (no engine, no training, no browser, no database server).
test-quick:
	$(PY) -m pytest -m "not engine and not slow"
