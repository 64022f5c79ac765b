# CRM customer-analytics warehouse — `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
TOOLS := $(ROOT)/.tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)

export CRM_DATA_DIR ?= $(ROOT)/data
export CRM_WAREHOUSE_PATH ?= $(CRM_DATA_DIR)/warehouse.duckdb
export AIRFLOW_HOME ?= $(ROOT)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
export GX_ANALYTICS_ENABLED := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PYTHONPATH := $(ROOT)/dags

SAMPLE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3 -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv and install the locked dependencies (uv)

.PHONY: sample-data
sample-data: venv ## Generate the sample landing files if landing/ is empty (SAMPLE_ARGS=... to size it)
	@if [ -z "$$(find $(CRM_DATA_DIR)/landing -type f 2>/dev/null | head -1)" ]; then \
		$(BIN)/python scripts/generate_sample_data.py --data-dir $(CRM_DATA_DIR) $(SAMPLE_ARGS); \
	else echo "landing/ already has files: not generating sample data"; fi

.PHONY: airflow-init
airflow-init: venv ## Migrate the embedded Airflow metadata DB (SQLite) and create the DuckDB writer pool
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set duckdb_writer 1 "DuckDB allows one writer process" > /dev/null

.PHONY: dbt-manifest
dbt-manifest: venv ## Parse dbt_project into $(CRM_DATA_DIR)/dbt/manifest/manifest.json (one Airflow task per dbt node)
	$(BIN)/python -m crm.orchestration.dbt_manifest > /dev/null

.PHONY: run
run: sample-data airflow-init dbt-manifest ## Run the whole pipeline through Airflow (ingest -> transform -> publish)
	@# The PII salt is configuration, never in the repo: reuse the data folder's, or create one there.
	@test -n "$${CRM_PII_SALT:-}" || test -s $(CRM_DATA_DIR)/.pii_salt || \
		(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' > $(CRM_DATA_DIR)/.pii_salt)
	CRM_PII_SALT="$${CRM_PII_SALT:-$$(cat $(CRM_DATA_DIR)/.pii_salt)}" $(BIN)/python -m crm.orchestration.local_run

.PHONY: test
test: venv ## Run the full test suite
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: bench
bench: venv ## Benchmark against a pandas peer and a DuckDB lower bound (BENCH_ARGS=...; writes docs/benchmarks.md)
	$(BIN)/python scripts/benchmark.py $(BENCH_ARGS)

.PHONY: lint
lint: venv ## ruff (lint + format check) and sqlfluff on the dbt models
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models

.PHONY: format
format: venv ## Apply ruff formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: dbt-unit-tests
dbt-unit-tests: venv ## dbt unit tests (pipeline builds leave them out; they need the tables of a `make run`)
	cd dbt_project && $(BIN)/dbt test --select "test_type:unit" --profiles-dir .

.PHONY: dbt-docs
dbt-docs: venv ## Generate dbt docs into $(CRM_DATA_DIR)/dbt/target
	cd dbt_project && $(BIN)/dbt docs generate --profiles-dir .

.PHONY: clean
clean: ## Remove generated data, warehouse, Airflow home and build artefacts (keeps .venv)
	rm -rf $(CRM_DATA_DIR) $(AIRFLOW_HOME) dbt_project/target dbt_project/logs .pytest_cache .ruff_cache

.PHONY: distclean
distclean: clean ## Also remove the virtualenv and bootstrap tools
	rm -rf $(VENV) $(TOOLS)
