# The Makefile is the contract: CI runs these same targets.
VENV    ?= .venv
PY      := $(VENV)/bin/python
DATANET ?= clinical-notes
STAMP   := $(VENV)/.installed

.PHONY: install ingest test test-fast lint bench payout-demo clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

ingest: install
	$(VENV)/bin/datanet ingest $(DATANET)

payout-demo: install
	$(PY) -m examples.payable_ai $(DATANET)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check pipelines ledger tests examples
	$(VENV)/bin/mypy pipelines ledger

bench: install
	$(PY) -m pip install --quiet -c requirements.lock 'pymerkle==7.0.0'
	$(PY) -m tests.bench.ledger_bench
	$(PY) -m tests.bench.stages_bench
	$(PY) -m tests.bench.payout_bench

clean:
	rm -rf out bench-out
