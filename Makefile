# sinkzone: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck clean

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install sinkzone with its test tools

run: $(STAMP) ## run CONFIG (default configs/demo.yaml) and print where the outputs are
	$(VENV)/bin/sinkzone run $(CONFIG)

test: $(STAMP) ## run the whole test suite
	$(PY) -m pytest

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check pipeline tests

typecheck: $(STAMP) ## mypy on the package
	$(VENV)/bin/mypy

clean: ## remove outputs and caches (keeps .venv)
	rm -rf output .pytest_cache .mypy_cache .ruff_cache

BENCH_WORK ?= bench/work
.PHONY: bench
bench: $(STAMP) ## benchmark vs exactextract and rasterstats on a generated 16384² case (table in bench/work/results.md)
	PYTHONPATH=. $(PY) bench/make_case.py --out $(BENCH_WORK) --size 16384 --epochs 5
	PYTHONPATH=. $(PY) bench/run_bench.py --work $(BENCH_WORK)
