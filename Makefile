# hokusai-contracts: one command surface, called unchanged by CI.
# Every target bootstraps .venv from pyproject.toml + constraints.txt (re-installing only when
# either changes), so a fresh clone needs nothing but python3 (3.11+) and make.

# Each variable below with a `#:` line above it is listed by `make help` with its default.
#: the Python (3.11+) that makes .venv
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: where every target writes its report files
REPORT_DIR ?= reports
#: contract-local: your proxy's command ({port} {auth_url} {mlflow_url}); empty: the reference proxy
PROXY_CMD ?=
#: contract-local STACK=docker: your proxy's image; empty: the reference proxy's
PROXY_IMAGE ?=
#: contract-local: process (parts as processes) or docker (docker compose)
STACK ?= process
# STACK=docker / compose-up: images in place of the official ones, and DOCKER_NETWORK=host where
# containers must not use the daemon's bridge (compose/README.md).
#: STACK=docker / compose-up: an MLflow image instead of the official one
MLFLOW_IMAGE ?=
#: STACK=docker / compose-up: the Python base image of the built parts
BASE_IMAGE ?=
#: STACK=docker / compose-up: host where containers must not use the daemon's bridge
DOCKER_NETWORK ?=
DOCKER_ENV = $(if $(MLFLOW_IMAGE),HOKUSAI_MLFLOW_IMAGE='$(MLFLOW_IMAGE)') $(if $(BASE_IMAGE),HOKUSAI_BASE_IMAGE='$(BASE_IMAGE)') \
	$(if $(DOCKER_NETWORK),HOKUSAI_DOCKER_NETWORK='$(DOCKER_NETWORK)')
#: contract-local FULL=1: also the slow parts (concurrency, and MLflow fuzzed itself: the mlflow-direct suite)
FULL ?=
# UPDATE_CONSUMERS=1: contract-local adds what the reference proxy sends, and
# contracts/consumers/mlflow-proxy.yaml lacks, to that committed file (otherwise it only warns).
#: contract-local UPDATE_CONSUMERS=1: add what the proxy sends to contracts/consumers/mlflow-proxy.yaml
UPDATE_CONSUMERS ?=
#: contract-spec: the candidate auth-service spec (required)
SPEC ?=
#: contract-live KEEP=1: keep the contract-probe-* resources the run created
KEEP ?=
#: contract-live RECORD=1: write the run's exchanges as HAR into REPORT_DIR/traffic/ (keys as placeholders)
RECORD ?=
#: contract-local REPLAY=path.har: replay a recording's client->proxy exchanges against the local stack
REPLAY ?=
#: contract-watch: time between rounds (20s, 15m, 1h); empty: HOKUSAI_WATCH_EVERY, else 15m
EVERY ?=
#: contract-watch ONCE=1: one round, exit 0 (pass) or 1 (fail), for cron and CI
ONCE ?=
#: test: extra pytest arguments, e.g. PYTEST_ARGS='-m "not integration"'
PYTEST_ARGS ?=
#: test: pytest worker processes (pytest-xdist; each test file runs whole on one worker); 0: none
TEST_WORKERS ?= 3
#: contract-local: the MLflow server version (empty: the pinned one); contracts MLFLOW_VERSION=x regenerates its contracts
MLFLOW_VERSION ?=
#: contract-local: MLflow client versions for the registration scenario, comma-separated (e.g. 2.9.2,3.17.2)
MLFLOW_CLIENTS ?=
#: contract-local: a deployment profile filling what is left unset (production: MLflow 3.9.0 behind an admin gateway, production's keys)
PROFILE ?=
#: contract-local: a command run in MLflow's place ({port} {backend_store_uri} {default_artifact_root} {artifacts_destination} {auth_url} {mlflow_python})
MLFLOW_CMD ?=
#: contract-local: the path MLflow serves under, its --static-prefix (production: /mlflow; / for none)
MLFLOW_PREFIX ?=
#: contract-local/live: an overlay of MLflow's contract with the security it requires (contracts/mlflow-gateway.overlay.yaml)
MLFLOW_OVERLAY ?=
#: contract-local: pip requirements added to the MLflow environment, comma-separated
MLFLOW_PACKAGES ?=
#: contract-local: the fake auth service's key descriptions (keys.yaml's fields), with a platform key named primary
SEED ?=
#: contract-local: MLflow's backend store: sqlite (empty) or postgresql (a PostgreSQL 15 server on loopback, as production's)
BACKEND_STORE ?=
#: contract-local: MLflow's artifact store: local (empty) or s3 (a moto S3 server on loopback)
ARTIFACT_STORE ?=
#: contract-local: how MLflow serves artifacts: proxied (empty) or root (production's entrypoint: the store as artifact root)
MLFLOW_ARTIFACTS ?=
#: mlflow-diff: the older MLflow version
OLD ?=
#: mlflow-diff: the newer MLflow version
NEW ?=

