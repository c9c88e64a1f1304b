"""Evaluate an Amazon ML model on a data source, once per task instance whatever the retries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS
from airflow_ml_provider.kinds import EVALUATION
from airflow_ml_provider.operators.base import MachineLearningCreateOperator
from airflow_ml_provider.utils.validation import optional, validate_entity_id, validate_entity_name


class CreateEvaluationOperator(MachineLearningCreateOperator):
    """
    Evaluate an Amazon ML model on held-out data; returns the ``EvaluationId``.

    IDs, retries and waiting behave as for every create operator (see
    :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator`). Wait with
    :class:`~airflow_ml_provider.sensors.evaluation.EvaluationSensor` to get the metric.

    :param ml_model_id: The model to evaluate. (templated)
    :param evaluation_data_source_id: The data source to evaluate on; it must hold the target.
        (templated)
    :param evaluation_id: The evaluation's ID; derived when not given. (templated)
    :param evaluation_name: A name for the evaluation. (templated)
    """

    kind = EVALUATION
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "evaluation_id",
        "evaluation_name",
        "ml_model_id",
        "evaluation_data_source_id",
    )
    operator_extra_links = (EVALUATION.link_class(),)

    def __init__(
        self,
        *,
        ml_model_id: str,
        evaluation_data_source_id: str,
        evaluation_id: str | None = None,
        evaluation_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(id_given=evaluation_id is not None, **kwargs)
        self.evaluation_id = evaluation_id
        self.evaluation_name = evaluation_name
        self.ml_model_id = ml_model_id
        self.evaluation_data_source_id = evaluation_data_source_id

    def given_id(self) -> str | None:
        return self.evaluation_id

    def build_request(self) -> dict[str, Any]:
        return {
            **optional(EvaluationName=validate_entity_name("evaluation_name", self.evaluation_name)),
            "MLModelId": validate_entity_id("ml_model_id", self.ml_model_id),
            "EvaluationDataSourceId": validate_entity_id(
                "evaluation_data_source_id", self.evaluation_data_source_id
            ),
        }
