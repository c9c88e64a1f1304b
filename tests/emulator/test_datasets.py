from __future__ import annotations

import csv
import io
import json
import re

import pytest

from amazon_ml_emulator import datasets
from amazon_ml_emulator.learning import DataSchema, load_dataset

EXPECTED_RECORDS = {"breast_cancer": 569, "diabetes": 442, "iris": 150, "wine": 178}


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def test_available_lists_the_four_bundled_data_sets():
    assert datasets.available() == ["breast_cancer", "diabetes", "iris", "wine"]


@pytest.mark.parametrize(
    ("name", "model_type"),
    [("breast_cancer", "BINARY"), ("diabetes", "REGRESSION"), ("iris", "MULTICLASS"), ("wine", "MULTICLASS")],
)
def test_model_type_matches_the_target(name, model_type):
    assert datasets.model_type(name) == model_type


def test_unknown_data_set_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match=r"'mnist'.*breast_cancer"):
        datasets.make_dataset("mnist")


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDS))
def test_csv_header_matches_the_schema_and_every_record_loads(name):
    data, schema_json = datasets.make_dataset(name)
    schema = DataSchema.from_json(schema_json)
    rows = _rows(data)
    assert rows[0] == schema.attribute_names
    assert all(re.fullmatch(r"[a-z0-9_]+", column) for column in rows[0])
    assert schema.target_attribute_name == datasets.target_attribute_name(name)
    assert schema.attribute_names[-1] == schema.target_attribute_name
    dataset = load_dataset([(f"s3://demo/{name}.csv", data)], schema, None)
    assert dataset.record_count == EXPECTED_RECORDS[name]
    assert dataset.invalid_record_count == 0


def test_breast_cancer_diagnosis_marks_malignant_tumours_as_1():
    data, schema_json = datasets.make_dataset("breast_cancer")
    schema = DataSchema.from_json(schema_json)
    statistics = load_dataset([("s3://demo/bc.csv", data)], schema, None).statistics()
    # scikit-learn's copy of the Wisconsin data holds 212 malignant and 357 benign tumours.
    assert statistics["target"]["distribution"] == {"0": 357, "1": 212}
    assert schema.attribute("diagnosis").type == "BINARY"


def test_iris_labels_are_species_names():
    data, _ = datasets.make_dataset("iris")
    assert {row[-1] for row in _rows(data)[1:]} == {"setosa", "versicolor", "virginica"}


def test_diabetes_keeps_raw_values_and_sex_as_a_category():
    data, schema_json = datasets.make_dataset("diabetes")
    schema = DataSchema.from_json(schema_json)
    rows = _rows(data)
    assert schema.attribute("sex").type == "CATEGORICAL"
    assert {row[rows[0].index("sex")] for row in rows[1:]} == {"1", "2"}
    assert schema.attribute("disease_progression").type == "NUMERIC"


def test_without_target_the_column_and_the_schema_target_are_gone():
    data, schema_json = datasets.make_dataset("iris", include_target=False)
    document = json.loads(schema_json)
    assert "targetAttributeName" not in document
    assert "species" not in _rows(data)[0]
    assert len(_rows(data)[0]) == len(document["attributes"]) == 4


def test_row_id_comes_first_and_counts_from_one():
    data, schema_json = datasets.make_dataset("wine", row_id=True)
    schema = DataSchema.from_json(schema_json)
    rows = _rows(data)
    assert schema.row_id == rows[0][0] == "row_id"
    assert [row[0] for row in rows[1:4]] == ["1", "2", "3"]
    assert rows[-1][0] == "178"


def test_split_files_repeats_the_header_and_keeps_every_record_once_in_order():
    data, _ = datasets.make_dataset("iris")
    parts = datasets.split_files(data, 4)
    header, *body = data.decode().splitlines()
    assert len(parts) == 4
    assert all(part.decode().splitlines()[0] == header for part in parts)
    rejoined = [line for part in parts for line in part.decode().splitlines()[1:]]
    assert rejoined == body
    assert [len(part.decode().splitlines()) - 1 for part in parts] == [38, 38, 37, 37]


def test_split_files_without_header_and_with_more_parts_than_records():
    parts = datasets.split_files(b"a,1\nb,2", 3, header=False)
    assert parts == [b"a,1\n", b"b,2\n", b""]


def test_split_files_rejects_zero_parts():
    with pytest.raises(ValueError, match="parts 0"):
        datasets.split_files(b"a\n", 0)
