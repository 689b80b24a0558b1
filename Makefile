# fstore — two commands on a fresh machine: `make build` then `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
FSTORE  := $(BIN)/fstore

.PHONY: setup build test check lint format clean bench train spark-setup

setup: $(STAMP)

# Prefer the CPU torch wheel when this machine has it on disk (fast, small); pyproject keeps torch>=2.4
# for everyone else, so elsewhere pip resolves whatever torch fits.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 || echo "torch 2.13.0 CPU wheel not offered here; pip will pick torch>=2.4"
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

build: $(STAMP)
	$(FSTORE) build

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: lint test

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# a short run with config/project.toml's settings (lookback 5, GRU 32, 4 epochs at batch 256: ~40 CPU-s,
# docs/benchmarks.md), PNGs in target/plots, then what it learned: test AUC and per-date Rank IC beside
# the oracle's, AAPL's nearest neighbours (training/summary.py). `make train TRAIN_ARGS="--seed 1"`.
TRAIN_ARGS ?= --plot target/plots
train: $(STAMP)
	$(FSTORE) train $(TRAIN_ARGS)
	$(BIN)/python -m training.summary latest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

spark-setup: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,spark]'

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal target runs .pytest_cache .ruff_cache
