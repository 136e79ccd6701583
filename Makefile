# sinkzone: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml
QGIS_PY ?= /usr/bin/python3

.DEFAULT_GOAL := help
.PHONY: help install lock run test lint typecheck clean system-deps qgis-check batch

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

# the exact versions tested (requirements.lock, made by `make lock`); pyproject.toml keeps open ranges for library users
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || deps/apt-install python3-venv
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install sinkzone with its test tools, at the versions in requirements.lock

lock: ## re-resolve pyproject.toml's ranges in a scratch venv and write the versions into requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet ".[dev,bench]"
	{ echo "# made by \`make lock\` from pyproject.toml (extras dev, bench); \`make install\` installs exactly these"; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^sinkzone'; } > requirements.lock
	rm -rf .lock-venv build

run: $(STAMP) ## run CONFIG (default configs/demo.yaml) and print where the outputs are
	$(VENV)/bin/sinkzone run $(CONFIG)

SERVE_HISTORY ?= output/demo-history/history.gpkg
SERVE_BIND ?= 127.0.0.1:8000
# beside the store and the platform's own database: removing the folder starts the demo afresh
SERVE_LOGIN := $(dir $(SERVE_HISTORY))demo-login.txt
.PHONY: serve
serve: $(STAMP) ## run the shipped demos, store them in output/demo-history/, add a demo analyst, serve the platform
	@# both demos at once: each run has single-threaded stretches (reading, writing) the other fills
	$(VENV)/bin/sinkzone run configs/demo.yaml & one=$$!; $(VENV)/bin/sinkzone run configs/sao_tome_worldcover.yaml; \
	  two=$$?; wait $$one && test $$two = 0
	@mkdir -p $(dir $(SERVE_HISTORY))
	$(VENV)/bin/sinkzone ingest output/demo output/sao_tome_worldcover --history $(SERVE_HISTORY)
	@test -s $(SERVE_LOGIN) || { pw=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(12))'); \
	  echo "$$pw" | $(VENV)/bin/sinkzone users add demo --role analyst --history $(SERVE_HISTORY) && \
	  (umask 077 && echo "demo $$pw" > $(SERVE_LOGIN)); }
	@echo "log in at http://$(SERVE_BIND)/ as user $$(cut -d' ' -f1 $(SERVE_LOGIN)), password $$(cut -d' ' -f2 $(SERVE_LOGIN)) (kept in $(SERVE_LOGIN))"
	$(VENV)/bin/sinkzone serve --history $(SERVE_HISTORY) --bind $(SERVE_BIND)

batch: $(STAMP) ## run every config in configs/batch/, go on past failures, exit 1 if any failed
	$(VENV)/bin/sinkzone batch configs/batch

test: $(STAMP) system-deps ## run the whole test suite (installs the Debian packages it needs first)
	SINKZONE_QGIS_PYTHON=$(QGIS_PY) $(PY) -m pytest

lint: $(STAMP) ## ruff on the package, the tests and the benchmark
	$(VENV)/bin/ruff check pipeline tests bench

typecheck: $(STAMP) ## mypy on the package (pinned mypy and pandas-stubs)
	$(VENV)/bin/mypy

clean: ## remove outputs and caches (keeps .venv)
	rm -rf output .pytest_cache .mypy_cache .ruff_cache

system-deps: ## install the Debian packages the tests need (listed in deps/debian-packages.txt), if missing
	@deps/apt-install @deps/debian-packages.txt

qgis-check: $(STAMP) system-deps ## open the demo outputs in a headless QGIS, check styles, render output/qgis-renders/*.png
	SINKZONE_QGIS_PYTHON=$(QGIS_PY) $(PY) -m pytest tests/test_qgis.py -v -s

BENCH_WORK ?= bench/work
.PHONY: bench
BENCH_SIZE ?= 12288
bench: $(STAMP) ## benchmark vs exactextract on a generated 12288² case, 1/5/20 epochs (table in bench/work/results.md)
	PYTHONPATH=. $(PY) bench/make_case.py --out $(BENCH_WORK) --size $(BENCH_SIZE) --epochs 20
	PYTHONPATH=. $(PY) bench/run_bench.py --work $(BENCH_WORK)

PARCELS_WORK ?= bench/work/parcels
.PHONY: bench-parcels
bench-parcels: $(STAMP) ## 小班 scale: 40,000 parcels, 5000², 20 epochs, carbon; its history store; the platform on it (bench/work/parcels/*.md)
	PYTHONPATH=. $(PY) bench/parcels.py make --work $(PARCELS_WORK)
	PYTHONPATH=. $(PY) bench/parcels.py run --work $(PARCELS_WORK)
	PYTHONPATH=. $(PY) bench/parcels.py history --work $(PARCELS_WORK) $(if $(PARCELS_POSTGIS),--postgis $(PARCELS_POSTGIS))
	PYTHONPATH=. $(PY) bench/parcels.py platform --work $(PARCELS_WORK)
