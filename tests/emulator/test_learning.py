from __future__ import annotations

import csv
import io
import json
import math
import random
import re

import numpy as np
import pytest

from amazon_ml_emulator import datasets
from amazon_ml_emulator.learning import (
    Attribute,
    DataRearrangement,
    DataSchema,
    Dataset,
    LearningError,
    format_number,
    load_dataset,
    parse_binary,
    parse_data_rearrangement,
    parse_numeric,
    train_model,
    validate_model_parameters,
    validate_recipe,
)

JAVA_NUMBER = re.compile(r"-?\d(\.\d*[1-9])?E-?\d+")
HOLDOUT = '{"splitting":{"percentBegin":0,"percentEnd":30,"strategy":"random","randomSeed":"holdout"}}'
TRAINING = HOLDOUT.replace('"strategy"', '"complement":"true","strategy"')


def _schema(attributes: list[tuple[str, str]], **extra) -> str:
    document = {
        "version": "1.0",
        "dataFormat": "CSV",
        "dataFileContainsHeader": True,
        "attributes": [{"attributeName": name, "attributeType": kind} for name, kind in attributes],
        **extra,
    }
    return json.dumps(document)


def _split(name: str, **options) -> tuple[Dataset, Dataset, bytes, DataSchema]:
    data, schema_json = datasets.make_dataset(name, **options)
    schema = DataSchema.from_json(schema_json)
    files = [(f"s3://demo/{name}.csv", data)]
    training = load_dataset(files, schema, parse_data_rearrangement(TRAINING))
    holdout = load_dataset(files, schema, parse_data_rearrangement(HOLDOUT))
    return training, holdout, data, schema


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def breast_cancer():
    training, holdout, data, schema = _split("breast_cancer")
    return training, holdout, data, schema, train_model("BINARY", training, {}, None)


@pytest.fixture(scope="module")
def iris():
    training, holdout, data, schema = _split("iris")
    return training, holdout, data, schema, train_model("MULTICLASS", training, {}, None)


@pytest.fixture(scope="module")
def diabetes():
    training, holdout, data, schema = _split("diabetes")
    return training, holdout, data, schema, train_model("REGRESSION", training, {}, None)


def _reviews(count: int = 300, seed: int = 7) -> tuple[bytes, DataSchema]:
    """Short product reviews whose words, not their length, give away the rating."""
    rng = random.Random(seed)
    positive = ["Great", "great", "great!", "loved it", "Excellent", "wonderful value"]
    negative = ["Awful", "awful", "awful.", "hated it", "Broken", "waste of money"]
    lines = ["review,channel,device,price,liked"]
    for _ in range(count):
        liked = rng.random() < 0.5
        words = (
            rng.choice(positive if liked else negative) + " " + rng.choice(["the item", "this", "overall"])
        )
        channel = rng.choice(["web", "store"])
        device = rng.choice(["phone", "tablet"])
        lines.append(f'"{words}",{channel},{device},{rng.uniform(1, 500):.2f},{"yes" if liked else "no"}')
    schema = DataSchema.from_json(
        _schema(
            [
                ("review", "TEXT"),
                ("channel", "CATEGORICAL"),
                ("device", "CATEGORICAL"),
                ("price", "NUMERIC"),
                ("liked", "BINARY"),
            ],
            targetAttributeName="liked",
        )
    )
    return ("\n".join(lines) + "\n").encode(), schema


@pytest.fixture(scope="module")
def reviews() -> tuple[Dataset, bytes, DataSchema]:
    data, schema = _reviews()
    return load_dataset([("s3://demo/reviews.csv", data)], schema, None), data, schema


# --------------------------------------------------------------------------------------------------
# format_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.996733, "9.96733E-1"),
        (1.0, "1E0"),
        (-15.26385, "-1.526385E1"),
        (0.0, "0E0"),
        (-0.0, "0E0"),
        (0.5, "5E-1"),
        (100, "1E2"),
        (151.0, "1.51E2"),
        (1234567.0, "1.234567E6"),
        (123456789.0, "1.234568E8"),
        (0.123456749, "1.234567E-1"),
        (0.99999996, "1E0"),
        (9.9999996, "1E1"),
        (-0.000123, "-1.23E-4"),
        (1.5e-300, "1.5E-300"),
        (-2.5e20, "-2.5E20"),
        (6.02214076e23, "6.022141E23"),
        (np.float64(0.25), "2.5E-1"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
    ],
)
def test_format_number_writes_java_style_with_seven_significant_digits(value, expected):
    assert format_number(value) == expected


# --------------------------------------------------------------------------------------------------
# Schemas


