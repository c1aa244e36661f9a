# hokusai-contracts: one command surface, called unchanged by CI.
# Every target bootstraps .venv from pyproject.toml + constraints.txt (re-installing only when
# either changes), so a fresh clone needs nothing but python3 (3.11+) and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPORT_DIR ?= reports
PROXY_CMD ?=
PROXY_IMAGE ?=
STACK ?= process
# STACK=docker / compose-up: images in place of the official ones, and DOCKER_NETWORK=host where
# containers must not use the daemon's bridge (compose/README.md).
MLFLOW_IMAGE ?=
BASE_IMAGE ?=
DOCKER_NETWORK ?=
DOCKER_ENV = $(if $(MLFLOW_IMAGE),HOKUSAI_MLFLOW_IMAGE='$(MLFLOW_IMAGE)') $(if $(BASE_IMAGE),HOKUSAI_BASE_IMAGE='$(BASE_IMAGE)') \
	$(if $(DOCKER_NETWORK),HOKUSAI_DOCKER_NETWORK='$(DOCKER_NETWORK)')
FULL ?=
# UPDATE_CONSUMERS=1: contract-local adds what the reference proxy sends, and
# contracts/consumers/mlflow-proxy.yaml lacks, to that committed file (otherwise it only warns).
UPDATE_CONSUMERS ?=
SPEC ?=
# MLflow versions: the server's (default: the pinned one) and the scenario's clients, comma-separated.
MLFLOW_VERSION ?=
MLFLOW_CLIENTS ?=
OLD ?=
NEW ?=
PYTEST_ARGS ?=

export REPORT_DIR

.DEFAULT_GOAL := help
.PHONY: help venv contract-local contract-live contract-spec test lint typecheck bench contracts mlflow-diff dist lock \
	compose-up compose-down clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hokusai-contracts needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the pinned dependencies

# PROXY_CMD reaches the runner as HOKUSAI_PROXY_CMD in its environment, as typed: $(value ...) keeps
# make from expanding its `$`, and no recipe quoting stands between it and the runner's own shell.
ifneq ($(value PROXY_CMD),)
contract-local: export HOKUSAI_PROXY_CMD = $(value PROXY_CMD)
endif
# MLFLOW_VERSION / MLFLOW_CLIENTS reach the runner the same way, as HOKUSAI_MLFLOW_VERSION / HOKUSAI_MLFLOW_CLIENTS.
ifneq ($(MLFLOW_VERSION),)
contract-local: export HOKUSAI_MLFLOW_VERSION = $(MLFLOW_VERSION)
endif
ifneq ($(MLFLOW_CLIENTS),)
contract-local: export HOKUSAI_MLFLOW_CLIENTS = $(MLFLOW_CLIENTS)
endif

contract-local: $(STAMP) ## Start the local stack, run the scenario and the suites, stop it
	$(DOCKER_ENV) $(BIN)/hokusai-contracts local --report-dir "$(REPORT_DIR)" --stack "$(STACK)" \
		$(if $(PROXY_IMAGE),--proxy-image '$(PROXY_IMAGE)') $(if $(FULL),--full) \
		$(if $(filter 1 true yes,$(UPDATE_CONSUMERS)),--update-consumers)

contract-live: $(STAMP) ## Safe checks against the real endpoints (HOKUSAI_API_KEY=...)
	$(BIN)/hokusai-contracts live --report-dir "$(REPORT_DIR)" $(if $(filter 1 true yes,$(KEEP)),--keep)

contract-spec: $(STAMP) ## Check a candidate auth-service spec: make contract-spec SPEC=path
	@test -n "$(SPEC)" || { echo "usage: make contract-spec SPEC=path/to/candidate.yaml" >&2; exit 2; }
	$(BIN)/hokusai-contracts spec-check "$(SPEC)" --report-dir "$(REPORT_DIR)"

test: $(STAMP) ## Run the test suite (lint, types, import layers, unit and integration tests)
	$(BIN)/ruff check src mocks tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check src mocks tests

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy

bench: $(STAMP) ## Where the time of contract-local goes (table + JSON in REPORT_DIR)
	$(BIN)/hokusai-contracts bench --report-dir "$(REPORT_DIR)"

contracts: $(STAMP) ## Regenerate contracts/ from MLflow's protos (MLFLOW_VERSION=x.y.z: contracts/mlflow/x.y.z/)
	$(BIN)/hokusai-contracts generate-contracts $(if $(MLFLOW_VERSION),--mlflow-version '$(MLFLOW_VERSION)')

mlflow-diff: $(STAMP) ## REST differences between two MLflow versions: make mlflow-diff OLD=2.9.2 NEW=3.9.0
	@test -n "$(OLD)" -a -n "$(NEW)" || { echo "usage: make mlflow-diff OLD=2.9.2 NEW=3.9.0" >&2; exit 2; }
	$(BIN)/hokusai-contracts mlflow-diff "$(OLD)" "$(NEW)" --report-dir "$(REPORT_DIR)"

dist: $(STAMP) ## Build the wheel and the sdist into dist/ (docs/ci.md: installing them elsewhere)
	rm -rf dist
	$(BIN)/python -m build --quiet --outdir dist .
	@ls dist

lock: ## Re-resolve constraints.txt from pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	{ echo "# The lock: exact versions of every dependency, used as pip constraints by the Makefile."; \
	  echo "# Refresh with 'make lock' after changing pyproject.toml."; \
	  .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv

compose-up: $(STAMP) ## Start the compose stack (needs a Docker engine)
	$(DOCKER_ENV) $(BIN)/hokusai-contracts compose up $(if $(PROXY_IMAGE),--proxy-image '$(PROXY_IMAGE)')

compose-down: $(STAMP) ## Stop the compose stack and remove what it created
	$(BIN)/hokusai-contracts compose down

clean: ## Remove the venv, reports and caches
	rm -rf $(VENV) reports dist build .pytest_cache .mypy_cache .ruff_cache
