# enginewatch: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install up prefetch down status test test-influx27 lint format typecheck unit integration demo bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv/ with enginewatch installed editable, with the dev tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

up: ## start Kafka (KRaft, 127.0.0.1:9092) and InfluxDB (127.0.0.1:8086) in the background
	services/local.sh up

prefetch: ## start building the servers only tests run (Alertmanager, InfluxDB 1.8, Telegraf, MLflow) in the background
	services/local.sh prefetch

down: ## stop the local Kafka and InfluxDB
	services/local.sh down

status: ## say whether the local services run
	services/local.sh status

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy, strict on our packages
	$(BIN)/mypy

unit: install ## the tests that need no services
	$(BIN)/pytest -m 'not integration' $(PYTEST_ARGS)

integration: prefetch install up ## the tests against the real Kafka and InfluxDB
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

# The test-only servers build in the background meanwhile, beside pip.
test: prefetch up install lint typecheck ## everything but InfluxDB 2.7: lint, types, unit and integration tests
	$(BIN)/pytest -m 'not influx27' $(PYTEST_ARGS)

test-influx27: up install ## the tests against a real InfluxDB 2.7.12 (its first build: about 6.5 minutes)
	services/local.sh influxdb27 >/dev/null
	$(BIN)/pytest -m influx27 $(PYTEST_ARGS)

demo: install up ## simulated engines -> agents -> archiver -> InfluxDB, then a summary
	$(BIN)/enginewatch demo $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS))

bench: install up ## measure throughput, latency and memory; writes docs/benchmarks.md
	$(BIN)/python -m benchmarks

clean: down ## stop the services and remove .run/ and .venv/
	rm -rf .run $(VENV)