def test_schema_reads_the_developer_guide_dialect():
    schema = DataSchema.from_json(
        _schema(
            [("id", "CATEGORICAL"), ("note", "TEXT"), ("age", "NUMERIC"), ("paid", "BINARY")],
            rowId="id",
            targetAttributeName="paid",
            excludedAttributeNames=["note"],
        )
    )
    assert schema.row_id == "id"
    assert schema.target_attribute_name == "paid"
    assert schema.data_file_contains_header is True
    assert schema.attributes[2] == Attribute("age", "NUMERIC")
    assert schema.attribute_names == ["id", "note", "age", "paid"]
    assert schema.excluded_attribute_names == ("note",)
    assert [attribute.name for attribute in schema.feature_attributes] == ["age"]


def test_schema_reads_the_api_reference_dialect():
    schema = DataSchema.from_json(
        json.dumps(
            {
                "version": "1.0",
                "recordAnnotationFieldName": "F1",
                "recordWeightFieldName": "F2",
                "targetFieldName": "F3",
                "dataFormat": "CSV",
                "dataFileContainsHeader": "false",
                "variables": [
                    {"fieldName": "F1", "fieldType": "TEXT"},
                    {"fieldName": "F2", "fieldType": "NUMERIC"},
                    {"fieldName": "F3", "fieldType": "CATEGORICAL"},
                    {"fieldName": "F4", "fieldType": "numeric"},
                    {"fieldName": "F6", "fieldType": "TEXT"},
                ],
                "excludedVariableNames": ["F6"],
            }
        )
    )
    assert schema.target_attribute_name == "F3"
    assert schema.row_id == "F1"
    assert schema.data_file_contains_header is False
    assert schema.attribute("F4").type == "NUMERIC"
    # Record weights are not applied, so the weight attribute is kept out of the features.
    assert schema.excluded_attribute_names == ("F6", "F2")
    assert [attribute.name for attribute in schema.feature_attributes] == ["F4"]


def test_schema_round_trips_through_json():
    schema = DataSchema.from_json(_schema([("a", "NUMERIC"), ("b", "BINARY")], targetAttributeName="b"))
    assert DataSchema.from_json(schema.to_json()) == schema


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("", "non-empty JSON object"),
        (_schema([]), "at least one attribute"),
        (json.dumps({"dataFormat": "CSV"}), "attributes: missing"),
        (
            _schema([(f"a{index}", "NUMERIC") for index in range(1001)]),
            "1001 attributes exceed the limit of 1000",
        ),
        (_schema([("a", "NUMERIC"), ("a", "TEXT")]), "attributeName 'a': names must be unique"),
        (_schema([("a", "NUMERIC"), ("b", "DATE")]), "attributeType 'DATE' of attribute 'b'"),
        (_schema([("a", "WEIGHTED_INT_SEQUENCE")]), "'WEIGHTED_INT_SEQUENCE'"),
        (_schema([("a", "NUMERIC")], targetAttributeName="z"), "targetAttributeName 'z': must name one"),
        (_schema([("a", "NUMERIC")], rowId="z"), "rowId 'z': must name one"),
        (
            _schema([("a", "NUMERIC")], rowId="a", targetAttributeName="a"),
            "rowId 'a': must not be the target",
        ),
        (_schema([("a", "NUMERIC")], excludedAttributeNames=["z"]), "excludedAttributeNames 'z'"),
        (
            _schema(
                [("a", "NUMERIC"), ("b", "BINARY")], targetAttributeName="b", excludedAttributeNames=["b"]
            ),
            "target attribute cannot be excluded",
        ),
        (_schema([("a", "NUMERIC")], dataFormat="JSON"), "dataFormat 'JSON': must be 'CSV'"),
        (_schema([("a", "NUMERIC")], version="2.0"), "version '2.0'"),
        (
            _schema([("a", "NUMERIC")], dataFileContainsHeader="sometimes"),
            "dataFileContainsHeader 'sometimes'",
        ),
        (
            _schema([("a", "NUMERIC"), ("b", "NUMERIC")], targetAttributeName="a", targetFieldName="b"),
            "targetAttributeName and targetFieldName",
        ),
    ],
)
def test_schema_rejects_invalid_documents_naming_the_rule(text, message):
    with pytest.raises(LearningError, match=re.escape(message)):
        DataSchema.from_json(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("y", 1),
        ("Yes", 1),
        ("T", 1),
        ("TRUE", 1),
        (" true ", 1),
        ("0", 0),
        ("n", 0),
        ("NO", 0),
        ("f", 0),
        ("False", 0),
        ("", None),
        ("2", None),
        ("maybe", None),
        ("1.0", None),
    ],
)
def test_binary_values_follow_amazon_ml_spellings(value, expected):
    assert parse_binary(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("-2.5", -2.5),
        (" 1e3 ", 1000.0),
        (".5", 0.5),
        ("", None),
        ("abc", None),
        ("1_000", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
    ],
)
def test_numeric_values_that_are_not_plain_finite_numbers_count_as_missing(value, expected):
    assert parse_numeric(value) == expected


