"""Learning for the local Amazon ML service: plain Python over numpy and scikit-learn, no HTTP, S3 or threads.

``values`` reads attribute values, ``schema`` data schemas and rearrangements, ``data`` a data source's
records, ``recipes`` the features, ``training`` the fit, ``scoring`` batch predictions and evaluations.
"""

from amazon_ml_emulator.learning.data import Dataset, load_dataset
from amazon_ml_emulator.learning.recipes import DEFAULT_RECIPE, validate_recipe
from amazon_ml_emulator.learning.schema import (
    Attribute,
    DataRearrangement,
    DataSchema,
    parse_data_rearrangement,
)
from amazon_ml_emulator.learning.scoring import ScoredFile, TrainedModel
from amazon_ml_emulator.learning.training import (
    reported_training_parameters,
    train_model,
    validate_model_parameters,
)
from amazon_ml_emulator.learning.values import LearningError, format_number, parse_binary, parse_numeric

__all__ = [
    "DEFAULT_RECIPE",
    "Attribute",
    "DataRearrangement",
    "DataSchema",
    "Dataset",
    "LearningError",
    "ScoredFile",
    "TrainedModel",
    "format_number",
    "load_dataset",
    "parse_binary",
    "parse_data_rearrangement",
    "parse_numeric",
    "reported_training_parameters",
    "train_model",
    "validate_model_parameters",
    "validate_recipe",
]
