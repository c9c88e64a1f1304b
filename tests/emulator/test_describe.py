"""Describe* queries: every filter variable and operator, sort orders, and NextToken pagination."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from amazon_ml_emulator import Emulator
from amazon_ml_emulator.datasets import TINY_SCHEMA

from .helpers import machine_learning_client, wait_for_status

BUCKET = "describe-tests"
ARN = "arn:aws:iam::123456789012:user/emulator"


@pytest.fixture(scope="module")
def described():
    """An emulator of its own holding a known set of entities, all FAILED for want of data."""
    with Emulator(job_duration=0.0, pending_duration=0.0, missing_dependency="fail") as emulator:
        client, _ = machine_learning_client(emulator.endpoint_url)
        for number, name in enumerate(["alpha-1", "alpha-2", "beta"]):
            client.create_data_source_from_s3(
                DataSourceId=f"ds-{number}",
                DataSourceName=name,
                DataSpec={"DataLocationS3": f"s3://{BUCKET}/{name}.csv", "DataSchema": TINY_SCHEMA},
                ComputeStatistics=True,
            )
        for number, model_type in enumerate(["BINARY", "REGRESSION"]):
            client.create_ml_model(
                MLModelId=f"model-{number}",
                MLModelName=f"model {model_type.lower()}",
                MLModelType=model_type,
                TrainingDataSourceId=f"ds-{number}",
            )
        middle = None
        for number in range(5):
            if number == 3:
                time.sleep(0.05)
                middle = time.time()
                time.sleep(0.05)
            client.create_batch_prediction(
                BatchPredictionId=f"bp-{number}",
                BatchPredictionName=f"bp-{number}",
                MLModelId=f"model-{number % 2}",
                BatchPredictionDataSourceId=f"ds-{number % 3}",
                OutputUri=f"s3://{BUCKET}/out/",
            )
        for number in range(2):
            client.create_evaluation(
                EvaluationId=f"ev-{number}",
                EvaluationName=f"ev-{number}",
                MLModelId=f"model-{number}",
                EvaluationDataSourceId=f"ds-{number}",
            )
        for number in range(5):
            wait_for_status(
                lambda number=number: client.get_batch_prediction(BatchPredictionId=f"bp-{number}")
            )
        emulator.set_status("bp-4", "COMPLETED")
        yield {"client": client, "middle": middle}


def ids(results, member):
    return sorted(item[member] for item in results)


@pytest.mark.parametrize(
    ("operation", "kwargs", "member", "expected"),
    [
        (
            "describe_data_sources",
            {"FilterVariable": "Name", "Prefix": "alpha"},
            "DataSourceId",
            ["ds-0", "ds-1"],
        ),
        (
            "describe_data_sources",
            {"FilterVariable": "Status", "EQ": "FAILED"},
            "DataSourceId",
            ["ds-0", "ds-1", "ds-2"],
        ),
        (
            "describe_data_sources",
            {"FilterVariable": "DataLocationS3", "EQ": f"s3://{BUCKET}/beta.csv"},
            "DataSourceId",
            ["ds-2"],
        ),
        ("describe_data_sources", {"FilterVariable": "IAMUser", "NE": ARN}, "DataSourceId", []),
        (
            "describe_ml_models",
            {"FilterVariable": "MLModelType", "EQ": "REGRESSION"},
            "MLModelId",
            ["model-1"],
        ),
        (
            "describe_ml_models",
            {"FilterVariable": "TrainingDataSourceId", "EQ": "ds-0"},
            "MLModelId",
            ["model-0"],
        ),
        (
            "describe_ml_models",
            {"FilterVariable": "Algorithm", "EQ": "sgd"},
            "MLModelId",
            ["model-0", "model-1"],
        ),
        (
            "describe_ml_models",
            {"FilterVariable": "RealtimeEndpointStatus", "EQ": "NONE"},
            "MLModelId",
            ["model-0", "model-1"],
        ),
        (
            "describe_ml_models",
            {"FilterVariable": "TrainingDataURI", "EQ": f"s3://{BUCKET}/alpha-2.csv"},
            "MLModelId",
            ["model-1"],
        ),
        ("describe_ml_models", {"FilterVariable": "IAMUser", "EQ": ARN}, "MLModelId", ["model-0", "model-1"]),
        (
            "describe_batch_predictions",
            {"FilterVariable": "MLModelId", "EQ": "model-1"},
            "BatchPredictionId",
            ["bp-1", "bp-3"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "DataSourceId", "NE": "ds-0"},
            "BatchPredictionId",
            ["bp-1", "bp-2", "bp-4"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "DataURI", "EQ": f"s3://{BUCKET}/beta.csv"},
            "BatchPredictionId",
            ["bp-2"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "Status", "EQ": "COMPLETED"},
            "BatchPredictionId",
            ["bp-4"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "Name", "GE": "bp-3"},
            "BatchPredictionId",
            ["bp-3", "bp-4"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "Name", "GT": "bp-0", "LE": "bp-2"},
            "BatchPredictionId",
            ["bp-1", "bp-2"],
        ),
        (
            "describe_batch_predictions",
            {"FilterVariable": "Name", "LT": "bp-1"},
            "BatchPredictionId",
            ["bp-0"],
        ),
        ("describe_evaluations", {"FilterVariable": "MLModelId", "EQ": "model-1"}, "EvaluationId", ["ev-1"]),
        ("describe_evaluations", {"FilterVariable": "DataSourceId", "EQ": "ds-0"}, "EvaluationId", ["ev-0"]),
        (
            "describe_evaluations",
            {"FilterVariable": "DataURI", "Prefix": f"s3://{BUCKET}/alpha"},
            "EvaluationId",
            ["ev-0", "ev-1"],
        ),
        (
            "describe_evaluations",
            {"FilterVariable": "Status", "EQ": "FAILED"},
            "EvaluationId",
            ["ev-0", "ev-1"],
        ),
        ("describe_evaluations", {"FilterVariable": "IAMUser", "EQ": ARN}, "EvaluationId", ["ev-0", "ev-1"]),
        ("describe_evaluations", {"FilterVariable": "Name", "EQ": "ev-1"}, "EvaluationId", ["ev-1"]),
    ],
)
def test_filter_variables_and_operators_select_the_matching_entities(
    described, operation, kwargs, member, expected
):
    results = getattr(described["client"], operation)(**kwargs)["Results"]

    assert ids(results, member) == expected


def test_time_filters_take_epoch_seconds_and_iso_dates(described):
    client, middle = described["client"], described["middle"]
    later = client.describe_batch_predictions(FilterVariable="CreatedAt", GT=str(middle))["Results"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle - 3600))
    recent = client.describe_batch_predictions(FilterVariable="LastUpdatedAt", GE=iso)["Results"]

    assert ids(later, "BatchPredictionId") == ["bp-3", "bp-4"]
    assert len(recent) == 5


def test_sort_order_orders_by_the_filter_variable(described):
    client = described["client"]
    ascending = client.describe_batch_predictions(FilterVariable="Name", Prefix="bp", SortOrder="asc")[
        "Results"
    ]
    descending = client.describe_batch_predictions(FilterVariable="Name", Prefix="bp", SortOrder="dsc")[
        "Results"
    ]

    assert [item["Name"] for item in ascending] == [f"bp-{number}" for number in range(5)]
    assert [item["Name"] for item in descending] == [f"bp-{number}" for number in reversed(range(5))]


def test_next_token_pages_through_every_result_once(described):
    client = described["client"]
    query = {"FilterVariable": "Name", "Prefix": "bp", "SortOrder": "dsc", "Limit": 2}
    pages = [client.describe_batch_predictions(**query)]
    while "NextToken" in pages[-1]:
        pages.append(client.describe_batch_predictions(**query, NextToken=pages[-1]["NextToken"]))

    assert [len(page["Results"]) for page in pages] == [2, 2, 1]
    assert [item["Name"] for page in pages for item in page["Results"]] == [
        f"bp-{n}" for n in (4, 3, 2, 1, 0)
    ]


def test_botocore_paginator_walks_the_pages(described):
    paginator = described["client"].get_paginator("describe_batch_predictions")
    pages = list(paginator.paginate(FilterVariable="Name", Prefix="bp", PaginationConfig={"PageSize": 3}))

    assert sum(len(page["Results"]) for page in pages) == 5


def test_a_token_from_another_query_is_rejected(described):
    client = described["client"]
    token = client.describe_batch_predictions(FilterVariable="Name", Prefix="bp", Limit=1)["NextToken"]

    with pytest.raises(ClientError) as caught:
        client.describe_batch_predictions(FilterVariable="Status", EQ="FAILED", NextToken=token)

    assert caught.value.response["Error"]["Code"] == "InvalidInputException"
    assert "another query" in caught.value.response["Error"]["Message"]


def test_limit_defaults_to_100_and_lists_everything_without_filter(described):
    results = described["client"].describe_batch_predictions()

    assert len(results["Results"]) == 5
    assert "NextToken" not in results