# --------------------------------------------------------------------------------------------------
# Data rearrangement


def test_no_rearrangement_means_all_records():
    assert parse_data_rearrangement(None) is None
    assert parse_data_rearrangement("  ") is None


def test_sequential_split_takes_the_range_in_order_and_complement_the_rest():
    first = parse_data_rearrangement('{"splitting":{"percentBegin":0,"percentEnd":70}}')
    rest = parse_data_rearrangement('{"splitting":{"percentBegin":0,"percentEnd":70,"complement":"true"}}')
    assert first.select(range(10)) == [0, 1, 2, 3, 4, 5, 6]
    assert rest.select(range(10)) == [7, 8, 9]
    middle = parse_data_rearrangement(
        '{"splitting":{"percentBegin":"25","percentEnd":"75","complement":false}}'
    )
    assert middle.select(range(8)) == [2, 3, 4, 5]


def test_random_split_is_seeded_disjoint_from_its_complement_and_covers_everything():
    text = (
        '{"splitting":{"percentBegin":20,"percentEnd":50,"strategy":"random","randomSeed":"s3://b/data.csv"}}'
    )
    chosen = parse_data_rearrangement(text).select(range(1000))
    complement = parse_data_rearrangement(text.replace("}}", ',"complement":true}}')).select(range(1000))
    assert chosen == parse_data_rearrangement(text).select(range(1000))
    assert not set(chosen) & set(complement)
    assert sorted(chosen + complement) == list(range(1000))
    assert chosen == sorted(chosen)  # existing ordering is preserved
    assert 250 < len(chosen) < 350
    assert chosen != list(range(min(chosen), min(chosen) + len(chosen)))
    other_seed = parse_data_rearrangement(text.replace("s3://b/data.csv", "another")).select(range(1000))
    assert other_seed != chosen


def test_random_seed_is_also_read_from_strategy_params():
    nested = '{"splitting":{"percentEnd":50,"strategy":"random","strategyParams":{"randomSeed":"x"}}}'
    flat = '{"splitting":{"percentEnd":50,"strategy":"random","randomSeed":"x"}}'
    assert parse_data_rearrangement(nested) == parse_data_rearrangement(flat)
    assert parse_data_rearrangement(flat) == DataRearrangement(0.0, 50.0, False, "random", "x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", "not valid JSON"),
        ('{"splitting":{"percentBegin":70,"percentEnd":70}}', "percentBegin must be below percentEnd"),
        ('{"splitting":{"percentBegin":80,"percentEnd":20}}', "percentBegin must be below percentEnd"),
        ('{"splitting":{"percentEnd":101}}', "percentEnd 101: must be a number from 0 to 100"),
        ('{"splitting":{"percentBegin":-1}}', "percentBegin -1"),
        ('{"splitting":{"percentBegin":"ten"}}', "percentBegin 'ten'"),
        ('{"splitting":{"strategy":"stratified"}}', "strategy 'stratified'"),
        ('{"splitting":{"complement":"maybe"}}', "complement 'maybe'"),
        ('{"splitting":{"percentbegin":10}}', "unknown keys"),
        ('{"shuffle":{}}', "only 'splitting'"),
        ('{"splitting":[0, 70]}', "splitting [0, 70]: must be an object"),
    ],
)
def test_rearrangement_rejects_invalid_documents(text, message):
    with pytest.raises(LearningError, match=re.escape(message)):
        parse_data_rearrangement(text)


# --------------------------------------------------------------------------------------------------
# Loading data


SMALL_SCHEMA = DataSchema.from_json(
    _schema([("name", "CATEGORICAL"), ("age", "NUMERIC"), ("ok", "BINARY")], targetAttributeName="ok")
)


def test_several_files_make_one_data_set_in_order():
    data, schema_json = datasets.make_dataset("iris")
    schema = DataSchema.from_json(schema_json)
    whole = load_dataset([("s3://b/iris.csv", data)], schema, None)
    parts = datasets.split_files(data, 3)
    pieces = load_dataset([(f"s3://b/part-{i}.csv", part) for i, part in enumerate(parts)], schema, None)
    assert pieces.records == whole.records
    assert pieces.record_count == 150


def test_rearrangement_applies_across_files():
    files = [
        ("s3://b/1.csv", b"name,age,ok\na,1,y\nb,2,n\n"),
        ("s3://b/2.csv", b"name,age,ok\nc,3,y\nd,4,n\n"),
    ]
    rearrangement = parse_data_rearrangement('{"splitting":{"percentBegin":25,"percentEnd":75}}')
    dataset = load_dataset(files, SMALL_SCHEMA, rearrangement)
    assert [record[0] for record in dataset.records] == ["b", "c"]


