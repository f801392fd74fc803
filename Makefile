# The two commands a newcomer needs:  `make demo` (set up + translate the bundled sample paper on the embedded
# model through the real server) and `make test` (set up + start test services + the whole test suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo serve test test-quick services lint check-base-install

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/papertrans demo

serve: setup
	$(VENV)/bin/papertrans serve

services:
	bash scripts/ci_services.sh > .services.env

# ruff (complexity rules included) and mypy --strict on the package.
lint:
	bash scripts/lint.sh

# The base install (no extras) in a throwaway venv: the client and converters import, `papertrans --help` works,
# torch does not come with it.
check-base-install:
	bash scripts/check_base_install.sh

# Everything (what CI runs): lint, the base-install check, then the whole suite with the engine-backed, training,
# browser and PostgreSQL tests.
test: setup lint check-base-install services
	set -a; source .services.env; set +a; $(PY) -m pytest

# Fast tests only (no engine, no training, no browser, no database server).
test-quick:
	$(PY) -m pytest -m "not engine and not slow"
