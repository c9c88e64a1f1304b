"""The values Amazon ML reads from data: attribute and model types, limits, BINARY and NUMERIC parsing."""

from __future__ import annotations

import math
import re
from typing import Any

ATTRIBUTE_TYPES = ("BINARY", "CATEGORICAL", "NUMERIC", "TEXT")
MODEL_TYPES = ("BINARY", "MULTICLASS", "REGRESSION")
# The model type fixes the attribute type its target must have.
TARGET_TYPE_BY_MODEL_TYPE = {"BINARY": "BINARY", "MULTICLASS": "CATEGORICAL", "REGRESSION": "NUMERIC"}

MAX_ATTRIBUTES = 1000
MAX_OBSERVATION_BYTES = 100 * 1024
MAX_CLASSES = 100

BINARY_FALSE_VALUES = frozenset({"0", "n", "no", "f", "false"})
BINARY_TRUE_VALUES = frozenset({"1", "y", "yes", "t", "true"})

NUMBER_PATTERN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class LearningError(ValueError):
    """Input the service rejects; the message names the field or attribute, the value and the rule."""


def format_number(value: float) -> str:
    """
    Write a number the way Amazon ML writes scores: Java style, up to 7 significant digits.

    ``0.996733`` gives ``9.96733E-1``, ``1.0`` gives ``1E0``, ``-15.26385`` gives ``-1.526385E1``.
    """
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0E0"
    mantissa, exponent = f"{value:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{int(exponent)}"


def parse_binary(value: str) -> int | None:
    """
    Read a BINARY value: 0/n/no/f/false or 1/y/yes/t/true, case-insensitive.

    Returns None for a missing (empty) or unrecognised value.
    """
    text = value.strip().lower()
    if text in BINARY_TRUE_VALUES:
        return 1
    if text in BINARY_FALSE_VALUES:
        return 0
    return None


def parse_numeric(value: str) -> float | None:
    """Read a NUMERIC value; None when it is missing, not a plain decimal number, or not finite."""
    text = value.strip()
    if not NUMBER_PATTERN.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def target_value(model_type: str, value: str) -> Any:
    """The target as the model learns it, or None when missing or invalid for the model type."""
    if model_type == "BINARY":
        return parse_binary(value)
    if model_type == "REGRESSION":
        return parse_numeric(value)
    return value.strip() or None