def test_header_is_skipped_only_when_the_schema_says_so():
    content = b"name,age,ok\na,1,y\n"
    assert load_dataset([("s3://b/x.csv", content)], SMALL_SCHEMA, None).records == [["a", "1", "y"]]
    no_header = DataSchema(
        target_attribute_name="ok",
        row_id=None,
        data_file_contains_header=False,
        attributes=SMALL_SCHEMA.attributes,
    )
    assert load_dataset([("s3://b/x.csv", content)], no_header, None).record_count == 2


def test_malformed_and_oversized_records_are_invalid_and_blank_lines_are_no_records():
    huge = "x" * (100 * 1024)
    content = f'name,age,ok\na,1,y\nb,2\n\nc,3,n,extra\n"{huge}",4,y\n"quoted, name",5,n\n'.encode()
    dataset = load_dataset([("s3://b/x.csv", content)], SMALL_SCHEMA, None)
    assert dataset.records == [["a", "1", "y"], ["quoted, name", "5", "n"]]
    assert dataset.invalid_record_count == 3


def test_header_with_the_wrong_column_count_fails_naming_the_file():
    with pytest.raises(
        LearningError, match=r"s3://b/bad\.csv: header has 2 columns but the DataSchema has 3"
    ):
        load_dataset([("s3://b/bad.csv", b"name,age\na,1\n")], SMALL_SCHEMA, None)


def test_no_valid_records_fails():
    with pytest.raises(LearningError, match="no valid records"):
        load_dataset([("s3://b/x.csv", b"name,age,ok\na,1\nb\n")], SMALL_SCHEMA, None)
    with pytest.raises(LearningError, match="no valid records"):
        load_dataset([("s3://b/empty.csv", b"")], SMALL_SCHEMA, None)


def test_statistics_summarise_each_attribute_and_the_target():
    content = b"name,age,ok\na,10,y\nb,,n\na,abc,YES\n,30,maybe\n"
    statistics = load_dataset([("s3://b/x.csv", content)], SMALL_SCHEMA, None).statistics()
    assert statistics["recordCount"] == 4
    name, age, ok = statistics["attributes"]
    assert name["missingCount"] == 1
    assert name["distinctCount"] == 2
    assert name["mostFrequent"][0] == ["a", 2]
    assert (age["missingCount"], age["invalidCount"]) == (1, 1)
    assert (age["min"], age["max"], age["mean"]) == (10.0, 30.0, 20.0)
    assert (ok["trueCount"], ok["falseCount"], ok["invalidCount"]) == (2, 1, 1)
    assert statistics["target"]["distribution"] == {"0": 1, "1": 2}
    assert statistics["target"]["missingOrInvalidCount"] == 1
    json.dumps(statistics)


# --------------------------------------------------------------------------------------------------
# Training parameters


def test_documented_parameters_are_accepted():
    validate_model_parameters(
        "BINARY",
        {
            "sgd.maxPasses": "100",
            "sgd.shuffleType": "auto",
            "sgd.l1RegularizationAmount": "1.0E-08",
            "sgd.maxMLModelSizeInBytes": "2147483648",
        },
    )
    validate_model_parameters("REGRESSION", {"sgd.l2RegularizationAmount": "0", "sgd.shuffleType": "none"})
    validate_model_parameters("MULTICLASS", {})


@pytest.mark.parametrize(
    ("model_type", "parameters", "message"),
    [
        ("CLUSTERING", {}, "MLModelType 'CLUSTERING'"),
        ("BINARY", {"sgd.learningRate": "0.1"}, "['sgd.learningRate']: unknown training parameter"),
        (
            "BINARY",
            {"sgd.l1RegularizationAmount": "1e-8", "sgd.l2RegularizationAmount": "1e-8"},
            "only one of them",
        ),
        ("BINARY", {"sgd.maxPasses": "0"}, "sgd.maxPasses '0': must be an integer from 1 to 10000"),
        ("BINARY", {"sgd.maxPasses": "10001"}, "sgd.maxPasses '10001'"),
        ("BINARY", {"sgd.maxPasses": "2.5"}, "sgd.maxPasses '2.5'"),
        ("BINARY", {"sgd.shuffleType": "always"}, "sgd.shuffleType 'always': must be 'auto' or 'none'"),
        ("BINARY", {"sgd.l2RegularizationAmount": "-1"}, "sgd.l2RegularizationAmount '-1'"),
        ("BINARY", {"sgd.l1RegularizationAmount": "lots"}, "sgd.l1RegularizationAmount 'lots'"),
        ("BINARY", {"sgd.maxMLModelSizeInBytes": "99999"}, "from 100000 to 2147483648"),
        ("BINARY", {"sgd.maxMLModelSizeInBytes": "2147483649"}, "sgd.maxMLModelSizeInBytes '2147483649'"),
    ],
)
def test_invalid_parameters_are_rejected_naming_the_parameter(model_type, parameters, message):
    with pytest.raises(LearningError, match=re.escape(message)):
        validate_model_parameters(model_type, parameters)


