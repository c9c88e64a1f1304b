"""Train an Amazon ML model once per task instance whatever the retries, and set its score threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_ml_provider.exceptions import InvalidParameterError
from airflow_ml_provider.hooks.connection import AWS_TEMPLATE_FIELDS, MachineLearningHookMixin
from airflow_ml_provider.kinds import ML_MODEL
from airflow_ml_provider.operators.base import MachineLearningCreateOperator
from airflow_ml_provider.utils.validation import (
    json_document,
    optional,
    validate_choice,
    validate_entity_id,
    validate_entity_name,
    validate_s3_url,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

ML_MODEL_TYPES = ("BINARY", "MULTICLASS", "REGRESSION")


class CreateMLModelOperator(MachineLearningCreateOperator):
    """
    Train an Amazon ML model on a data source; returns the ``MLModelId``.

    IDs, retries and waiting behave as for every create operator (see
    :class:`~airflow_ml_provider.operators.base.MachineLearningCreateOperator`). The training data
    source must have been created with ``compute_statistics=True``.

    :param ml_model_type: ``BINARY``, ``MULTICLASS`` or ``REGRESSION``. (templated)
    :param training_data_source_id: The data source to train on. (templated)
    :param parameters: Training parameters such as ``{"sgd.maxPasses": "10"}``; values are sent as
        strings. (templated)
    :param recipe: The recipe, as a dict or JSON text; or give ``recipe_uri``. (templated)
    :param recipe_uri: S3 URL of the recipe. (templated)
    :param ml_model_id: The model's ID; derived when not given. (templated)
    :param ml_model_name: A name for the model. (templated)
    """

    kind = ML_MODEL
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "tags",
        "ml_model_id",
        "ml_model_name",
        "ml_model_type",
        "training_data_source_id",
        "parameters",
        "recipe",
        "recipe_uri",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json", "recipe": "json"}
    operator_extra_links = (ML_MODEL.link_class(),)

    def __init__(
        self,
        *,
        ml_model_type: str,
        training_data_source_id: str,
        parameters: dict[str, Any] | None = None,
        recipe: dict[str, Any] | str | None = None,
        recipe_uri: str | None = None,
        ml_model_id: str | None = None,
        ml_model_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(id_given=ml_model_id is not None, **kwargs)
        self.ml_model_id = ml_model_id
        self.ml_model_name = ml_model_name
        self.ml_model_type = ml_model_type
        self.training_data_source_id = training_data_source_id
        self.parameters = parameters
        self.recipe = recipe
        self.recipe_uri = recipe_uri

    def given_id(self) -> str | None:
        return self.ml_model_id

    def build_request(self) -> dict[str, Any]:
        request = {
            **optional(MLModelName=validate_entity_name("ml_model_name", self.ml_model_name)),
            "MLModelType": validate_choice("ml_model_type", self.ml_model_type, ML_MODEL_TYPES),
            "TrainingDataSourceId": validate_entity_id(
                "training_data_source_id", self.training_data_source_id
            ),
        }
        if self.parameters is not None:
            if not isinstance(self.parameters, dict):
                raise InvalidParameterError(
                    "parameters", self.parameters, "must be a dict of names to values"
                )
            request["Parameters"] = {str(key): str(value) for key, value in self.parameters.items()}
        if self.recipe is not None and self.recipe_uri is not None:
            raise InvalidParameterError(
                "recipe or recipe_uri", "both", "give at most one of recipe or recipe_uri"
            )
        if self.recipe is not None:
            request["Recipe"] = json_document("recipe", self.recipe)
        if self.recipe_uri is not None:
            request["RecipeUri"] = validate_s3_url("recipe_uri", self.recipe_uri)
        return request


class UpdateMLModelScoreThresholdOperator(MachineLearningHookMixin, BaseOperator):
    """
    Set a BINARY model's ``ScoreThreshold``: records scoring at or above it are predicted ``1``.

    Returns the model's ``GetMLModel`` response after the update.

    :param ml_model_id: The BINARY model to update. (templated)
    :param score_threshold: A number from 0 to 1. (templated)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; if not set, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates, or a path to a CA bundle.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "ml_model_id", "score_threshold")
    operator_extra_links = (ML_MODEL.link_class(),)
    ui_color = "#f1c68b"

    def __init__(
        self,
        *,
        ml_model_id: str,
        score_threshold: float,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ml_model_id = ml_model_id
        self.score_threshold = score_threshold
        self._set_aws_params(aws_conn_id, region_name, verify, botocore_config)

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_connection()
        ml_model_id = validate_entity_id("ml_model_id", self.ml_model_id)
        try:
            # True would read as 1.0: a flag is no threshold.
            score_threshold = -1.0 if isinstance(self.score_threshold, bool) else float(self.score_threshold)
        except (TypeError, ValueError):
            score_threshold = -1.0
        if not 0.0 <= score_threshold <= 1.0:
            raise InvalidParameterError(
                "score_threshold", self.score_threshold, "must be a number from 0 to 1"
            )
        model = self.hook.get(ML_MODEL, ml_model_id)
        if model.get("MLModelType") != "BINARY":
            raise InvalidParameterError(
                "ml_model_id",
                ml_model_id,
                f"is a {model.get('MLModelType')} model; only BINARY models have a threshold",
            )
        self.hook.update_ml_model(ml_model_id, score_threshold=score_threshold)
        ML_MODEL.link_class.persist(
            context,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            entity_id=ml_model_id,
        )
        return self.hook.get(ML_MODEL, ml_model_id)
