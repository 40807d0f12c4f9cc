# The Makefile is the contract: CI runs these same targets.
VENV    ?= .venv
PY      := $(VENV)/bin/python
DATANET ?= clinical-notes
STAMP   := $(VENV)/.installed

.PHONY: install ingest test test-fast lint bench bench-scale payout-demo attribution-demo cluster cluster-stop clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,dask]'
	touch $(STAMP)

install: $(STAMP)

ingest: install
	$(VENV)/bin/datanet ingest $(DATANET)
	$(VENV)/bin/datanet verify $(DATANET) --vkey out/$(DATANET)/ledger/vkey
	$(VENV)/bin/datanet index $(DATANET)

payout-demo: install
	$(PY) -m examples.payable_ai $(DATANET)

attribution-demo: install
	$(PY) -m examples.attribution_demo $(DATANET)

test: lint
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check pipelines ledger tests examples benchmarks
	$(VENV)/bin/mypy pipelines ledger benchmarks

# Benchmark-only peers, never runtime dependencies (pymerkle is GPL; datatrove needs xxhash<4).
BENCH_PEERS := 'pymerkle==7.0.0' 'datatrove==0.10.1' 'xxhash<4' orjson tokenizers
BENCH_MB    ?= 10

bench: install
	$(PY) -m pip install --quiet -c requirements.lock $(BENCH_PEERS)
	$(VENV)/bin/datanet bench --size-mb $(BENCH_MB)
	$(PY) -m benchmarks.ledger
	$(PY) -m benchmarks.stages
	$(PY) -m benchmarks.payout
	$(PY) -m benchmarks.neardup
	$(PY) -m benchmarks.attribution
	$(PY) -m benchmarks.components

# Synthetic Datanets of 20k, 200k and 1M records, PII off: wall time, records/s, peak RSS (long: about an hour).
bench-scale: install
	$(PY) -m benchmarks.scale --sizes 20000 200000 1000000 --fresh

# A local dask.distributed cluster on 127.0.0.1 (scheduler + DASK_WORKERS single-threaded workers).
# Then: .venv/bin/datanet ingest NAME --runner DaskRunner --option dask_client_address=tcp://127.0.0.1:8786
DASK_WORKERS ?= 2
DASK_PORT    ?= 8786
cluster: install
	$(PY) -m pipelines.ops.cluster start --workers $(DASK_WORKERS) --port $(DASK_PORT)

cluster-stop:
	$(PY) -m pipelines.ops.cluster stop --port $(DASK_PORT)

clean:
	rm -rf out bench-out