# --------------------------------------------------------------------------------------------------
# Training and evaluation on real data


def test_binary_model_separates_breast_cancer_diagnoses(breast_cancer):
    training, holdout, _, _, model = breast_cancer
    metrics = model.evaluate(holdout)
    assert set(metrics) == {"BinaryAUC"}
    assert float(metrics["BinaryAUC"]) > 0.95
    assert model.model_type == "BINARY"
    assert model.class_labels == ["0", "1"]
    assert model.size_in_bytes > 0
    assert training.record_count + holdout.record_count == 569


def test_multiclass_model_tells_iris_species_apart(iris):
    _, holdout, _, _, model = iris
    assert float(model.evaluate(holdout)["MulticlassAvgFScore"]) > 0.8
    assert model.class_labels == ["setosa", "versicolor", "virginica"]


def test_multiclass_model_tells_wine_cultivars_apart():
    training, holdout, _, _ = _split("wine")
    model = train_model("MULTICLASS", training, {"sgd.l1RegularizationAmount": "1e-6"}, None)
    assert float(model.evaluate(holdout)["MulticlassAvgFScore"]) > 0.8


def test_regression_model_predicts_diabetes_progression_better_than_the_mean(diabetes):
    _, holdout, _, _, model = diabetes
    rmse = float(model.evaluate(holdout)["RegressionRMSE"])
    spread = float(np.std([float(value) for value in holdout.column("disease_progression")]))
    assert rmse < 0.85 * spread


def test_max_passes_is_honoured(breast_cancer):
    training, _, data, schema, _ = breast_cancer
    one = train_model("BINARY", training, {"sgd.maxPasses": "1"}, None)
    fifty = train_model("BINARY", training, {"sgd.maxPasses": "50"}, None)
    assert one.score_file(data, schema, 0.5).csv_text != fifty.score_file(data, schema, 0.5).csv_text
    iris_training, _, iris_data, iris_schema = _split("iris")
    scores = {
        passes: train_model("MULTICLASS", iris_training, {"sgd.maxPasses": passes}, None).score_file(
            iris_data, iris_schema, 0.5
        )
        for passes in ("1", "50")
    }
    assert scores["1"].csv_text != scores["50"].csv_text


def test_training_is_deterministic(breast_cancer):
    training, _, data, schema, model = breast_cancer
    again = train_model("BINARY", training, {}, None)
    assert again.score_file(data, schema, 0.5) == model.score_file(data, schema, 0.5)
    assert again.size_in_bytes == model.size_in_bytes


def test_shuffle_and_regularization_change_the_model(breast_cancer):
    training, _, data, schema, model = breast_cancer
    baseline = model.score_file(data, schema, 0.5).csv_text
    variants = [
        {"sgd.shuffleType": "auto"},
        {"sgd.l1RegularizationAmount": "0.01"},
        {"sgd.l2RegularizationAmount": "0.01"},
    ]
    texts = [
        train_model("BINARY", training, parameters, None).score_file(data, schema, 0.5).csv_text
        for parameters in variants
    ]
    assert len({baseline, *texts}) == 4


def test_model_too_large_for_max_model_size_fails():
    words = [f"w{index}" for index in range(6000)]
    lines = ["text,label"] + [f"{' '.join(words[i : i + 6])},{i % 2}" for i in range(0, 6000, 3)]
    schema = DataSchema.from_json(
        _schema([("text", "TEXT"), ("label", "BINARY")], targetAttributeName="label")
    )
    dataset = load_dataset([("s3://b/t.csv", "\n".join(lines).encode())], schema, None)
    assert train_model("BINARY", dataset, {}, None).size_in_bytes > 100_000
    with pytest.raises(LearningError, match=r"sgd\.maxMLModelSizeInBytes 100000: the model needs \d+ bytes"):
        train_model("BINARY", dataset, {"sgd.maxMLModelSizeInBytes": "100000"}, None)


def test_records_with_missing_or_invalid_target_are_skipped():
    content = b"name,age,ok\na,1,y\nb,2,n\nc,3,maybe\nd,4,\ne,5,t\nf,6,f\n"
    dataset = load_dataset([("s3://b/x.csv", content)], SMALL_SCHEMA, None)
    model = train_model("BINARY", dataset, {}, None)
    assert model.evaluate(dataset)["BinaryAUC"]
    unlabelled = load_dataset([("s3://b/x.csv", b"name,age,ok\na,1,\nb,2,perhaps\n")], SMALL_SCHEMA, None)
    with pytest.raises(LearningError, match="no record has a valid value of target attribute 'ok'"):
        train_model("BINARY", unlabelled, {}, None)