export REPORT_DIR

.DEFAULT_GOAL := help
.PHONY: contract-watch
.PHONY: help venv contract-local contract-live contract-spec test lint typecheck bench contracts mlflow-diff dist lock \
	compose-up compose-down clean
.PHONY: test-fast

help: ## Show the targets and the variables, with their defaults
	@echo "Targets:"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (make TARGET NAME=value; default in brackets):"
	@awk '/^#: /{d=substr($$0,4); next} /^[A-Z_]+ \?=/{if (d != "") {v=$$0; sub(/^[A-Z_]+ \?= ?/, "", v); \
		if (v == "") v="(empty)"; printf "  %-16s [%s] %s\n", $$1, v, d}} {d=""}' $(firstword $(MAKEFILE_LIST))

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
# BACKEND_STORE / ARTIFACT_STORE / MLFLOW_ARTIFACTS the same way, as HOKUSAI_BACKEND_STORE, ... (empty: the defaults).
ifneq ($(BACKEND_STORE),)
contract-local: export HOKUSAI_BACKEND_STORE = $(BACKEND_STORE)
endif
ifneq ($(ARTIFACT_STORE),)
contract-local: export HOKUSAI_ARTIFACT_STORE = $(ARTIFACT_STORE)
endif
ifneq ($(MLFLOW_ARTIFACTS),)
contract-local: export HOKUSAI_MLFLOW_ARTIFACTS = $(MLFLOW_ARTIFACTS)
endif

# MLFLOW_CMD reaches the runner as typed, like PROXY_CMD; the other MLflow-side variables as HOKUSAI_*.
ifneq ($(value MLFLOW_CMD),)
contract-local: export HOKUSAI_MLFLOW_CMD = $(value MLFLOW_CMD)
endif
ifneq ($(PROFILE),)
contract-local: export HOKUSAI_PROFILE = $(PROFILE)
endif
ifneq ($(MLFLOW_PREFIX),)
contract-local: export HOKUSAI_MLFLOW_PREFIX = $(MLFLOW_PREFIX)
endif
ifneq ($(MLFLOW_OVERLAY),)
contract-local contract-live: export HOKUSAI_MLFLOW_OVERLAY = $(MLFLOW_OVERLAY)
endif
ifneq ($(MLFLOW_PACKAGES),)
contract-local: export HOKUSAI_MLFLOW_PACKAGES = $(MLFLOW_PACKAGES)
endif
ifneq ($(SEED),)
contract-local: export HOKUSAI_SEED_FILE = $(SEED)
endif

contract-local: $(STAMP) ## Start the local stack, run the scenario and the suites, stop it
	$(DOCKER_ENV) $(BIN)/hokusai-contracts local --report-dir "$(REPORT_DIR)" --stack "$(STACK)" \
		$(if $(PROXY_IMAGE),--proxy-image '$(PROXY_IMAGE)') $(if $(FULL),--full) \
		$(if $(filter 1 true yes,$(UPDATE_CONSUMERS)),--update-consumers) $(if $(REPLAY),--replay "$(REPLAY)")

contract-live: $(STAMP) ## Safe checks against the real endpoints (HOKUSAI_API_KEY=...)
	$(BIN)/hokusai-contracts live --report-dir "$(REPORT_DIR)" $(if $(filter 1 true yes,$(KEEP)),--keep) \
		$(if $(filter 1 true yes,$(RECORD)),--record)

contract-watch: $(STAMP) ## A live run every EVERY with metrics, history, alerts and a status page (HOKUSAI_API_KEY=...)
	$(BIN)/hokusai-contracts watch --report-dir "$(REPORT_DIR)" $(if $(EVERY),--every '$(EVERY)') \
		$(if $(filter 1 true yes,$(ONCE)),--once)

contract-spec: $(STAMP) ## Check a candidate auth-service spec: make contract-spec SPEC=path
	@test -n "$(SPEC)" || { echo "usage: make contract-spec SPEC=path/to/candidate.yaml" >&2; exit 2; }
	$(BIN)/hokusai-contracts spec-check "$(SPEC)" --report-dir "$(REPORT_DIR)"

test: $(STAMP) ## Run the test suite (lint, types, import layers, unit and integration tests)
	$(BIN)/ruff check src mocks tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) --durations=25 $(PYTEST_ARGS)

# test-fast: the edit-test loop. Unit tests only (no `integration`, no `slow`: nothing starts a stack or
# builds an environment); no ruff, mypy or lint-imports, which `make lint typecheck` run on their own
# and `make test` runs before CI's verdict. PYTEST_ARGS still applies (a later -m replaces this one).
test-fast: $(STAMP) ## Unit tests only, for the edit-test loop (no integration/slow tests, no lint)
	$(BIN)/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) \
		-m "not integration and not slow" $(PYTEST_ARGS)

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
