# hivekeeper: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH := PYTHONPATH=tests/support $(BIN)/python -m testbench
PYTEST_ARGS ?=
RUN_SECONDS ?= 5
BENCH_SECONDS ?= 5


.PHONY: help venv run test test-unit lint format services services-down cluster cluster-down bench-install bench bench-pipelines bench-scale bench-amqp crds chart-docs schemas versions clean images kind-up kind-down

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hivekeeper needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install hivekeeper with its dev tools

run: $(STAMP) ## run the main job: the quickstart swarm, locally, against the demo SUT, for a few seconds
	$(BIN)/hivekeeper run --demo-sut --duration $(RUN_SECONDS) --json .bench/last-run.json

bench-install: $(STAMP) ## install/build every test service that is missing (apt packages, Go binaries)
	$(BENCH) install

test: bench-install ## install and start every service, run all tests, stop the services
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; exit 1; fi; \
	exit $$rc

test-unit: $(STAMP) ## only the unit tests (no services)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy (strict on src/), import-linter layer contracts
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

services: $(STAMP) ## start RabbitMQ and Redis on loopback in the background and print their URLs
	$(BENCH) up rabbitmq redis

cluster: $(STAMP) ## a real one-node Kubernetes (kubelet, containerd) with RabbitMQ and Redis for its pods; prints KUBECONFIG
	$(BENCH) up rabbitmq redis kube

services-down: $(STAMP) ## stop everything `make services` / `make cluster` started
	$(BENCH) down

cluster-down: $(STAMP) ## remove the node and services: processes, mounts, cgroups, network namespace, state (safe twice)
	$(BENCH) down

bench: $(STAMP) ## req/s side by side (wrk, vegeta, Locust, hivekeeper, HTTP clients; TCP vs a Go client); pipelines through RabbitMQ, batching on/off; pod start and edit latency on the node
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py --seconds $(BENCH_SECONDS) --clients --json .bench/bench.json
	$(BIN)/python bench/tcp.py --seconds $(BENCH_SECONDS) --json .bench/tcp.json

bench-pipelines: $(STAMP) ## only the work-plane pipelines: items/s, broker CPU per item and latency, batching on and off (decision 0013)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/pipelines.py --seconds $(BENCH_SECONDS) --json .bench/pipelines.json

bench-scale: $(STAMP) ## on the bench node: items/s against 1, 2, 4 processor pods; one operator under 100 swarms' status traffic (docs/scaling.md)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/node_replicas.py --json .bench/node-replicas.json
	$(BIN)/python bench/control_scale.py --json .bench/control-scale.json

bench-amqp: $(STAMP) ## client CPU per message: aio-pika, aiormq, pamqp alone and our work-plane client (decision 0003)
	$(BIN)/python bench/amqp_clients.py --json .bench/amqp-clients.json

crds: $(STAMP) ## regenerate crds/ and docs/roles.md from the API models, and the Helm chart's copies (CI fails when they drift)
	rm -f crds/*.yaml
	$(BIN)/hivekeeper crds --out crds
	$(BIN)/hivekeeper role-docs --out docs/roles.md
	$(BIN)/python tools/chart_docs.py

chart-docs: $(STAMP) ## regenerate the Helm chart's values.schema.json, README values table and CRD copies
	$(BIN)/python tools/chart_docs.py

schemas: $(STAMP) ## regenerate docs/schemas from the protocol models
	$(BIN)/hivekeeper schemas --out docs/schemas

versions: $(STAMP) ## print the versions of every bench service binary
	$(BENCH) versions

images: $(STAMP) ## build hivekeeper/operator:dev and worker:dev (offline without Docker) and load them into the node
	bash hack/kind/images.sh
	$(BENCH) load-images

kind-up: ## a kind cluster with the chart, bundled RabbitMQ/Redis and the quickstart swarm (needs docker, kind, helm)
	bash hack/kind/up.sh

kind-down: ## delete the kind cluster of kind-up
	bash hack/kind/down.sh

clean: ## remove the venv and local bench state (the Go binary cache stays)
	-$(BENCH) down 2>/dev/null
	rm -rf $(VENV) .bench .mypy_cache .ruff_cache .pytest_cache