@pytest.mark.parametrize(
    ("model_type", "content", "message"),
    [
        (
            "MULTICLASS",
            b"name,age,ok\na,1,y\nb,2,n\n",
            "'ok' is BINARY: a MULTICLASS model needs a CATEGORICAL target",
        ),
        ("REGRESSION", b"name,age,ok\na,1,y\nb,2,n\n", "a REGRESSION model needs a NUMERIC target"),
        (
            "BINARY",
            b"name,age,ok\na,1,y\nb,2,yes\n",
            "has only the value 1; a BINARY model needs records of both",
        ),
    ],
)
def test_training_rejects_unusable_targets(model_type, content, message):
    dataset = load_dataset([("s3://b/x.csv", content)], SMALL_SCHEMA, None)
    with pytest.raises(LearningError, match=re.escape(message)):
        train_model(model_type, dataset, {}, None)


def test_multiclass_allows_at_most_100_classes():
    schema = DataSchema.from_json(
        _schema([("x", "NUMERIC"), ("kind", "CATEGORICAL")], targetAttributeName="kind")
    )
    rows = "\n".join(f"{index},k{index}" for index in range(101))
    dataset = load_dataset([("s3://b/x.csv", f"x,kind\n{rows}\n".encode())], schema, None)
    with pytest.raises(LearningError, match="101 classes; a MULTICLASS model allows at most 100"):
        train_model("MULTICLASS", dataset, {}, None)


def test_training_needs_a_target_attribute():
    data, schema_json = datasets.make_dataset("iris", include_target=False)
    dataset = load_dataset([("s3://b/x.csv", data)], DataSchema.from_json(schema_json), None)
    with pytest.raises(LearningError, match="targetAttributeName: a training data source needs a target"):
        train_model("MULTICLASS", dataset, {}, None)


def test_text_attributes_drive_predictions(reviews):
    _, data, schema = reviews
    training = load_dataset([("s3://b/r.csv", data)], schema, parse_data_rearrangement(TRAINING))
    holdout = load_dataset([("s3://b/r.csv", data)], schema, parse_data_rearrangement(HOLDOUT))
    model = train_model("BINARY", training, {}, '{"outputs":["lowercase(no_punct(review))"]}')
    assert float(model.evaluate(holdout)["BinaryAUC"]) > 0.95
    default = train_model("BINARY", training, {}, None)
    assert float(default.evaluate(holdout)["BinaryAUC"]) > 0.95


def test_evaluation_needs_the_target_with_both_binary_values(breast_cancer):
    _, _, _, _, model = breast_cancer
    data, schema_json = datasets.make_dataset("breast_cancer", include_target=False)
    without_target = load_dataset([("s3://b/x.csv", data)], DataSchema.from_json(schema_json), None)
    with pytest.raises(LearningError, match="has no attribute 'diagnosis'"):
        model.evaluate(without_target)
    training, _, data, schema = _split("breast_cancer")
    only_benign = Dataset(schema, [record for record in training.records if record[-1] == "0"])
    with pytest.raises(LearningError, match="BinaryAUC needs records of both 0 and 1"):
        model.evaluate(only_benign)


def test_regression_on_raw_large_numbers_reports_divergence(diabetes):
    training = diabetes[0]
    with pytest.raises(LearningError, match=r"Training diverged.*normalize or quantile_bin"):
        train_model("REGRESSION", training, {}, '{"outputs":["ALL_NUMERIC"]}')


# --------------------------------------------------------------------------------------------------
# Recipes


def _size_and_scores(
    dataset: Dataset, data: bytes, schema: DataSchema, recipe: str | None
) -> tuple[int, str]:
    model = train_model("BINARY", dataset, {}, recipe)
    return model.size_in_bytes, model.score_file(data, schema, 0.5).csv_text


def _recipe(*outputs: str, **sections) -> str:
    return json.dumps({**sections, "outputs": list(outputs)})


@pytest.mark.parametrize(
    ("plain", "transformed", "grows"),  # grows: the model gets larger (True), smaller (False), either (None)
    [
        ("review", "lowercase(review)", False),
        ("review", "no_punct(review)", False),
        ("review", "ngram(review, 2)", True),
        ("review", "osb(review, 3)", True),
        ("price", "quantile_bin(price, 10)", True),
        ("price", "normalize(price)", None),
        ("group(channel, device)", "cartesian(channel, device)", None),
    ],
)
def test_each_transformation_changes_the_features(reviews, plain, transformed, grows):
    dataset, data, schema = reviews
    plain_size, plain_scores = _size_and_scores(dataset, data, schema, _recipe(plain))
    size, scores = _size_and_scores(dataset, data, schema, _recipe(transformed))
    assert scores != plain_scores
    if grows is not None:
        assert size > plain_size if grows else size < plain_size


