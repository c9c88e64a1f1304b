# Two commands on a fresh machine: `make demo` runs the example pipeline on the local emulator,
# `make test` runs the linters and the tests. Both install what they need first.
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --no-sync

.PHONY: install system-deps demo test lint docs package bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-extras --group dev

demo: install
	$(RUN) python scripts/demo.py

# PostgreSQL for the system tests' Airflow metadata database (they fall back to SQLite without it).
system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) bandit -q -r airflow_ml_provider
	$(RUN) mypy

# The documentation site, warnings as errors (mkdocs.yml sets strict), into build/site.
docs: install
	$(RUN) mkdocs build --strict --quiet

# sdist and wheel built, their metadata checked, the wheel installed with plain pip into a fresh venv.
package: install
	UV="$(UV)" bash scripts/check-package.sh

test: lint docs package system-deps
	$(RUN) pytest

bench: install
	$(RUN) python -m benchmarks.run_all

clean:
	rm -rf .demo .pytest_cache .ruff_cache
