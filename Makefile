# Two commands on a fresh machine: `make demo` runs the example pipeline on the local emulator,
# `make test` runs the linters and the tests. Both install what they need first.
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --no-sync

.PHONY: install system-deps demo test test-main-untimed test-checks-and-matrix test-fast test-distributed soak matrix \
	lint docs package bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-extras --group dev

demo: install
	$(RUN) python scripts/demo.py

# PostgreSQL (Airflow's metadata database; Redshift's stand-in), MariaDB (RDS's), Redis (Celery's broker) and
# Chromium (the documentation site's browser check).
system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) bandit -q -r airflow_ml_provider
	$(RUN) mypy

# The documentation site (Material for MkDocs), warnings as errors, into build/site/<version>/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict --quiet

# sdist and wheel built, their metadata checked, the wheel installed with plain pip into a fresh venv.
package: install
	UV="$(UV)" bash scripts/check-package.sh

# Everything, in three phases sized for two cores and CI's budget. First, side by side: the main environment's
# tests (unit, emulator, docs' snippets, real-stack system tests on LocalExecutor) and, beside them, the
# linters, the docs, the package check and the version matrix. Then, with the machine to itself, the tests
# that measure wall-clock time (marker `timing`). Last, the distributed deployment.
test: install system-deps
	$(MAKE) --no-print-directory -j2 test-main-untimed test-checks-and-matrix
	$(RUN) pytest -m timing --ignore=tests/system/test_distributed.py --ignore=tests/system/test_soak.py
	$(MAKE) --no-print-directory test-distributed

test-main-untimed: install
	$(RUN) pytest -m "not timing" --ignore=tests/system/test_distributed.py --ignore=tests/system/test_soak.py

test-checks-and-matrix: install
	$(MAKE) --no-print-directory -j1 lint docs package matrix

# The inner loop: the main environment only, without the tests that start Airflow processes.
test-fast: lint
	$(RUN) pytest -m "not system" --ignore=tests/system

# CeleryExecutor with Redis, two workers and two triggerers (tests/system/test_distributed.py), then the
# chaos soak's short seed on the same deployment (tests/system/test_soak.py);
# DISTRIBUTED_RUNS=200 for the full figure of many runs at once.
test-distributed: install system-deps
	$(RUN) pytest tests/system/test_distributed.py tests/system/test_soak.py

# The chaos soak on a deployment of its own (see RELIABILITY.md): SOAK_MINUTES of seeded faults, then the
# invariant checker; the report goes to build/soak/. It exits non-zero when it found a violation.
SOAK_MINUTES ?= 60
SOAK_SEED ?= 20261207
soak: install system-deps
	$(RUN) python -m tests.system.soak --minutes $(SOAK_MINUTES) --seed $(SOAK_SEED)

# Each cell of the version matrix in its own virtualenv from its committed lock (see scripts/matrix.py).
matrix: install
	$(PYTHON) scripts/matrix.py run

# Under nice: the machine is shared with timing-sensitive tests. BENCH=full adds the burst benchmark (~15 min more).
BENCH ?=
bench: install
	nice -n 10 $(RUN) python -m benchmarks.run_all $(if $(filter full,$(BENCH)),--full)

clean:
	rm -rf .demo .matrix .pytest_cache .ruff_cache
