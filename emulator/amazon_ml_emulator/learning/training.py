"""Training: the SGD parameters, checked, and the fit of a model to a data source."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier, SGDRegressor

from amazon_ml_emulator.learning.data import Dataset
from amazon_ml_emulator.learning.recipes import FeatureEncoder, compile_recipe, feature_table
from amazon_ml_emulator.learning.scoring import TrainedModel
from amazon_ml_emulator.learning.values import (
    MAX_CLASSES,
    MODEL_TYPES,
    TARGET_TYPE_BY_MODEL_TYPE,
    LearningError,
    parse_numeric,
    target_value,
)

PARAMETER_MAX_PASSES = "sgd.maxPasses"
PARAMETER_SHUFFLE_TYPE = "sgd.shuffleType"
PARAMETER_L1_REGULARIZATION_AMOUNT = "sgd.l1RegularizationAmount"
PARAMETER_L2_REGULARIZATION_AMOUNT = "sgd.l2RegularizationAmount"
PARAMETER_MAX_MODEL_SIZE_IN_BYTES = "sgd.maxMLModelSizeInBytes"
TRAINING_PARAMETERS = (
    PARAMETER_MAX_PASSES,
    PARAMETER_SHUFFLE_TYPE,
    PARAMETER_L1_REGULARIZATION_AMOUNT,
    PARAMETER_L2_REGULARIZATION_AMOUNT,
    PARAMETER_MAX_MODEL_SIZE_IN_BYTES,
)
DEFAULT_MAX_PASSES = 10
# The API reference gives "none" as the default; the Developer Guide's console defaults to "auto".
DEFAULT_SHUFFLE_TYPE = "none"
# The API reference says no regularization by default; the Developer Guide's console default is a
# mild L2 of 1E-6. We follow the console.
# Written as the service writes numbers in TrainingParameters (Java's Double.toString).
DEFAULT_L2_REGULARIZATION_AMOUNT_TEXT = "1.0E-6"
DEFAULT_L2_REGULARIZATION_AMOUNT = float(DEFAULT_L2_REGULARIZATION_AMOUNT_TEXT)
DEFAULT_MAX_MODEL_SIZE_IN_BYTES = 33_554_432
MIN_MAX_MODEL_SIZE_IN_BYTES = 100_000
MAX_MAX_MODEL_SIZE_IN_BYTES = 2_147_483_648
MAX_MAX_PASSES = 10_000
# What a model trains with for each parameter it was not given, as GetMLModel reports it.
DEFAULT_TRAINING_PARAMETERS = {
    PARAMETER_MAX_PASSES: str(DEFAULT_MAX_PASSES),
    PARAMETER_SHUFFLE_TYPE: DEFAULT_SHUFFLE_TYPE,
    PARAMETER_L2_REGULARIZATION_AMOUNT: DEFAULT_L2_REGULARIZATION_AMOUNT_TEXT,
    PARAMETER_MAX_MODEL_SIZE_IN_BYTES: str(DEFAULT_MAX_MODEL_SIZE_IN_BYTES),
}

# Initial SGD learning rates, decaying with the number of updates. scikit-learn's "optimal" schedule
# with Amazon ML's tiny regularization amounts drives scores to exactly 0 or 1; these keep them graded.
BINARY_LEARNING_RATE = 0.1
REGRESSION_LEARNING_RATE = 0.01

# A REGRESSION model whose training RMSE exceeds this many target standard deviations has diverged.
MAX_STANDARDIZED_TRAINING_RMSE = 10.0

# One fixed seed: the same data, parameters and recipe always give the same model.
RANDOM_STATE = 0


@dataclass(frozen=True)
class _TrainingParameters:
    max_passes: int = DEFAULT_MAX_PASSES
    shuffle: bool = DEFAULT_SHUFFLE_TYPE == "auto"
    penalty: str | None = "l2"
    regularization_amount: float = DEFAULT_L2_REGULARIZATION_AMOUNT
    max_model_size_in_bytes: int = DEFAULT_MAX_MODEL_SIZE_IN_BYTES


def _parse_parameters(model_type: str, parameters: dict[str, str] | None) -> _TrainingParameters:
    if model_type not in MODEL_TYPES:
        raise LearningError(f"MLModelType {model_type!r}: must be one of {', '.join(MODEL_TYPES)}")
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(TRAINING_PARAMETERS))
    if unknown:
        raise LearningError(
            f"Parameters {unknown}: unknown training parameter(s); allowed are {', '.join(TRAINING_PARAMETERS)}"
        )
    values = {key: str(value).strip() for key, value in parameters.items()}
    result: dict[str, Any] = {}
    if PARAMETER_MAX_PASSES in values:
        result["max_passes"] = _integer_parameter(values, PARAMETER_MAX_PASSES, 1, MAX_MAX_PASSES)
    if PARAMETER_MAX_MODEL_SIZE_IN_BYTES in values:
        result["max_model_size_in_bytes"] = _integer_parameter(
            values,
            PARAMETER_MAX_MODEL_SIZE_IN_BYTES,
            MIN_MAX_MODEL_SIZE_IN_BYTES,
            MAX_MAX_MODEL_SIZE_IN_BYTES,
        )
    if PARAMETER_SHUFFLE_TYPE in values:
        shuffle_type = values[PARAMETER_SHUFFLE_TYPE].lower()
        if shuffle_type not in ("auto", "none"):
            raise LearningError(
                f"Parameters {PARAMETER_SHUFFLE_TYPE} {values[PARAMETER_SHUFFLE_TYPE]!r}: must be 'auto' or 'none'"
            )
        result["shuffle"] = shuffle_type == "auto"
    if PARAMETER_L1_REGULARIZATION_AMOUNT in values and PARAMETER_L2_REGULARIZATION_AMOUNT in values:
        raise LearningError(
            f"Parameters {PARAMETER_L1_REGULARIZATION_AMOUNT} and {PARAMETER_L2_REGULARIZATION_AMOUNT}: "
            "only one of them may be given"
        )
    for key, penalty in (
        (PARAMETER_L1_REGULARIZATION_AMOUNT, "l1"),
        (PARAMETER_L2_REGULARIZATION_AMOUNT, "l2"),
    ):
        if key in values:
            amount = parse_numeric(values[key])
            if amount is None or amount < 0:
                raise LearningError(f"Parameters {key} {values[key]!r}: must be a number from 0 up")
            result["penalty"] = penalty if amount > 0 else None
            result["regularization_amount"] = amount
    return _TrainingParameters(**result)


def _integer_parameter(values: dict[str, str], key: str, low: int, high: int) -> int:
    text = values[key]
    if not re.fullmatch(r"[+-]?\d+", text) or not low <= int(text) <= high:
        raise LearningError(f"Parameters {key} {text!r}: must be an integer from {low} to {high}")
    return int(text)


def reported_training_parameters(parameters: dict[str, str]) -> dict[str, str]:
    """The TrainingParameters of a model: those given, and for the others the defaults it trains with."""
    defaults = {"algorithm": "sgd", **DEFAULT_TRAINING_PARAMETERS}
    if PARAMETER_L1_REGULARIZATION_AMOUNT in parameters:
        # L1 and L2 exclude each other: a model given L1 trains without the default L2.
        del defaults[PARAMETER_L2_REGULARIZATION_AMOUNT]
    return {**defaults, **parameters}


def validate_model_parameters(model_type: str, parameters: dict[str, str]) -> None:
    """Check an MLModelType and its training Parameters map."""
    _parse_parameters(model_type, parameters)


def train_model(
    model_type: str, dataset: Dataset, parameters: dict[str, str], recipe: str | None
) -> TrainedModel:
    """
    Train a model the way Amazon ML does: a linear model fitted by stochastic gradient descent.

    BINARY uses logistic loss (``SGDClassifier``), REGRESSION squared loss (``SGDRegressor``, fitted on
    a standardized target), MULTICLASS multinomial logistic regression fitted by SAGA, a stochastic
    gradient method, since ``SGDClassifier`` is one-vs-rest; SAGA draws records at random, so
    ``sgd.shuffleType`` does not apply to MULTICLASS. ``sgd.maxPasses`` is the number of passes.
    Records whose target is missing or invalid are skipped.

    :param model_type: BINARY, MULTICLASS or REGRESSION.
    :param dataset: the training data source's records.
    :param parameters: the CreateMLModel Parameters map.
    :param recipe: the recipe JSON; None for the default recipe.
    """
    settings = _parse_parameters(model_type, parameters)
    schema = dataset.schema
    target = schema.target_attribute_name
    if target is None:
        raise LearningError("DataSchema targetAttributeName: a training data source needs a target attribute")
    target_type = schema.attribute(target).type
    if target_type != TARGET_TYPE_BY_MODEL_TYPE[model_type]:
        raise LearningError(
            f"DataSchema targetAttributeName {target!r} is {target_type}: "
            f"a {model_type} model needs a {TARGET_TYPE_BY_MODEL_TYPE[model_type]} target"
        )
    terms = compile_recipe(recipe, schema)

    target_index = schema.attribute_names.index(target)
    labelled = [
        (record, label)
        for record in dataset.records
        if (label := target_value(model_type, record[target_index])) is not None
    ]
    if not labelled:
        raise LearningError(
            f"Training data: no record has a valid value of target attribute {target!r} ({target_type})"
        )
    records = [record for record, _ in labelled]
    labels = [label for _, label in labelled]

    class_labels: list[str] = []
    if model_type == "BINARY":
        class_labels = ["0", "1"]
        if len(set(labels)) < 2:
            raise LearningError(
                f"Training data: target attribute {target!r} has only the value {labels[0]}; "
                "a BINARY model needs records of both 0 and 1"
            )
    elif model_type == "MULTICLASS":
        class_labels = sorted(set(labels))
        if len(class_labels) < 2:
            raise LearningError(
                f"Training data: target attribute {target!r} has only the class {class_labels[0]!r}; "
                "a MULTICLASS model needs at least 2 classes"
            )
        if len(class_labels) > MAX_CLASSES:
            raise LearningError(
                f"Training data: target attribute {target!r} has {len(class_labels)} classes; "
                f"a MULTICLASS model allows at most {MAX_CLASSES}"
            )

    encoder = FeatureEncoder(terms)
    table = feature_table(schema, records, encoder.attribute_types)
    features = encoder.fit_transform(table, len(records))
    estimator, target_mean, target_scale = _fit(model_type, settings, features, labels, class_labels)

    output_count = 1 if model_type != "MULTICLASS" else len(class_labels)
    size_in_bytes = 8 * (encoder.width + 1) * output_count + encoder.state_size() + 16
    if size_in_bytes > settings.max_model_size_in_bytes:
        raise LearningError(
            f"Parameters {PARAMETER_MAX_MODEL_SIZE_IN_BYTES} {settings.max_model_size_in_bytes}: the model "
            f"needs {size_in_bytes} bytes ({encoder.width} features); allow more or use a recipe with fewer"
        )
    return TrainedModel(
        model_type=model_type,
        size_in_bytes=size_in_bytes,
        class_labels=class_labels,
        target_attribute_name=target,
        encoder=encoder,
        estimator=estimator,
        target_mean=target_mean,
        target_scale=target_scale,
    )


def _fit(
    model_type: str,
    settings: _TrainingParameters,
    features: sparse.csr_matrix,
    labels: list[Any],
    class_labels: list[str],
) -> tuple[Any, float, float]:
    alpha = settings.regularization_amount if settings.penalty else 0.0
    # The service's online SGD, as each model type's estimator runs it.
    sgd = {
        "penalty": settings.penalty,
        "alpha": alpha,
        "max_iter": settings.max_passes,
        "tol": None,
        "shuffle": settings.shuffle,
        "random_state": RANDOM_STATE,
        "learning_rate": "invscaling",
    }
    target_mean, target_scale = 0.0, 1.0
    estimator: Any
    if model_type == "BINARY":
        estimator = SGDClassifier(loss="log_loss", eta0=BINARY_LEARNING_RATE, **sgd)
        target = np.asarray(labels, dtype=int)
    elif model_type == "REGRESSION":
        target = np.asarray(labels, dtype=float)
        target_mean = float(target.mean())
        target_scale = float(target.std()) or 1.0
        target = (target - target_mean) / target_scale
        estimator = SGDRegressor(loss="squared_error", eta0=REGRESSION_LEARNING_RATE, **sgd)
    else:
        inverse_strength = (
            1.0 / (settings.regularization_amount * features.shape[0]) if settings.penalty else math.inf
        )
        estimator = LogisticRegression(
            solver="saga",
            max_iter=settings.max_passes,
            random_state=RANDOM_STATE,
            **_logistic_penalty(settings.penalty, inverse_strength),
        )
        target = np.asarray([class_labels.index(label) for label in labels])
    with warnings.catch_warnings():
        # A fixed number of passes is what Amazon ML runs; not converging within them is expected.
        warnings.simplefilter("ignore", ConvergenceWarning)
        with np.errstate(all="ignore"):
            try:
                estimator.fit(features, target)
            except ValueError as error:
                # scikit-learn's SGD stops with a ValueError when its weights overflow.
                if "overflow" not in str(error):
                    raise
                raise LearningError(
                    "Training diverged: the model's weights overflowed; normalize or quantile_bin the "
                    "NUMERIC attributes in the recipe"
                ) from None
    diverged = not np.all(np.isfinite(estimator.coef_)) or not np.all(np.isfinite(estimator.intercept_))
    if model_type == "REGRESSION" and not diverged:
        # Squared loss on large raw numbers can blow up without overflowing; predicting the mean scores
        # 1 on the standardized target, so far above that the steps overshot.
        with np.errstate(all="ignore"):
            training_rmse = float(np.sqrt(np.mean((estimator.predict(features) - target) ** 2)))
        diverged = not training_rmse <= MAX_STANDARDIZED_TRAINING_RMSE
    if diverged:
        raise LearningError(
            "Training diverged: SGD steps overshot on large raw numbers; normalize or quantile_bin the "
            "NUMERIC attributes in the recipe"
        )
    return estimator, target_mean, target_scale


def _logistic_penalty(penalty: str | None, inverse_strength: float) -> dict[str, Any]:
    # scikit-learn 1.8 replaced LogisticRegression's penalty with l1_ratio and C=inf for no penalty.
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return {"l1_ratio": 1.0 if penalty == "l1" else 0.0, "C": inverse_strength}
    if penalty is None:
        return {"penalty": None}
    return {"penalty": penalty, "C": inverse_strength}
