# The two commands of the README:
#   make render STACK=dev   offline render of a stack (no cloud needed) into rendered/<stack>/
#   make test               every test: unit, mock graph, render freshness, conformance, lint, types
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
STACKS := dev prod
APT_PACKAGES := clang lld docker-registry openssl
ISTIO_CRDS_DIR ?= build/istio-crds
# checkov (tests/test_scanner.py) lives in a venv of its own: its pins conflict with requirements-dev.txt.
SCANNER_VENV ?= build/scanner-venv

.PHONY: render render-all check-render test pytest lint typecheck system-deps fetch-istio-crds clean bench readme scanner

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(SCANNER_VENV)/.installed: requirements-scanner.txt
	$(PYTHON) -m venv $(SCANNER_VENV)
	$(SCANNER_VENV)/bin/python -m pip install -q -r requirements-scanner.txt
	touch $@

scanner: $(SCANNER_VENV)/.installed

render: $(VENV)/.installed
	$(PY) -m tools.render $(STACK)

render-all: $(VENV)/.installed
	$(PY) -m tools.render $(STACKS)

check-render: $(VENV)/.installed
	$(PY) -m tools.render --check $(STACKS)

# Compilers for the probe Wasm modules and the local OCI registry used by the tests.
system-deps:
	@if ! command -v clang >/dev/null || ! command -v wasm-ld >/dev/null \
	   || ! command -v docker-registry >/dev/null || ! command -v openssl >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	  else \
	    echo "missing system packages: sudo apt-get install $(APT_PACKAGES)" >&2; exit 1; \
	  fi; \
	fi

test: $(VENV)/.installed system-deps lint typecheck pytest

pytest: $(VENV)/.installed $(SCANNER_VENV)/.installed
	ACPW_CHECKOV=$(abspath $(SCANNER_VENV))/bin/checkov $(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# Fetch the Istio CRD bundles for the conformance tests from the public Istio repository,
# checking each file's pinned git blob id (see ../shared/istio-crds/README.md).
fetch-istio-crds: $(VENV)/.installed
	$(PY) tools/fetch_istio_crds.py --dest $(ISTIO_CRDS_DIR)
	@echo "run the tests against them with: ACPW_ISTIO_CRDS=$(ISTIO_CRDS_DIR) make test"

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

bench: $(VENV)/.installed
	$(PY) -m tools.bench

# Rewrite the README's Istio version matrix and ranges from acpw/istio_versions.py.
readme: $(VENV)/.installed
	$(PY) -m tools.readme_tables --write
