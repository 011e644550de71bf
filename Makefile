# The two commands that matter: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test lint test-unit test-integration test-e2e bench package backfill reconcile clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## the local stage: moto DynamoDB, tables, demo data, API, chat page, billing driver
run: install
	exec $(BIN)/python -m chalicelib.local

## the whole suite (CI runs this): lint and types first, they take seconds
test: install lint
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
package: install
	rm -f build/sam.json build/deployment.zip
	$(BIN)/chalice package --stage $(DEPLOY_STAGE) --merge-template infra/resources.json build/
	$(BIN)/cfn-lint build/sam.json

## upgrade the previous release's session records in place (docs/operations.md): dry run first,
## make backfill ARGS="--dry-run"; resumable, idempotent; the local stage: ARGS="--endpoint-url http://127.0.0.1:8001"
backfill: install
	$(BIN)/python -m chalicelib.legacy.backfill $(ARGS)

## check that balances, the ledger and the sessions agree; exits 1 naming each mismatch
## (docs/billing.md); the local stage: DYNAMODB_ENDPOINT=http://127.0.0.1:8001 make reconcile
reconcile: install
	$(BIN)/python -m chalicelib.reconcile $(ARGS)

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
