# sinkzone: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml
QGIS_PY ?= /usr/bin/python3

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck clean qgis-deps qgis-check batch

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

batch: $(STAMP) ## run every config in configs/batch/, go on past failures, exit 1 if any failed
	$(VENV)/bin/sinkzone batch configs/batch

test: $(STAMP) qgis-deps ## run the whole test suite (installs QGIS's Python bindings first)
	$(PY) -m pytest

lint: $(STAMP) ## ruff on the package, the tests and the benchmark
	$(VENV)/bin/ruff check pipeline tests bench

typecheck: $(STAMP) ## mypy on the package (pinned mypy and pandas-stubs)
	$(VENV)/bin/mypy

clean: ## remove outputs and caches (keeps .venv)
	rm -rf output .pytest_cache .mypy_cache .ruff_cache

qgis-deps: ## install QGIS's Python bindings (Debian python3-qgis) and a CJK font if missing
	@if $(QGIS_PY) -c 'import qgis.core' 2>/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "qgis-deps: no apt-get here; install QGIS with its Python bindings so that $(QGIS_PY) can" \
	       "import qgis.core (or set QGIS_PY / SINKZONE_QGIS_PYTHON)" >&2; exit 1; fi; \
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "qgis-deps: installing python3-qgis from the distribution's packages (about a minute)"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	  --no-install-recommends python3-qgis fonts-wqy-microhei >/dev/null

qgis-check: $(STAMP) qgis-deps ## open the demo outputs in a headless QGIS, check styles, render output/qgis-renders/*.png
	SINKZONE_QGIS_PYTHON=$(QGIS_PY) $(PY) -m pytest tests/test_qgis.py -v -s

BENCH_WORK ?= bench/work
.PHONY: bench
BENCH_SIZE ?= 12288
bench: $(STAMP) ## benchmark vs exactextract on a generated 12288² case, 1/5/20 epochs (table in bench/work/results.md)
	PYTHONPATH=. $(PY) bench/make_case.py --out $(BENCH_WORK) --size $(BENCH_SIZE) --epochs 20
	PYTHONPATH=. $(PY) bench/run_bench.py --work $(BENCH_WORK)

PARCELS_WORK ?= bench/work/parcels
.PHONY: bench-parcels
bench-parcels: $(STAMP) ## 小班 scale: 40,000 parcels over a 5000², 20-epoch series with carbon (table in bench/work/parcels/results.md)
	PYTHONPATH=. $(PY) bench/parcels.py make --work $(PARCELS_WORK)
	PYTHONPATH=. $(PY) bench/parcels.py run --work $(PARCELS_WORK)
