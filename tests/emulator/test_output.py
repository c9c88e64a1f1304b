"""Batch prediction output in S3 on a real data set: manifest, one gzip CSV per input file, rows and columns."""

from __future__ import annotations

import csv
import gzip
import io
import json

from amazon_ml_emulator import datasets

from .helpers import BUCKET, new_id


def read_result(s3, url):
    bucket, key = url[len("s3://") :].split("/", 1)
    return gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()


def test_batch_prediction_over_several_files_writes_the_documented_layout(ml, s3, pipeline, breast_cancer):
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    lines = csv_bytes.decode().splitlines()
    # One record the model cannot read: too few columns.
    lines[5] = ",".join(lines[5].split(",")[:3])
    parts = datasets.split_files(("\n".join(lines) + "\n").encode(), 3)
    folder = new_id("bc-input")
    input_urls = [pipeline.put(f"{folder}/part-{number}.csv", part) for number, part in enumerate(parts)]
    data_source_id = pipeline.data_source(f"s3://{BUCKET}/{folder}/", schema, compute_statistics=False)
    output_uri = f"s3://{BUCKET}/{new_id('bc-output')}/"
    batch_prediction_id = pipeline.batch_prediction(breast_cancer["ml_model_id"], data_source_id, output_uri)

    done = pipeline.wait_batch_prediction(batch_prediction_id)

    assert done["Status"] == "COMPLETED", done.get("Message")
    manifest_key = f"{output_uri[len(f's3://{BUCKET}/') :]}batch-prediction/{batch_prediction_id}.manifest"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert list(manifest) == input_urls
    for number, input_url in enumerate(input_urls):
        assert manifest[input_url] == (
            f"{output_uri}batch-prediction/result/{batch_prediction_id}-part-{number}.csv.gz"
        )
    results = [read_result(s3, manifest[url]).splitlines() for url in input_urls]
    assert all(rows[0] == "trueLabel,bestAnswer,score" for rows in results)
    assert sum(len(rows) - 1 for rows in results) == len(lines) - 1 == done["TotalRecordCount"]
    assert done["InvalidRecordCount"] == 1
    assert results[0][5] == ""
    scored = [row for rows in results for row in csv.reader(io.StringIO("\n".join(rows[1:]))) if row]
    assert all(row[1] in ("0", "1") for row in scored)
    accuracy = sum(row[0] == row[1] for row in scored) / len(scored)
    assert accuracy > 0.85


def test_input_without_target_gets_no_true_label_and_row_id_is_carried(ml, s3, pipeline, breast_cancer):
    csv_bytes, schema = datasets.make_dataset("breast_cancer", include_target=False, row_id=True)
    location = pipeline.put(f"{new_id('bc-unlabelled')}/records.csv", csv_bytes)
    data_source_id = pipeline.data_source(location, schema, compute_statistics=False)
    batch_prediction_id = pipeline.batch_prediction(breast_cancer["ml_model_id"], data_source_id)

    done = pipeline.wait_batch_prediction(batch_prediction_id)
    manifest_url = f"{done['OutputUri']}batch-prediction/{batch_prediction_id}.manifest"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_url.split("/", 3)[3])["Body"].read())
    rows = read_result(s3, manifest[location]).splitlines()

    assert done["Status"] == "COMPLETED", done.get("Message")
    assert rows[0] == "row_id,bestAnswer,score"
    assert rows[1].startswith("1,")
    assert len(rows) - 1 == done["TotalRecordCount"] == csv_bytes.count(b"\n") - 1


def test_multiclass_and_regression_models_train_evaluate_and_score(ml, s3, pipeline):
    for name in ("iris", "diabetes"):
        csv_bytes, schema = datasets.make_dataset(name)
        location = pipeline.put(f"{new_id(name)}/data.csv", csv_bytes)
        data_source_id = pipeline.data_source(location, schema)
        ml_model_id = pipeline.ml_model(data_source_id, datasets.model_type(name))
        evaluation_id = new_id("ev")
        ml.create_evaluation(
            EvaluationId=evaluation_id, MLModelId=ml_model_id, EvaluationDataSourceId=data_source_id
        )
        batch_prediction_id = pipeline.batch_prediction(ml_model_id, data_source_id)

        done = pipeline.wait_batch_prediction(batch_prediction_id)
        evaluation = ml.get_evaluation(EvaluationId=evaluation_id)
        manifest_key = f"{done['OutputUri']}batch-prediction/{batch_prediction_id}.manifest".split("/", 3)[3]
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
        header = read_result(s3, manifest[location]).splitlines()[0]

        assert done["Status"] == "COMPLETED", done.get("Message")
        assert evaluation["Status"] == "COMPLETED"
        if name == "iris":
            assert header.startswith("trueLabel,")
            assert float(evaluation["PerformanceMetrics"]["Properties"]["MulticlassAvgFScore"]) > 0.8
        else:
            assert header == "trueLabel,score"
            assert float(evaluation["PerformanceMetrics"]["Properties"]["RegressionRMSE"]) > 0
