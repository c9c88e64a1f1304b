"""Train on a Redshift table, gate on the evaluation's AUC, score an RDS table and deploy a real-time endpoint.

Every object carries the same cost-allocation tags. The database credentials are the login and password
of the Airflow connections ``redshift_default`` and ``rds_default``; nothing in this file holds them.
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_ml_provider import (
    BatchPredictionSensor,
    CreateBatchPredictionOperator,
    CreateDataSourceFromRDSOperator,
    CreateDataSourceFromRedshiftOperator,
    CreateEvaluationOperator,
    CreateMLModelOperator,
    CreateRealtimeEndpointOperator,
    EvaluationSensor,
)

BUCKET = os.environ.get("EXAMPLE_BUCKET", "s3://my-bucket")
WAIT_DEFERRED = {"wait_for_completion": True, "deferrable": True, "waiter_delay": 2}
TAGS = {"project": "breast-cancer-screening", "cost-center": "ml-research"}
REDSHIFT = {
    "cluster_identifier": "{{ params.cluster_identifier }}",
    "database_name": "{{ params.database_name }}",
    "s3_staging_location": "{{ params.staging_uri }}",
    "role_arn": "{{ params.role_arn }}",
    "data_schema_uri": "{{ params.schema_uri }}",
}


def split(complement: bool = False) -> dict:
    """70 % of the history to train on, the other 30 % (``complement``) to evaluate on."""
    splitting = {"percentBegin": 0, "percentEnd": 70, "strategy": "random", "randomSeed": "airflow"}
    return {"splitting": {**splitting, "complement": complement}}


with DAG(
    dag_id="example_database_pipeline",
    schedule=None,
    catchup=False,
    tags=["example", "amazon-ml"],
    params={
        "cluster_identifier": Param("analytics", type="string"),
        "instance_identifier": Param("orders-db", type="string"),
        "database_name": Param("warehouse", type="string"),
        "staging_uri": Param(f"{BUCKET}/staging/", type="string"),
        "schema_uri": Param(f"{BUCKET}/breast_cancer/schema.json", type="string"),
        "output_uri": Param(f"{BUCKET}/database-predictions/", type="string"),
        "role_arn": Param("arn:aws:iam::123456789012:role/AmazonMLRole", type="string"),
        "subnet_id": Param("subnet-0abc", type="string"),
        "min_auc": Param(0.9, type="number"),
        # One patient to ask the real-time endpoint about; attributes left out count as missing.
        "record": Param({}, type="object"),
    },
    default_args={"retries": 2},
):
    training_data = CreateDataSourceFromRedshiftOperator(
        task_id="create_training_data_source",
        select_sql_query="SELECT * FROM patients",
        data_rearrangement=split(),
        compute_statistics=True,
        tags=TAGS,
        **REDSHIFT,
        **WAIT_DEFERRED,
    )
    evaluation_data = CreateDataSourceFromRedshiftOperator(
        task_id="create_evaluation_data_source",
        select_sql_query="SELECT * FROM patients",
        data_rearrangement=split(complement=True),
        tags=TAGS,
        **REDSHIFT,
        **WAIT_DEFERRED,
    )
    model = CreateMLModelOperator(
        task_id="train_model",
        ml_model_type="BINARY",
        training_data_source_id=training_data.output,
        tags=TAGS,
        **WAIT_DEFERRED,
    )
    evaluation = CreateEvaluationOperator(
        task_id="evaluate_model",
        ml_model_id=model.output,
        evaluation_data_source_id=evaluation_data.output,
        tags=TAGS,
    )
    auc = EvaluationSensor(
        task_id="wait_for_evaluation", evaluation_id=evaluation.output, deferrable=True, poke_interval=2
    )

    @task.short_circuit
    def good_enough(auc: float, params: dict) -> bool:
        """Score and deploy only a model whose AUC clears the bar."""
        return auc >= params["min_auc"]

    new_patients = CreateDataSourceFromRDSOperator(
        task_id="create_new_patients_data_source",
        instance_identifier="{{ params.instance_identifier }}",
        database_name="{{ params.database_name }}",
        select_sql_query="sql/new_patients.sql",
        s3_staging_location="{{ params.staging_uri }}",
        role_arn="{{ params.role_arn }}",
        resource_role="DataPipelineDefaultResourceRole",
        service_role="DataPipelineDefaultRole",
        subnet_id="{{ params.subnet_id }}",
        security_group_ids=["sg-0abc"],
        data_schema_uri="{{ params.schema_uri }}",
        tags=TAGS,
        **WAIT_DEFERRED,
    )
    scoring = CreateBatchPredictionOperator(
        task_id="create_batch_prediction",
        ml_model_id=model.output,
        data_source_id=new_patients.output,
        output_uri="{{ params.output_uri }}",
        tags=TAGS,
    )
    BatchPredictionSensor(
        task_id="wait_for_batch_prediction",
        batch_prediction_id=scoring.output,
        deferrable=True,
        poke_interval=2,
    )
    endpoint = CreateRealtimeEndpointOperator(
        task_id="deploy_model", ml_model_id=model.output, waiter_delay=2
    )

    @task
    def predict_one_patient(endpoint_url: str, ml_model_id: str, params: dict) -> dict:
        """Ask the endpoint about one patient, as an application would."""
        from airflow_ml_provider.hooks.machine_learning import MachineLearningHook

        prediction = MachineLearningHook().predict(
            ml_model_id, params["record"], predict_endpoint=endpoint_url
        )
        print(f"Model {ml_model_id} predicts {prediction['predictedLabel']}: {prediction['predictedScores']}")
        return prediction

    gate = good_enough(auc.output)
    gate >> [new_patients, endpoint]
    predict_one_patient(endpoint.output, model.output)
