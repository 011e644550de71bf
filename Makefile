# The two commands that matter: `make run` and `make test`. Both set up .venv on first use.
# Python 3.13, as on Lambda (.python-version; requires-python in pyproject.toml). pyenv's shims
# honour .python-version; otherwise any python3.13 on PATH or in pyenv's versions will do.
PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell for p in python$(PYTHON_VERSION) $$(pyenv root 2>/dev/null)/versions/$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION); do \
	[ "$$("$$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$(PYTHON_VERSION)" ] && { command -v "$$p"; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Every install is from a lock file with hashes (make lock writes them from the .in files);
# pip is pinned in the dev lock (Chalice accepts only pip < 26.3); no venv upgrades it blindly.
PIP_INSTALL = python -m pip install --quiet --disable-pip-version-check --require-hashes -r

# The local stage, the tests and packaging need a region but no real one (unset or empty:
# us-east-1); the operator commands (backfill, reconcile) resolve theirs as the AWS CLI does
# (environment, profile).
LOCAL_TARGETS := run test test-unit test-integration test-e2e test-browser bench package explore fuzz
$(LOCAL_TARGETS): export AWS_DEFAULT_REGION := $(or $(AWS_DEFAULT_REGION),us-east-1)

.PHONY: deployable-stage install run test lint test-unit test-integration test-e2e bench package backfill reconcile clean lock checkov ops

# $(1): the venv, $(2): its lock file. A venv on another Python than $(PYTHON_VERSION) is rebuilt.
define venv_from_lock
	@test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) was not found. Install it (pyenv install $(PYTHON_VERSION), \
	your OS's python$(PYTHON_VERSION) package, or python.org) or name it: make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	@[ "$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$(PYTHON_VERSION)" ] \
		|| { rm -rf $(1) && $(PYTHON) -m venv $(1); }
	$(1)/bin/$(PIP_INSTALL) $(2)
	touch $(1)/.installed-stamp
endef

$(STAMP): requirements.txt requirements-dev.txt .python-version
	$(call venv_from_lock,$(VENV),requirements-dev.txt)

install: $(STAMP)

## the local stage: moto DynamoDB, tables, demo data, API, chat page, billing driver
run: install
	exec $(BIN)/python -m chalicelib.local

## the whole suite (CI runs this): lint and types first, they take seconds; checkov scans
## the packaged template (tests/infra) from a venv of its own
test: install lint checkov
	$(BIN)/python -m pytest

## ruff (lint and format) over everything, mypy over app.py and chalicelib (strict on domain
## and services); settings in pyproject.toml. `$(BIN)/ruff format .` fixes the formatting.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

## every benchmark: one table printed, figures in bench/results.json (ARGS="--quick" for small runs)
bench: install package
	$(BIN)/python -m bench $(ARGS)

## the deployable template for DEPLOY_STAGE (prod unless set): build/sam.json + build/deployment.zip,
## linted; needs no AWS credentials, only the region exported above (docs/deploy.md: what next)
DEPLOY_STAGE ?= prod
DEPLOYABLE_STAGES := dev prod
package: deployable-stage install
	rm -f build/sam.json build/deployment.zip
	$(BIN)/chalice package --stage $(DEPLOY_STAGE) --merge-template infra/resources.json build/
	$(BIN)/cfn-lint build/sam.json

# The local stage has no authorizer and trusts X-User-Id: deployed, anyone could act as anyone.
deployable-stage:
	@$(if $(and $(filter 1,$(words $(DEPLOY_STAGE))),$(filter $(DEPLOY_STAGE),$(DEPLOYABLE_STAGES))),true,\
	echo "make package: stage '$(DEPLOY_STAGE)' cannot be deployed: DEPLOY_STAGE must be one of $(DEPLOYABLE_STAGES) \
	(the local stage has no authentication)" >&2; exit 2)

## Every environment lives under .venv (removing it resets them all). The operator commands
## run from .venv/ops: the Lambda's own packages, nothing for tests.
## Region and credentials as the AWS CLI finds them (AWS_REGION, AWS_PROFILE, ~/.aws/config).
OPS := .venv/ops
$(OPS)/.installed-stamp: requirements.txt requirements-ops.txt .python-version
	$(call venv_from_lock,$(OPS),requirements-ops.txt)

ops: $(OPS)/.installed-stamp

## upgrade the previous release's session records in place (docs/operations.md): dry run first,
## make backfill ARGS="--dry-run"; resumable (state in var/, which make clean keeps), idempotent;
## the local stage: ARGS="--endpoint-url http://127.0.0.1:8001"
backfill: ops
	$(OPS)/bin/python -m chalicelib.legacy.backfill $(ARGS)

## check that balances, the ledger and the sessions agree; exits 1 naming each mismatch
## (docs/billing.md); the local stage: DYNAMODB_ENDPOINT=http://127.0.0.1:8001 make reconcile
reconcile: ops
	$(OPS)/bin/python -m chalicelib.reconcile $(ARGS)

CHECKOV := .venv/checkov
$(CHECKOV)/.installed-stamp: requirements-checkov.txt .python-version
	$(call venv_from_lock,$(CHECKOV),requirements-checkov.txt)

checkov: $(CHECKOV)/.installed-stamp

## Recompile every lock file from its .in file, keeping existing pins unless the .in asks for
## another: bump a version in a .in file, make lock, make test, commit both files.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version $(PYTHON_VERSION)
lock: install
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_28 requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-ops.in -o requirements-ops.txt
	$(UV_COMPILE) --universal requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) --universal requirements-checkov.in -o requirements-checkov.txt

## build/ is scratch (packages, test output); var/ (the backfill's resume state) is kept
clean:
	rm -rf build .pytest_cache .hypothesis

## the chat page's browser test drives Debian's Chromium (Playwright's own browser download
## cannot work here): installed with apt when missing, as CI runs as root on a bare machine
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: chromium test-browser

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

chromium: $(CHROMIUM)

test: chromium

test-browser: install chromium
	$(BIN)/python -m pytest tests/browser

## a longer schemathesis pass over docs/openapi.json than make test's (tests/fuzz), against a
## fresh local stage; it explores new cases on every run instead of replaying fixed ones
FUZZ_EXAMPLES ?= 500
FUZZ_SCENARIOS ?= 100
## the race explorer (tests/integration/test_races.py, docs/concurrency.md) with many random
## schedules instead of make test's fixed 120; EXPLORE_SHRINK=0 prints a failure unshrunk
EXPLORE_EXAMPLES ?= 2000
.PHONY: explore
explore: install
	EXPLORE_EXAMPLES=$(EXPLORE_EXAMPLES) $(BIN)/python -m pytest tests/integration/test_races.py -p no:logging

.PHONY: fuzz
fuzz: install
	FUZZ_EXPLORE=1 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) $(BIN)/python -m pytest tests/fuzz
