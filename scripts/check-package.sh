#!/usr/bin/env bash
# Build the sdist and wheel, check their metadata, then install the wheel with plain pip into a fresh
# virtualenv, as a user would: it must import, and Airflow must list it as a provider.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-python3 -m uv}
OUT=build/package
rm -rf "$OUT"
mkdir -p "$OUT"

$UV build --quiet --out-dir "$OUT/dist"
.venv/bin/twine check --strict "$OUT"/dist/*

# The same Python as the project's environment; the lock file's versions, so the install is reproducible.
"$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv "$OUT/venv"
$UV export --frozen --no-dev --no-hashes --no-emit-project --quiet --output-file "$OUT/constraints.txt"
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check -c "$OUT/constraints.txt" "$OUT"/dist/*.whl

export AIRFLOW_HOME="$PWD/$OUT/airflow-home"
cd "$OUT"
venv/bin/python -c 'import airflow_ml_provider, airflow_ml_provider.operators.batch_prediction; print("imported", airflow_ml_provider.__version__)'
venv/bin/airflow providers list --output plain | tee providers.txt | grep -E '^airflow-ml-provider\b'
# Airflow reads the documentation link from the package's Project-URL metadata.
venv/bin/airflow providers get airflow-ml-provider --full --output json | grep -q '"documentation-url": "https://'
echo "airflow-ml-provider: built, checked, installed with pip, listed by Airflow with its documentation link"
