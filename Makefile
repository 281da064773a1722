# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The scoring benchmark's peers (toad, optbinning, scorecardpy) live in their own environment:
# they are benchmark-only and pin versions LendGuard does not need.
$(PEERS_STAMP): benchmarks/peers/requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/pip install --quiet -r benchmarks/peers/requirements.txt
	touch $(PEERS_STAMP)

demo: $(STAMP)
	$(BIN)/lendguard demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python benchmarks/eod_bench.py --accounts 20000 --compare
	$(BIN)/python benchmarks/scoring_bench.py --repeats 3
	$(BIN)/python benchmarks/underwriting_bench.py
	$(BIN)/python benchmarks/service_bench.py
	$(BIN)/python benchmarks/simulation_bench.py

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis
