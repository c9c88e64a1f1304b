"""Real-time endpoints from the provider: deploy a model, predict one record, take the endpoint down."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from airflow_ml_provider import CreateRealtimeEndpointOperator, DeleteRealtimeEndpointOperator
from airflow_ml_provider.exceptions import InvalidParameterError, ServiceRejectedError
from airflow_ml_provider.hooks.machine_learning import MachineLearningHook
from airflow_ml_provider.kinds import BATCH_PREDICTION
from amazon_ml_emulator import datasets
from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test
from tests.conftest import wait_for_status
from tests.runtime import context_for, worker_dies

QUICK = {"waiter_delay": 0.05, "waiter_max_attempts": 400}


def breast_cancer_records(count: int) -> list[dict[str, float]]:
    """The first records of the data set the model trained on, as numbers and without the target."""
    csv_bytes, _ = datasets.make_dataset("breast_cancer", include_target=False)
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))[:count]
    return [{name: float(value) for name, value in row.items()} for row in rows]


def run_context():
    return context_for(dag_id="endpoints", task_id="deploy", run_id=f"manual__{uuid.uuid4().hex}")


@pytest.fixture
def hook(emulator):
    return MachineLearningHook()


@pytest.fixture
def model_without_endpoint(hook, binary_model):
    """The session's BINARY model; whatever endpoint a test gives it is deleted afterwards."""
    yield binary_model["ml_model_id"]
    hook.delete_realtime_endpoint(binary_model["ml_model_id"])


def test_an_endpoint_answers_as_the_batch_prediction_does_and_is_deleted(
    hook, model_without_endpoint, submit, emulator
):
    ml_model_id = model_without_endpoint
    created = hook.create_realtime_endpoint(ml_model_id)
    ready = hook.wait_for_realtime_endpoint(ml_model_id, "READY", delay=0.05, max_attempts=400)
    batch_prediction_id = submit()
    assert wait_for_status(lambda: hook.get(BATCH_PREDICTION, batch_prediction_id)) == "COMPLETED"
    rows = list(hook.iter_results(batch_prediction_id))[:3]
    predictions = [hook.predict(ml_model_id, record) for record in breast_cancer_records(3)]
    deleted = hook.delete_realtime_endpoint(ml_model_id)
    gone = hook.wait_for_realtime_endpoint(ml_model_id, "NONE", delay=0.05, max_attempts=10)

    assert created["EndpointStatus"] == "UPDATING"
    assert ready["EndpointStatus"] == "READY"
    assert ready["EndpointUrl"] == emulator.endpoint_url
    for prediction, row in zip(predictions, rows, strict=True):
        assert prediction["predictedLabel"] == row["bestAnswer"]
        assert prediction["predictedScores"][row["bestAnswer"]] == pytest.approx(
            float(row["score"]), rel=1e-6
        )
    assert deleted["EndpointStatus"] == gone["EndpointStatus"] == "NONE"


def test_predict_without_an_endpoint_names_the_model_and_what_to_do(hook, binary_model, emulator):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match="has no READY real-time endpoint") as error:
        hook.predict(binary_model["ml_model_id"], breast_cancer_records(1)[0])
    assert error.value.field == "ml_model_id"
    assert "Predict" not in emulator.call_counts()


def test_predict_at_a_given_url_without_an_endpoint_carries_the_service_message(hook, binary_model, emulator):
    with pytest.raises(ServiceRejectedError, match="PredictorNotMountedException"):
        hook.predict(binary_model["ml_model_id"], {"mean_radius": 1}, predict_endpoint=emulator.endpoint_url)


@pytest.mark.parametrize(
    ("record", "rule"),
    [
        ([1, 2], "must be a dict"),
        ({"mean_radius": [1, 2]}, "values must be strings, numbers, booleans or None"),
        ({"mean_radius": {"a": 1}}, "values must be strings, numbers, booleans or None"),
        ({1: "2"}, "attribute names must be non-empty strings"),
    ],
)
def test_a_record_the_service_cannot_take_is_rejected_before_any_call(hook, record, rule, emulator):
    emulator.reset_call_counts()
    with pytest.raises(InvalidParameterError, match=rule) as error:
        hook.predict("any-model", record)
    assert error.value.field == "record"
    assert emulator.call_counts() == {}


def test_a_retry_of_the_create_task_waits_for_the_endpoint_the_first_try_created(
    model_without_endpoint, emulator
):
    emulator.configure(endpoint_startup_duration=0.5)
    emulator.reset_call_counts()
    first_try = CreateRealtimeEndpointOperator(task_id="deploy", ml_model_id=model_without_endpoint, **QUICK)
    first_try.hook.wait_for_realtime_endpoint = worker_dies
    with pytest.raises(SystemExit):
        first_try.execute(run_context())
    context = run_context()
    endpoint_url = CreateRealtimeEndpointOperator(
        task_id="deploy", ml_model_id=model_without_endpoint, **QUICK
    ).execute(context)

    assert endpoint_url == emulator.endpoint_url
    assert context["ti"].xcoms["endpoint_url"] == endpoint_url
    assert context["ti"].xcoms["ml_model"]["entity_id"] == model_without_endpoint
    assert emulator.call_counts()["CreateRealtimeEndpoint"] == 1


def test_deleting_where_there_is_no_endpoint_succeeds_without_a_delete_call(binary_model, emulator):
    emulator.reset_call_counts()
    DeleteRealtimeEndpointOperator(
        task_id="undeploy", ml_model_id=binary_model["ml_model_id"], **QUICK
    ).execute(run_context())
    assert "DeleteRealtimeEndpoint" not in emulator.call_counts()


def test_an_endpoint_for_a_missing_model_fails_with_the_service_message(emulator):
    with pytest.raises(ServiceRejectedError, match="ResourceNotFoundException"):
        CreateRealtimeEndpointOperator(task_id="deploy", ml_model_id="no-such-model", **QUICK).execute(
            run_context()
        )


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"ml_model_id": "bad id"}, "ml_model_id"),
        ({"waiter_delay": 0}, "waiter_delay"),
        ({"waiter_max_attempts": True}, "waiter_max_attempts"),
    ],
)
def test_endpoint_parameters_are_checked_before_any_call(arguments, field, emulator):
    emulator.reset_call_counts()
    for operator_class in (CreateRealtimeEndpointOperator, DeleteRealtimeEndpointOperator):
        with pytest.raises(InvalidParameterError) as error:
            operator_class(task_id="t", **{"ml_model_id": "model", **QUICK, **arguments}).execute(
                run_context()
            )
        assert error.value.field == field
    assert emulator.call_counts() == {}


DAG_FILE = """
from airflow.providers.common.compat.sdk import DAG, task
from airflow_ml_provider import CreateRealtimeEndpointOperator, DeleteRealtimeEndpointOperator

with DAG(dag_id="realtime_endpoint", schedule=None):
    deploy = CreateRealtimeEndpointOperator(
        task_id="deploy", ml_model_id="{{ dag_run.conf['ml_model_id'] }}", waiter_delay=0.2
    )

    @task
    def predict(endpoint_url: str, dag_run=None) -> dict:
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        conf = dag_run.conf
        return MachineLearningHook().predict(conf["ml_model_id"], conf["record"], predict_endpoint=endpoint_url)

    undeploy = DeleteRealtimeEndpointOperator(
        task_id="undeploy", ml_model_id="{{ dag_run.conf['ml_model_id'] }}", waiter_delay=0.2
    )
    predict(deploy.output) >> undeploy
"""


@pytest.mark.system
def test_a_dag_deploys_predicts_and_undeploys_under_airflow(
    model_without_endpoint, hook, emulator, airflow_template, tmp_path
):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "realtime_endpoint.py").write_text(DAG_FILE)
    record = breast_cancer_records(1)[0]
    result = run_dag_test(
        "realtime_endpoint",
        home=migrated_home(airflow_template, tmp_path / "airflow"),
        dags_folder=dags,
        connection_json=emulator.connection_json(),
        conf={"ml_model_id": model_without_endpoint, "record": record},
    )

    assert result.succeeded, result.output[-4000:]
    assert result.xcoms[("deploy", "endpoint_url")] == emulator.endpoint_url
    prediction = result.xcoms[("predict", "return_value")]
    assert prediction["predictedLabel"] in ("0", "1")
    assert prediction["details"]["PredictiveModelType"] == "BINARY"
    score = prediction["predictedScores"][prediction["predictedLabel"]]
    assert prediction["predictedLabel"] == ("1" if score >= 0.5 else "0")
    assert hook.get_endpoint_info(model_without_endpoint)["EndpointStatus"] == "NONE"
