# The two commands of the README, and what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench cluster cluster-down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip uv

# Bytecode is compiled once at install: every job runner, CLI call and server process
# imports mlflow, and with PYTHONDONTWRITEBYTECODE=1 each would recompile it (~8 s CPU).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -e ".[dev]"
	touch $@

# The native gateway engine (gateway-native/, Go): endpoints on this machine use it when it
# is installed beside the virtualenv's Python (src/mlkube/gateway/engine.py). Without Go
# the Python engine serves, so a missing toolchain is a note, not a failure.
GATEWAY_SOURCES := $(shell find gateway-native -name '*.go' -o -name go.mod 2>/dev/null)
$(BIN)/mlkube-gateway: $(GATEWAY_SOURCES) | $(BIN)/python
	@if command -v go >/dev/null 2>&1; then \
		cd gateway-native && CGO_ENABLED=0 go build -trimpath -o ../$@ ./cmd/mlkube-gateway; \
	else \
		echo "note: no Go toolchain on PATH; endpoints use the Python gateway engine"; \
	fi

install: $(VENV)/.installed $(BIN)/mlkube-gateway

## Train the iris LightGBM model, serve it, score it: the main job end to end.
demo: install
	$(BIN)/python examples/quickstart.py

## The whole test suite, on a fresh Debian machine as root: installs what is missing and
## starts Docker, PostgreSQL and the single-node Kubernetes cluster, then runs pytest; then
## the native gateway's Go tests, and the gateway's tests once more against the native
## engine (the first run serves the Python engine in-process there, and the native one
## behind every endpoint on this machine).
test: install
	@exports="$$(bash .ci/test-services.sh)" && eval "$$exports" && $(BIN)/python -m pytest -q --durations=25
	cd gateway-native && go vet ./... && go test ./...
	MLKUBE_GATEWAY_ENGINE=native $(BIN)/python -m pytest -q tests/gateway

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy

## Side-by-side benchmark of mlkube and its peers; writes BENCHMARKS.md (then the
## "More flavors" section: scikit-learn mixed types, XGBoost, ONNX; then "Big bodies":
## 100- and 10,000-row bodies in every request format against in-process predict).
bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/flavors.py
	$(BIN)/python bench/big_bodies.py --profile

## A single-node Kubernetes cluster built from source on this machine (root; idempotent).
## Prints two export lines: eval "$$(make -s cluster)"
cluster:
	@bash cluster/up.sh

## Stop the cluster and remove its state (built binaries stay cached).
cluster-down:
	@bash cluster/down.sh
