# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv once
# (a stamp file tracks pyproject.toml), so they are quick when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/twin run scenarios/flagship_live_sale.yaml --reps 20 --workers $(WORKERS) --out reports/flagship

test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/routing.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/ingest.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) reports/flagship .pytest_cache .hypothesis