def test_groups_assignments_and_built_in_groups_select_attributes(reviews):
    dataset, _, schema = reviews
    recipe = _recipe(
        "CATEGORIES",
        "price_bins",
        "cartesian(price_bins, channel)",
        "ngram(lowercase(no_punct(ALL_TEXT)), 2)",
        groups={"CATEGORIES": "group_remove(group(ALL_CATEGORICAL, ALL_NUMERIC), price)"},
        assignments={"price_bins": "quantile_bin(price, 4)"},
    )
    validate_recipe(recipe, schema)
    model = train_model("BINARY", dataset, {}, recipe)
    assert float(model.evaluate(dataset)["BinaryAUC"]) > 0.95
    everything = train_model("BINARY", dataset, {}, _recipe("ALL_INPUTS"))
    assert everything.size_in_bytes != model.size_in_bytes


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (_recipe("tfidf(review)"), "unsupported transformation 'tfidf'"),
        (_recipe("liked"), "'liked' is the target attribute"),
        (_recipe("nothing"), "'nothing' is not an attribute, assignment or group"),
        (_recipe("normalize(review)"), "normalize needs NUMERIC input, but 'review' is TEXT"),
        (
            _recipe("quantile_bin(channel, 4)"),
            "quantile_bin needs NUMERIC input, but 'channel' is CATEGORICAL",
        ),
        (_recipe("lowercase(price)"), "lowercase needs TEXT input, but 'price' is NUMERIC"),
        (_recipe("ngram(review, 11)"), "ngram size '11' must be an integer from 1 to 10"),
        (_recipe("osb(review)"), "osb takes 2 argument(s), not 1"),
        (_recipe("quantile_bin(price, many)"), "quantile_bin size 'many'"),
        (_recipe("cartesian(price, channel)"), "'price' is numeric; bin it with quantile_bin first"),
        (_recipe("cartesian(ALL_CATEGORICAL, review)"), "'ALL_CATEGORICAL' stands for 2"),
        (_recipe("ngram(review, 2"), "missing ')'"),
        (_recipe("review)"), "unexpected ')'"),
        (_recipe(), "outputs []: must be a non-empty list"),
        (json.dumps({"outputs": ["review"], "steps": []}), "['steps']: unknown keys"),
        (_recipe("A", groups={"A": "group(B)", "B": "group(A)"}), "'A': defined in terms of itself"),
        (_recipe("channel", groups={"price": "group(channel)"}), "'price': already names an attribute"),
        ("not json", "Recipe: not valid JSON"),
    ],
)
def test_invalid_recipes_are_rejected_naming_the_problem(reviews, recipe, message):
    schema = reviews[2]
    with pytest.raises(LearningError, match=re.escape(message)):
        validate_recipe(recipe, schema)


def test_recipe_cannot_use_row_id_or_excluded_attributes():
    schema = DataSchema.from_json(
        _schema(
            [("id", "CATEGORICAL"), ("a", "NUMERIC"), ("b", "NUMERIC"), ("y", "BINARY")],
            rowId="id",
            targetAttributeName="y",
            excludedAttributeNames=["b"],
        )
    )
    with pytest.raises(LearningError, match="'id' is the rowId"):
        validate_recipe(_recipe("id"), schema)
    with pytest.raises(LearningError, match="'b' is excluded by the DataSchema"):
        validate_recipe(_recipe("normalize(b)"), schema)
    validate_recipe(_recipe("ALL_NUMERIC"), schema)
    validate_recipe(None, schema)


# --------------------------------------------------------------------------------------------------
# Scoring


def test_binary_scores_have_true_label_first_and_one_line_per_record(breast_cancer):
    _, _, data, schema, model = breast_cancer
    scored = model.score_file(data, schema, 0.5)
    lines = scored.csv_text.split("\n")
    assert lines[0] == "trueLabel,bestAnswer,score"
    assert lines[-1] == ""  # the text ends with a newline
    assert len(lines) - 2 == scored.total_record_count == 569
    assert scored.invalid_record_count == 0
    for line in lines[1:-1]:
        true_label, best_answer, score = line.split(",")
        assert true_label in ("0", "1")
        assert JAVA_NUMBER.fullmatch(score)
        assert best_answer == ("1" if float(score) >= 0.5 else "0")


