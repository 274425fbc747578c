# chat-memory: `make run` serves the API locally, `make test` runs every check.
# Needs only Python 3.11+ and make; everything else is installed into .venv (and .tools/ for the SAM CLI).

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
# zep-python 1.5.0 and LangChain's community classes for it (tests/compat/test_zep1_clients.py): .venv holds rc6.
ZEP1_VENV := .venv-zep1
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

.DEFAULT_GOAL := help
.PHONY: help install zep1 browser screenshots run test lint format template requirements events openapi check-generated fuzz pytest bench bench-local load build lambda-python lambda-python-dir

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "chat-memory needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the project with its dev tools

$(ZEP1_VENV)/.installed: tests/compat/zep1/requirements.txt
	$(PYTHON) -m venv $(ZEP1_VENV)
	$(ZEP1_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ZEP1_VENV)/bin/python -m pip install --quiet -r tests/compat/zep1/requirements.txt
	@touch $@

zep1: $(ZEP1_VENV)/.installed ## Create .venv-zep1: zep-python 1.5.0 and LangChain 0.3 (the v1 API's clients, for the tests)

# The console's browser tests (tests/browser) and `make screenshots` drive Debian's Chromium through its chromedriver.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser: ## Install Chromium and chromedriver (Debian's chromium, chromium-driver) when missing: tests/browser needs them
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "tests/browser needs $(CHROMIUM) and $(CHROMEDRIVER): install Chromium and its driver" >&2; exit 1; \
	fi; \
	sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver

screenshots: install browser ## Regenerate docs/console-*.png (the console's main views, shown in the README)
	$(BIN)/chat-memory screenshots --out docs

RUN_ARGS ?=
run: install ## Serve the API (and the console, /console) on http://$(HOST):$(PORT), data in .chat-memory/ (RUN_ARGS=--in-memory: none); prints the API key
	$(BIN)/chat-memory serve --host $(HOST) --port $(PORT) $(RUN_ARGS)

lint: install ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet "aws-sam-cli~=1.170"
	@touch $@

template: install $(SAM_VENV)/.installed ## Validate template.yaml (sam validate --lint, cfn-lint)
	$(SAM) validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml

requirements: install ## Regenerate functions/requirements.txt from pyproject.toml
	$(BIN)/python -m chat_memory_dev.gen.requirements

events: install ## Regenerate the sample events in events/ (for sam local invoke)
	$(BIN)/python -m chat_memory_dev.gen.events

openapi: install ## Regenerate infra/openapi.json (the API's OpenAPI document) from the handlers
	$(BIN)/python -m chat_memory_dev.gen.openapi

check-generated: install ## Fail if functions/requirements.txt, events/ or infra/openapi.json are out of date
	$(BIN)/python -m chat_memory_dev.gen.requirements --check
	$(BIN)/python -m chat_memory_dev.gen.events --check
	$(BIN)/python -m chat_memory_dev.gen.openapi --check

# sam build needs the Python of the template's Runtime (python3.13; python3.12 if the template says so) on PATH.
# pyenv's shims don't count (they refuse unselected versions), so look under $(pyenv root)/versions too.
LAMBDA_PYTHON = $(or $(shell sed -n 's/^ *Runtime: *\(python3\.[0-9]*\).*/\1/p' template.yaml | head -n 1),python3.13)
LAMBDA_PYTHON_DIR = $(shell \
	p=$$(command -v $(LAMBDA_PYTHON) 2>/dev/null) && "$$p" -c '' >/dev/null 2>&1 && { dirname "$$p"; exit 0; }; \
	if command -v pyenv >/dev/null 2>&1; then \
		for d in "$$(pyenv root)"/versions/$(LAMBDA_PYTHON:python%=%)*/bin; do \
			[ -x "$$d/$(LAMBDA_PYTHON)" ] && "$$d/$(LAMBDA_PYTHON)" -c '' >/dev/null 2>&1 && { echo "$$d"; exit 0; }; \
		done; \
	fi)

build: install $(SAM_VENV)/.installed ## sam build (needs the runtime's Python, e.g. python3.13, on PATH or under pyenv)
	@if [ -z "$(LAMBDA_PYTHON_DIR)" ]; then \
		echo "sam build needs $(LAMBDA_PYTHON) (template.yaml's Runtime): put it on PATH or install it with pyenv" >&2; \
		exit 1; \
	fi
	PATH="$(LAMBDA_PYTHON_DIR):$$PATH" $(SAM) build
	@# sam's pip builder ships sources only (it drops __pycache__ and unpacks wheels without compiling), and Lambda's
	@# /var/task is read-only: without this, every cold start compiles our modules, Powertools and pydantic
	@# (read: 3.26x the floor against 2.23x, see the README). unchecked-hash: zip mtimes cannot invalidate them.
	"$(LAMBDA_PYTHON_DIR)/$(LAMBDA_PYTHON)" -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

pytest: install zep1 browser ## Run the test suite (unit, integration, infrastructure, compat, browser: needs `make browser`)
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; exit 1; fi; \
	exit $$rc

FUZZ_EXAMPLES ?= 200
fuzz: install ## schemathesis against chat-memory serve: FUZZ_EXAMPLES per operation and phase (about 5 minutes at 200)
	$(BIN)/chat-memory fuzz --examples $(FUZZ_EXAMPLES)

bench: install ## Benchmark against LangChain's DynamoDBChatMessageHistory into bench-results/ (about 3 minutes)
	$(BIN)/chat-memory bench --out bench-results

bench-local: install ## make run under a growing session: 20,000 messages over HTTP beside 100,000 (about 15 minutes)
	$(BIN)/chat-memory bench --local --out bench-results

LOAD_DURATION ?= 60
LOAD_ARGS ?=
load: install ## Bounded load on chat-memory serve (LOAD_DURATION=60 s, LOAD_ARGS=...); fails on errors or lost messages
	$(BIN)/chat-memory load --duration $(LOAD_DURATION) --out load-results/load.json $(LOAD_ARGS)

test: lint template check-generated pytest ## Every check: lint, types, template, generated files, tests

lambda-python: ## Print the Python the Lambda runtime needs (from template.yaml)
	@echo $(LAMBDA_PYTHON)

lambda-python-dir: ## Print where that Python was found (empty when it is missing)
	@echo $(LAMBDA_PYTHON_DIR)
