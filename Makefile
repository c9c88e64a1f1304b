# Two commands on a fresh machine: `make demo` runs the example pipeline on the local emulator,
# `make test` runs the linters and the tests. Both install what they need first.
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --no-sync

.PHONY: install system-deps demo test test-fast matrix lint bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-extras

demo: install
	$(RUN) python scripts/demo.py

# PostgreSQL and Redis for the system tests (without PostgreSQL they fall back to SQLite).
system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) bandit -q -r airflow_ml_provider -x airflow_ml_provider/emulator

# Everything: the main environment's whole suite (real-stack system tests included), then the matrix.
test: lint system-deps
	$(RUN) pytest
	$(MAKE) matrix

# The inner loop: the main environment only, without the tests that start Airflow processes.
test-fast: lint
	$(RUN) pytest -m "not system" --ignore=tests/system

# Each cell of the version matrix in its own virtualenv from its committed lock (see scripts/matrix.py).
matrix: install
	$(PYTHON) scripts/matrix.py run

bench: install
	$(RUN) python -m benchmarks.run_all

clean:
	rm -rf .demo .matrix .pytest_cache .ruff_cache