def test_score_threshold_decides_best_answer(breast_cancer):
    _, _, data, schema, model = breast_cancer

    def best_answers(threshold: float) -> list[str]:
        return [row[1] for row in _rows(model.score_file(data, schema, threshold).csv_text)[1:]]

    assert set(best_answers(0.0)) == {"1"}
    assert set(best_answers(1.01)) == {"0"}
    assert best_answers(0.9).count("1") < best_answers(0.5).count("1") < best_answers(0.1).count("1")


def test_malformed_record_gives_a_blank_line_and_counts_as_invalid(breast_cancer):
    _, _, data, schema, model = breast_cancer
    header, first, second, *_ = data.decode().splitlines()
    content = "\n".join([header, first, "1.0,2.0", second, ""]).encode()
    _, first_score_line, second_score_line, *_ = model.score_file(data, schema, 0.5).csv_text.split("\n")
    scored = model.score_file(content, schema, 0.5)
    lines = scored.csv_text.split("\n")
    assert lines[2] == ""
    assert lines[1] == first_score_line
    assert lines[3] == second_score_line
    assert len(lines) == 5
    assert (scored.total_record_count, scored.invalid_record_count) == (3, 1)


def test_input_without_target_has_no_true_label_and_row_id_leads(breast_cancer):
    _, _, _, _, model = breast_cancer
    data, schema_json = datasets.make_dataset("breast_cancer", include_target=False, row_id=True)
    scored = model.score_file(data, DataSchema.from_json(schema_json), 0.5)
    rows = _rows(scored.csv_text)
    assert rows[0] == ["row_id", "bestAnswer", "score"]
    assert [row[0] for row in rows[1:4]] == ["1", "2", "3"]


def test_row_id_comes_before_true_label():
    training, _, data, schema = _split("iris", row_id=True)
    model = train_model("MULTICLASS", training, {}, None)
    rows = _rows(model.score_file(data, schema, 0.5).csv_text)
    assert rows[0] == ["row_id", "trueLabel", "setosa", "versicolor", "virginica"]
    assert rows[1][:2] == ["1", "setosa"]


def test_multiclass_scores_one_column_per_class_summing_to_one(iris):
    _, _, data, schema, model = iris
    rows = _rows(model.score_file(data, schema, 0.5).csv_text)
    assert rows[0] == ["trueLabel", "setosa", "versicolor", "virginica"]
    for row in rows[1:]:
        assert all(JAVA_NUMBER.fullmatch(value) for value in row[1:])
        assert sum(float(value) for value in row[1:]) == pytest.approx(1.0, abs=1e-5)
    best = [rows[0][1:][int(np.argmax([float(v) for v in row[1:]]))] for row in rows[1:]]
    accuracy = np.mean([label == row[0] for label, row in zip(best, rows[1:], strict=True)])
    assert accuracy > 0.9


def test_regression_scores_with_true_label_in_java_format(diabetes):
    _, _, data, schema, model = diabetes
    rows = _rows(model.score_file(data, schema, 0.5).csv_text)
    assert rows[0] == ["trueLabel", "score"]
    assert rows[1][0] == "1.51E2"  # the first record's progression is 151
    assert all(JAVA_NUMBER.fullmatch(row[1]) for row in rows[1:])


def test_true_label_is_normalised_and_blank_when_unreadable(reviews):
    dataset, _, schema = reviews
    model = train_model("BINARY", dataset, {}, None)
    content = b'review,channel,device,price,liked\n"great",web,phone,10,Yes\n"awful",web,phone,10,F\n"ok",web,phone,,?\n'
    rows = _rows(model.score_file(content, schema, 0.5).csv_text)
    assert [row[0] for row in rows[1:]] == ["1", "0", ""]


def test_attributes_missing_from_the_input_are_scored_as_missing(reviews):
    dataset, _, _ = reviews
    model = train_model("BINARY", dataset, {}, None)
    only_text = DataSchema.from_json(_schema([("review", "TEXT")]))
    rows = _rows(model.score_file(b"review\nloved it\nhated it\n", only_text, 0.5).csv_text)
    assert rows[0] == ["bestAnswer", "score"]
    assert float(rows[1][1]) > float(rows[2][1])


def test_scoring_a_file_whose_header_does_not_fit_the_schema_fails(breast_cancer):
    _, _, _, schema, model = breast_cancer
    with pytest.raises(LearningError, match="header has 2 columns but the DataSchema has 31 attributes"):
        model.score_file(b"a,b\n1,2\n", schema, 0.5)


def test_empty_input_file_gives_only_the_header(breast_cancer):
    _, _, _, schema, model = breast_cancer
    scored = model.score_file(b"", schema, 0.5)
    assert scored.csv_text == "trueLabel,bestAnswer,score\n"
    assert (scored.total_record_count, scored.invalid_record_count) == (0, 0)
