"""The package as Airflow sees it: registered with the provider manager, cheap to import from DAG files."""

from __future__ import annotations

import subprocess
import sys

import pytest

import airflow_ml_provider
from airflow_ml_provider.get_provider_info import get_provider_info


def test_the_provider_manager_lists_the_package_with_its_parts():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["airflow-ml-provider"].version == airflow_ml_provider.__version__
    assert "airflow_ml_provider.links.machine_learning.BatchPredictionLink" in manager.extra_links_class_names
    trigger_modules = {trigger.package_name: trigger for trigger in manager.trigger}
    assert "airflow-ml-provider" in trigger_modules


def test_provider_info_names_modules_that_exist():
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for module in info[section][0]["python-modules"]:
            __import__(module)
    for link in info["extra-links"]:
        module, _, name = link.rpartition(".")
        assert hasattr(__import__(module, fromlist=[name]), name)


def test_provider_info_is_valid_under_this_airflows_own_schema():
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_the_integration_has_a_logo_and_how_to_guides_that_exist():
    from pathlib import Path

    repository = Path(__file__).resolve().parents[1]
    (integration,) = get_provider_info()["integrations"]
    named = [integration["logo"], *integration["how-to-guide"]]
    assert len(integration["how-to-guide"]) == 6
    assert [path for path in named if not (repository / path.lstrip("/")).is_file()] == []


@pytest.mark.parametrize("name", airflow_ml_provider.__all__)
def test_every_public_name_is_importable_from_the_package(name):
    assert getattr(airflow_ml_provider, name).__name__ == name


def printed_by_fresh_interpreter(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_the_package_or_reading_provider_info_imports_nothing_heavy():
    code = (
        "import sys, airflow_ml_provider.get_provider_info as info; info.get_provider_info(); "
        "heavy = [m for m in ('airflow.sdk', 'boto3', 'botocore', 'airflow_ml_provider.operators') if m in sys.modules]; "
        "print(heavy)"
    )
    assert printed_by_fresh_interpreter(code) == "[]"


def test_dag_files_that_use_the_operators_do_not_load_boto_or_the_amazon_hooks():
    code = (
        "import sys; from airflow.providers.common.compat.sdk import DAG; "
        "from airflow_ml_provider import CreateBatchPredictionOperator, BatchPredictionSensor, "
        "CreateDataSourceFromS3Operator, CreateMLModelOperator, CreateEvaluationOperator, EvaluationSensor; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aiobotocore') "
        "or m.startswith('airflow.providers.amazon.aws.hooks')]; print(heavy)"
    )
    assert printed_by_fresh_interpreter(code) == "[]"
