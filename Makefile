# Every target bootstraps .venv itself, so a fresh clone needs only Python 3.11 and the registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := $(wildcard src tests handlers bench scripts cfn_rules)

# Template tools live in their own virtualenvs under .tools/, so their pinned dependencies
# never meet the project's. Bump a pin here and the next `make` reinstalls that tool only
# (the stamp file's name carries the pins).
TOOLS := .tools
SAM_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
SAM_STAMP := $(TOOLS)/sam/.installed-sam-$(SAM_VERSION)-cfn-lint-$(CFN_LINT_VERSION)
CHECKOV_STAMP := $(TOOLS)/checkov/.installed-checkov-$(CHECKOV_VERSION)

.PHONY: test demo bench lint typecheck unit clean tools template template-lint template-build template-scan

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

# aws-sam-cli brings cfn-lint; cfn-lint is pinned alongside it (within SAM's accepted range)
# so `cfn-lint` and `sam validate --lint` run the same linter version.
$(SAM_STAMP):
	rm -rf $(TOOLS)/sam
	$(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install -q --upgrade pip
	$(TOOLS)/sam/bin/pip install -q aws-sam-cli==$(SAM_VERSION) cfn-lint==$(CFN_LINT_VERSION)
	touch $@

$(CHECKOV_STAMP):
	rm -rf $(TOOLS)/checkov
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q --upgrade pip
	$(TOOLS)/checkov/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

## tools: install sam (with cfn-lint) and checkov into .tools/ (only when a pin changed)
tools: $(SAM_STAMP) $(CHECKOV_STAMP)

## test: everything CI checks (lint, types, the test suite, which includes the template checks)
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(STAMP)
	$(BIN)/mypy

# The idempotency tests run on dynalite (a DynamoDB implementation on Node) as well as moto.
# `npm ci` installs exactly the lock file's versions; the stamp makes it rerun only when that changes.
DYNALITE_DIR := tests/dynalite
DYNALITE_STAMP := $(DYNALITE_DIR)/node_modules/.installed

$(DYNALITE_STAMP): $(DYNALITE_DIR)/package-lock.json
	npm ci --prefix $(DYNALITE_DIR) --no-audit --no-fund
	touch $@

.PHONY: dynalite
## dynalite: install dynalite for the idempotency tests (only when its package-lock.json changed)
dynalite: $(DYNALITE_STAMP)

# tests/test_template.py runs cfn-lint, sam validate/build and checkov from .tools/.
unit: $(STAMP) tools dynalite
	$(BIN)/pytest -q

## template: only the template checks (lint, build + import from the layer, security scan)
template: $(STAMP) tools
	$(BIN)/pytest -q tests/test_template.py

## template-lint / template-build / template-scan: run one tool by hand on template.yaml
template-lint: tools
	$(TOOLS)/sam/bin/cfn-lint --append-rules cfn_rules/ -- template.yaml

template-build: tools
	$(TOOLS)/sam/bin/sam build --template template.yaml

template-scan: tools
	$(TOOLS)/checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

## demo: run every example handler on its sample events and summarise the outcome
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The bench-only extra (event-ruler, compared in bench/patterns.py) goes into .venv only for `make bench`.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

## bench: side-by-side performance comparisons (prints the tables): the worker, idempotency, resilience, patterns, claim check, the local runtime
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/idempotency.py
	$(BIN)/python bench/idempotency_window.py
	$(BIN)/python bench/resilience.py
	$(BIN)/python bench/patterns.py
	$(BIN)/python bench/claim_check.py
	$(BIN)/python bench/cold_stack.py
	$(BIN)/python bench/local_runtime.py
	$(BIN)/python bench/body_markers.py

# ---------------------------------------------------------------------------------------------
# The layer outside SAM, and its lock (layer/Makefile builds it; docs/decisions/0021-packaging.md)
# ---------------------------------------------------------------------------------------------
UV_VERSION := 0.13.8
UV_STAMP := $(TOOLS)/uv/.installed-uv-$(UV_VERSION)

$(UV_STAMP):
	rm -rf $(TOOLS)/uv
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install -q uv==$(UV_VERSION)
	touch $@

.PHONY: layer lock
## layer: dist/msgworker-layer.zip (python/ inside) for `aws lambda publish-layer-version`; prints its size
layer:
	$(MAKE) -f layer/Makefile zip

## lock: pin the layer's dependencies (pyproject's `dependencies`) with every file's hash, for Lambda's platform
lock: $(UV_STAMP)
	$(TOOLS)/uv/bin/uv pip compile pyproject.toml --quiet --generate-hashes --no-emit-package msgworker \
		--python-version 3.11 --python-platform x86_64-manylinux_2_17 --custom-compile-command "make lock" \
		-o layer/requirements.lock

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .aws-sam
