# clawdata: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
COMPOSE ?= docker compose
# Commands against the running stack run in a one-off container of its user-code image: nothing to
# install locally, and a restart of the code server (`up -d --build user_code`) does not end them.
# CLAWDATA_VIA_MAKE: the commands' hints name make targets (`make run-logs RUN=...`), not a URL
# that works only inside the stack's network.
EXEC := $(COMPOSE) run --rm --no-deps $(shell [ -t 0 ] || echo -T) -e CLAWDATA_VIA_MAKE=1 user_code
STACK_URL := http://webserver:3000

.DEFAULT_GOAL := help
.PHONY: help install check dev test lock env up down destroy materialize status run-logs logs sql ps backup restore images-offline bench clean helm-check

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(BIN)/clawdata  ## local venv with the pinned dependencies and the `clawdata` command
# Bytecode compiled at install (as in the images): a command's first start would otherwise compile
# Dagster and dbt (4 s), and every start would where PYTHONDONTWRITEBYTECODE is set.

$(BIN)/clawdata: requirements-dev.lock requirements-excludes.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python --excludes requirements-excludes.txt -r requirements-dev.lock
	$(BIN)/uv pip uninstall -q --python $(BIN)/python -r requirements-excludes.txt  # from a venv made before they were excluded
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

dev: install  ## local UI and daemon on the embedded default (no Docker)
	$(BIN)/clawdata dagster dev

# The stack's tests first and alone (one Compose stack, whose containers keep both cores busy), then
# every other test on every core (pytest-xdist; a worker that runs out takes half of another's
# queue, so a long test met late does not leave a core idle). The second part runs whatever the
# first gave.
TEST_WORKERS ?= auto
test: install check  ## every test, the end-to-end test of the real Compose stack included
	@failed=0; \
	$(BIN)/python -m pytest tests/stack || failed=1; \
	$(BIN)/python -m pytest --ignore=tests/stack -n $(TEST_WORKERS) --dist worksteal || failed=1; \
	exit $$failed

check: install  ## `dg check defs`: the code location loads (on a throwaway instance, not the stack's dagster.yaml)
	@home=$$(mktemp -d) && trap 'rm -rf "$$home"' EXIT && touch "$$home/dagster.yaml" && DAGSTER_HOME=$$home $(BIN)/dg check defs

lock:  ## re-pin requirements*.lock from pyproject.toml (requirements-excludes.txt says what stays out)
	$(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 --excludes requirements-excludes.txt -o requirements.lock
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 --excludes requirements-excludes.txt -o requirements-dev.lock

env:  ## write .env: a random Postgres password (once) and the Docker socket's group
	@deploy/write-env.sh .env

up: env  ## build, start, wait until every service is healthy
	@$(COMPOSE) up -d --build --wait || { status=$$?; \
	  grep -q '^CLAWDATA_CA_BUNDLE=.' .env || echo "make up failed. If the image build failed on a certificate" \
	    "(CERTIFICATE_VERIFY_FAILED, invalid peer certificate), a TLS-intercepting proxy is in the way:" \
	    "set CLAWDATA_CA_BUNDLE in .env to its CA bundle (README, Quick start for a team)." >&2; exit $$status; }
	@echo "clawdata is up: http://$${CLAWDATA_UI_BIND:-127.0.0.1}:$$(grep -oP '^CLAWDATA_UI_PORT=\K.*' .env || echo 3000)"

# Every profile's services (the proxy's too), whether or not .env enables the profile now.
STACK_NAME = $(shell grep -oP '^CLAWDATA_STACK=\K.*' .env 2>/dev/null || echo clawdata)

down:  ## stop every service of the stack, the proxy included (volumes, run history and the warehouse are kept)
	@$(COMPOSE) stop daemon >/dev/null 2>&1 || true  # no run container starts while the others stop
	@ids=$$(docker ps -q --filter label=com.clawdata.stack=$(STACK_NAME)); [ -z "$$ids" ] || { \
	  echo "stopping $$(echo $$ids | wc -w) run container(s)"; docker stop $$ids >/dev/null; }
	$(COMPOSE) --profile '*' down --remove-orphans

destroy:  ## remove the stack for good: every service, run container, volume (data!), network and image of it
	$(COMPOSE) --profile '*' down --volumes --remove-orphans --rmi local
	@ids=$$(docker ps -aq --filter label=com.clawdata.stack=$(STACK_NAME)); [ -z "$$ids" ] || docker rm -f $$ids >/dev/null
	@docker image rm -f clawdata/user-code:$(STACK_NAME) clawdata/dagster:$(STACK_NAME) clawdata/proxy:$(STACK_NAME) >/dev/null 2>&1 || true
	@docker image prune -f --filter label=com.docker.compose.project=$(STACK_NAME) >/dev/null  # earlier builds' untagged images

materialize:  ## materialize everything through the running stack; exits with the run's result
	$(EXEC) clawdata dagster --url $(STACK_URL) materialize --all

status:  ## assets, checks, runs, schedules, sensors and daemon of the running stack
	$(EXEC) clawdata dagster --url $(STACK_URL) status

sql:  ## SQL shell on the stack's read path (the replica); QUERY="SELECT ..." runs one query
	$(EXEC) clawdata sql $(if $(QUERY),"$$QUERY")

run-logs:  ## a run's events and step output: make run-logs RUN=<id> [STEP=<step>] (RUN: its first 8 characters)
	@test -n "$(RUN)" || { echo "usage: make run-logs RUN=<run id> [STEP=<step>]   (make status lists the runs)" >&2; exit 2; }
	$(EXEC) clawdata dagster --url $(STACK_URL) logs $(RUN) $(STEP)

logs:  ## follow the services' logs
	$(COMPOSE) logs -f --tail=100

ps:  ## the services and their health
	$(COMPOSE) ps

backup:  ## back up the stack into backups/<timestamp>/ (readable by you only); never waits for a run
	deploy/backup.sh backup

restore:  ## restore a backup, the stack up or down: make restore BACKUP=backups/<timestamp>
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/<timestamp>   (ls backups/)" >&2; exit 2; }
	deploy/backup.sh restore $(BACKUP)

images-offline:  ## build base and Postgres images from Debian packages (no registry needed)
	deploy/offline-images.sh --env-file .env

bench: install  ## benchmarks: figures, JSON and a chart under benchmarks/results/
	$(BIN)/python -m benchmarks.run

clean:  ## remove the local instance and warehouse (not the Docker volumes)
	rm -rf .dagster_home data/warehouse.duckdb data/warehouse.duckdb.wal dbt/target dbt/logs

helm-check: install  ## lint, render and validate the Helm chart (deploy/helm/clawdata; no cluster needed)
	$(BIN)/python -m pytest tests/test_helm_chart.py -q
