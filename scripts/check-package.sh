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
$UV build --quiet --out-dir "$OUT/emulator-dist" emulator
.venv/bin/twine check --strict "$OUT"/dist/* "$OUT"/emulator-dist/*

# The provider's sdist holds the provider: not the emulator (its own distribution), the lock, tests or benchmarks.
.venv/bin/python - "$OUT" <<'PYTHON'
import sys, tarfile, zipfile
from email.parser import Parser
from pathlib import Path

out = Path(sys.argv[1])
(sdist,) = (out / "dist").glob("*.tar.gz")
tops = {name.split("/")[1] for name in tarfile.open(sdist).getnames() if name.count("/")}
leaked = tops & {"emulator", "tests", "benchmarks", "uv.lock", "docs", "scripts", "constraints"}
assert not leaked, f"{sdist.name} carries {sorted(leaked)}"
print(f"{sdist.name}: {sdist.stat().st_size // 1024} KiB, {sorted(tops)}")
# The emulator's wheel is as complete as the provider's: licence, classifiers, project URLs.
for wheel in (*(out / "dist").glob("*.whl"), *(out / "emulator-dist").glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert any(n.endswith("/licenses/LICENSE") for n in names), f"{wheel.name}: no LICENSE"
    assert metadata.get_all("Classifier"), f"{wheel.name}: no classifiers"
    assert len(metadata.get_all("Project-URL") or []) >= 3, f"{wheel.name}: no project URLs"
    print(f"{wheel.name}: LICENSE, {len(metadata.get_all('Classifier'))} classifiers, project URLs")
PYTHON

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
