"""Data schemas, data loading, recipes, training, scoring and evaluation for the local Amazon ML service.

Plain Python over numpy and scikit-learn: no HTTP, no S3, no threads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier, SGDRegressor
from sklearn.metrics import f1_score, roc_auc_score

ATTRIBUTE_TYPES = ("BINARY", "CATEGORICAL", "NUMERIC", "TEXT")
MODEL_TYPES = ("BINARY", "MULTICLASS", "REGRESSION")
# The model type fixes the attribute type its target must have.
TARGET_TYPE_BY_MODEL_TYPE = {"BINARY": "BINARY", "MULTICLASS": "CATEGORICAL", "REGRESSION": "NUMERIC"}

MAX_ATTRIBUTES = 1000
MAX_OBSERVATION_BYTES = 100 * 1024
MAX_CLASSES = 100

BINARY_FALSE_VALUES = frozenset({"0", "n", "no", "f", "false"})
BINARY_TRUE_VALUES = frozenset({"1", "y", "yes", "t", "true"})

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
DEFAULT_L2_REGULARIZATION_AMOUNT = 1e-6
DEFAULT_MAX_MODEL_SIZE_IN_BYTES = 33_554_432
MIN_MAX_MODEL_SIZE_IN_BYTES = 100_000
MAX_MAX_MODEL_SIZE_IN_BYTES = 2_147_483_648
MAX_MAX_PASSES = 10_000

# Initial SGD learning rates, decaying with the number of updates. scikit-learn's "optimal" schedule
# with Amazon ML's tiny regularization amounts drives scores to exactly 0 or 1; these keep them graded.
BINARY_LEARNING_RATE = 0.1
REGRESSION_LEARNING_RATE = 0.01

# A REGRESSION model whose training RMSE exceeds this many target standard deviations has diverged.
MAX_STANDARDIZED_TRAINING_RMSE = 10.0

# One fixed seed: the same data, parameters and recipe always give the same model.
RANDOM_STATE = 0

# Ranges we accept for recipe arguments (the service's own limits are unverified).
NGRAM_SIZE_RANGE = (1, 10)
OSB_WINDOW_RANGE = (2, 10)
QUANTILE_BIN_COUNT_RANGE = (2, 1000)

# The recipe of a model created without one. Amazon ML suggests a recipe from the data's statistics
# (its exact choices are unverified); we use a fixed one: binary and categorical attributes as they are,
# numbers normalized (zero mean, unit variance), text as lower-cased words stripped of punctuation.
DEFAULT_RECIPE = {
    "groups": {},
    "assignments": {},
    "outputs": ["ALL_BINARY", "ALL_CATEGORICAL", "normalize(ALL_NUMERIC)", "lowercase(no_punct(ALL_TEXT))"],
}

_NUMBER_PATTERN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


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
    if not _NUMBER_PATTERN.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True)
class Attribute:
    """
    One column of a data source.

    :param name: the attribute name, unique within its schema.
    :param type: BINARY, CATEGORICAL, NUMERIC or TEXT.
    """

    name: str
    type: str


@dataclass(frozen=True)
class DataSchema:
    """
    The schema of a CSV data source, as Amazon ML's DataSchema JSON describes it.

    :param target_attribute_name: the attribute a model learns to predict, if any.
    :param row_id: an attribute that identifies each record and is carried into predictions, if any.
    :param data_file_contains_header: whether each data file starts with a header line.
    :param attributes: the columns in file order.
    :param excluded_attribute_names: attributes no model may use as features.
    """

    target_attribute_name: str | None
    row_id: str | None
    data_file_contains_header: bool
    attributes: tuple[Attribute, ...]
    excluded_attribute_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "excluded_attribute_names", tuple(self.excluded_attribute_names))
        if not self.attributes:
            raise LearningError("DataSchema attributes: must hold at least one attribute")
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise LearningError(
                f"DataSchema attributes: {len(self.attributes)} attributes exceed the limit of {MAX_ATTRIBUTES}"
            )
        seen: set[str] = set()
        for attribute in self.attributes:
            if not isinstance(attribute.name, str) or not attribute.name.strip():
                raise LearningError(
                    f"DataSchema attributeName {attribute.name!r}: must be a non-empty string"
                )
            if attribute.name in seen:
                raise LearningError(f"DataSchema attributeName {attribute.name!r}: names must be unique")
            seen.add(attribute.name)
            if attribute.type not in ATTRIBUTE_TYPES:
                raise LearningError(
                    f"DataSchema attributeType {attribute.type!r} of attribute {attribute.name!r}: "
                    f"must be one of {', '.join(ATTRIBUTE_TYPES)}"
                )
        if self.target_attribute_name is not None and self.target_attribute_name not in seen:
            raise LearningError(
                f"DataSchema targetAttributeName {self.target_attribute_name!r}: must name one of the attributes"
            )
        if self.row_id is not None:
            if self.row_id not in seen:
                raise LearningError(f"DataSchema rowId {self.row_id!r}: must name one of the attributes")
            if self.row_id == self.target_attribute_name:
                raise LearningError(f"DataSchema rowId {self.row_id!r}: must not be the target attribute")
        for name in self.excluded_attribute_names:
            if name not in seen:
                raise LearningError(
                    f"DataSchema excludedAttributeNames {name!r}: must name one of the attributes"
                )
            if name == self.target_attribute_name:
                raise LearningError(
                    f"DataSchema excludedAttributeNames {name!r}: the target attribute cannot be excluded"
                )

    @classmethod
    def from_json(cls, text: str) -> DataSchema:
        """
        Parse a DataSchema JSON document.

        Both dialects are read: the Developer Guide's ``targetAttributeName`` / ``attributeName`` /
        ``attributeType`` / ``excludedAttributeNames`` and the API reference's ``targetFieldName`` /
        ``fieldName`` / ``fieldType`` / ``excludedVariableNames`` (with ``variables`` for ``attributes``).
        ``recordAnnotationFieldName`` is read as the rowId; ``recordWeightFieldName`` names an attribute
        that is kept out of the features (record weights are not applied).
        """
        document = _load_json_object(text, "DataSchema")
        version = document.get("version", "1.0")
        if str(version) != "1.0":
            raise LearningError(f"DataSchema version {version!r}: must be '1.0'")
        data_format = document.get("dataFormat", "CSV")
        if not isinstance(data_format, str) or data_format.upper() != "CSV":
            raise LearningError(f"DataSchema dataFormat {data_format!r}: must be 'CSV'")
        header = _parse_bool(
            document.get("dataFileContainsHeader", False), "DataSchema dataFileContainsHeader"
        )

        raw_attributes = _first_present(document, "attributes", "variables")
        if raw_attributes is None:
            raise LearningError("DataSchema attributes: missing")
        if not isinstance(raw_attributes, list):
            raise LearningError(f"DataSchema attributes {raw_attributes!r}: must be a list")
        attributes = []
        for position, raw in enumerate(raw_attributes):
            if not isinstance(raw, dict):
                raise LearningError(f"DataSchema attributes[{position}] {raw!r}: must be an object")
            name = _first_present(raw, "attributeName", "fieldName")
            attribute_type = _first_present(raw, "attributeType", "fieldType")
            if not isinstance(name, str):
                raise LearningError(
                    f"DataSchema attributes[{position}] attributeName {name!r}: must be a string"
                )
            if not isinstance(attribute_type, str):
                raise LearningError(
                    f"DataSchema attributeType {attribute_type!r} of attribute {name!r}: "
                    f"must be one of {', '.join(ATTRIBUTE_TYPES)}"
                )
            attributes.append(Attribute(name, attribute_type.upper()))

        target = _optional_name(document, ("targetAttributeName", "targetFieldName"))
        row_id = _optional_name(document, ("rowId", "recordAnnotationFieldName"))
        excluded = _first_present(document, "excludedAttributeNames", "excludedVariableNames") or []
        if not isinstance(excluded, list) or not all(isinstance(name, str) for name in excluded):
            raise LearningError(f"DataSchema excludedAttributeNames {excluded!r}: must be a list of names")
        weight = _optional_name(document, ("recordWeightFieldName",))
        if weight is not None:
            if weight not in {attribute.name for attribute in attributes}:
                raise LearningError(
                    f"DataSchema recordWeightFieldName {weight!r}: must name one of the attributes"
                )
            if weight not in excluded:
                excluded = [*excluded, weight]
        return cls(
            target_attribute_name=target,
            row_id=row_id,
            data_file_contains_header=header,
            attributes=tuple(attributes),
            excluded_attribute_names=tuple(excluded),
        )

    def to_json(self) -> str:
        """The schema in the Developer Guide's dialect."""
        document: dict[str, Any] = {"version": "1.0"}
        if self.row_id is not None:
            document["rowId"] = self.row_id
        if self.target_attribute_name is not None:
            document["targetAttributeName"] = self.target_attribute_name
        document["dataFormat"] = "CSV"
        document["dataFileContainsHeader"] = self.data_file_contains_header
        document["attributes"] = [
            {"attributeName": attribute.name, "attributeType": attribute.type}
            for attribute in self.attributes
        ]
        document["excludedAttributeNames"] = list(self.excluded_attribute_names)
        return json.dumps(document)

    @property
    def attribute_names(self) -> list[str]:
        """Attribute names in file order."""
        return [attribute.name for attribute in self.attributes]

    def attribute(self, name: str) -> Attribute:
        """The attribute called ``name``; KeyError if there is none."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)

    @property
    def feature_attributes(self) -> list[Attribute]:
        """Attributes a recipe may use: all but the target, the rowId and the excluded ones."""
        reserved = {self.target_attribute_name, self.row_id, *self.excluded_attribute_names}
        return [attribute for attribute in self.attributes if attribute.name not in reserved]


def _load_json_object(text: str | None, what: str) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise LearningError(f"{what}: must be a non-empty JSON object")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise LearningError(f"{what}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise LearningError(f"{what}: must be a JSON object, not {type(document).__name__}")
    return document


def _first_present(document: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in document:
            return document[key]
    return None


def _optional_name(document: dict[str, Any], keys: Sequence[str]) -> str | None:
    values = {key: document[key] for key in keys if document.get(key) not in (None, "")}
    if not values:
        return None
    if len(set(map(str, values.values()))) > 1:
        raise LearningError(
            f"DataSchema {' and '.join(values)}: name different attributes {list(values.values())}"
        )
    key, value = next(iter(values.items()))
    if not isinstance(value, str):
        raise LearningError(f"DataSchema {key} {value!r}: must be an attribute name")
    return value


def _parse_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise LearningError(f"{what} {value!r}: must be true or false")


# --------------------------------------------------------------------------------------------------
# Data rearrangement


@dataclass(frozen=True)
class DataRearrangement:
    """
    Which records of the input a data source keeps.

    :param percent_begin: start of the kept range, 0-100.
    :param percent_end: end of the kept range, 0-100, above percent_begin.
    :param complement: keep the records outside the range instead.
    :param strategy: ``sequential`` (by position) or ``random`` (by a seeded pseudo-random number per record).
    :param random_seed: the seed string of the random strategy.
    """

    percent_begin: float = 0.0
    percent_end: float = 100.0
    complement: bool = False
    strategy: str = "sequential"
    random_seed: str = ""

    def select(self, record_count: int) -> list[int]:
        """Positions of the kept records among ``record_count`` records, in input order."""
        if self.strategy == "random":
            # Amazon ML seeds with the seed string and each record's byte offset; we use the record's
            # position, so each record keeps its number whatever follows it and complements are exact.
            seed = int.from_bytes(hashlib.sha256(self.random_seed.encode("utf-8")).digest()[:8], "big")
            numbers = np.random.default_rng(seed).random(record_count) * 100.0
            inside = (numbers >= self.percent_begin) & (numbers < self.percent_end)
        else:
            positions = np.arange(record_count)
            start = math.floor(record_count * self.percent_begin / 100.0)
            stop = math.floor(record_count * self.percent_end / 100.0)
            inside = (positions >= start) & (positions < stop)
        if self.complement:
            inside = ~inside
        return [int(position) for position in np.flatnonzero(inside)]


def parse_data_rearrangement(text: str | None) -> DataRearrangement | None:
    """
    Parse a DataRearrangement JSON document; None or an empty string means all records.

    The seed is read from ``splitting.randomSeed`` or ``splitting.strategyParams.randomSeed``.
    """
    if text is None or not text.strip():
        return None
    document = _load_json_object(text, "DataRearrangement")
    unknown = set(document) - {"splitting"}
    if unknown:
        raise LearningError(f"DataRearrangement {sorted(unknown)}: unknown keys; only 'splitting' is allowed")
    splitting = document.get("splitting")
    if not isinstance(splitting, dict):
        raise LearningError(f"DataRearrangement splitting {splitting!r}: must be an object")
    allowed = {"percentBegin", "percentEnd", "complement", "strategy", "randomSeed", "strategyParams"}
    unknown = set(splitting) - allowed
    if unknown:
        raise LearningError(
            f"DataRearrangement splitting {sorted(unknown)}: unknown keys; allowed are {sorted(allowed)}"
        )
    begin = _parse_percent(splitting.get("percentBegin", 0), "percentBegin")
    end = _parse_percent(splitting.get("percentEnd", 100), "percentEnd")
    if begin >= end:
        raise LearningError(
            f"DataRearrangement splitting percentBegin {begin:g} and percentEnd {end:g}: "
            "percentBegin must be below percentEnd"
        )
    complement = _parse_bool(splitting.get("complement", False), "DataRearrangement splitting complement")
    strategy = splitting.get("strategy", "sequential")
    if strategy not in ("sequential", "random"):
        raise LearningError(
            f"DataRearrangement splitting strategy {strategy!r}: must be 'sequential' or 'random'"
        )
    strategy_params = splitting.get("strategyParams", {})
    if not isinstance(strategy_params, dict):
        raise LearningError(
            f"DataRearrangement splitting strategyParams {strategy_params!r}: must be an object"
        )
    seed = splitting.get("randomSeed", strategy_params.get("randomSeed", ""))
    if not isinstance(seed, (str, int, float)) or isinstance(seed, bool):
        raise LearningError(f"DataRearrangement splitting randomSeed {seed!r}: must be a string")
    return DataRearrangement(
        percent_begin=begin, percent_end=end, complement=complement, strategy=strategy, random_seed=str(seed)
    )


def _parse_percent(value: Any, key: str) -> float:
    number: float | None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = parse_numeric(value)
    else:
        number = None
    if number is None or not 0 <= number <= 100:
        raise LearningError(f"DataRearrangement splitting {key} {value!r}: must be a number from 0 to 100")
    return number


# --------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class _Record:
    fields: list[str] | None  # None: the record is invalid
    problem: str = ""


def _read_records(content: bytes, schema: DataSchema, source: str) -> Iterator[_Record]:
    """
    Records of one CSV file, the header skipped.

    Blank lines are not records. A record with the wrong number of columns, over 100 KB, or
    broken quoting is invalid. A header whose column count differs from the schema is an error,
    as every record of the file would be read into the wrong attributes; header names are not
    compared, since Amazon ML reads columns by position.
    """
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    expected = len(schema.attributes)
    header_pending = schema.data_file_contains_header
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if header_pending:
                raise LearningError(f"{source}: header line is not valid CSV ({error})") from None
            yield _Record(None, str(error))
            continue
        if not fields:
            continue
        if header_pending:
            header_pending = False
            if len(fields) != expected:
                raise LearningError(
                    f"{source}: header has {len(fields)} columns but the DataSchema has {expected} attributes"
                )
            continue
        if len(fields) != expected:
            yield _Record(None, f"{len(fields)} columns, expected {expected}")
        elif sum(len(value.encode("utf-8")) for value in fields) + len(fields) - 1 > MAX_OBSERVATION_BYTES:
            yield _Record(None, f"observation larger than {MAX_OBSERVATION_BYTES} bytes")
        else:
            yield _Record(fields)


class Dataset:
    """
    The records of a data source, after its rearrangement.

    :param schema: the data source's schema.
    :param records: the valid records, each a list of raw string values in schema attribute order.
    :param invalid_record_count: records of the selected range that could not be read.
    """

    def __init__(self, schema: DataSchema, records: list[list[str]], invalid_record_count: int = 0) -> None:
        self.schema = schema
        self.records = records
        self.invalid_record_count = invalid_record_count

    @property
    def record_count(self) -> int:
        """Number of valid records."""
        return len(self.records)

    def column(self, name: str) -> list[str]:
        """Raw values of one attribute, one per record."""
        index = self.schema.attribute_names.index(name)
        return [record[index] for record in self.records]

    def statistics(self) -> dict[str, Any]:
        """
        A summary of each attribute and of the target, as plain JSON-ready values.

        Every attribute has ``missingCount`` (empty values) and ``invalidCount`` (values its type cannot
        read); NUMERIC adds min/max/mean/median/standardDeviation, BINARY trueCount/falseCount,
        CATEGORICAL distinctCount and mostFrequent, TEXT distinctTokenCount, meanTokenCount and
        mostFrequentTokens. ``target`` gives the target's distribution.
        """
        summaries = []
        for attribute in self.schema.attributes:
            values = self.column(attribute.name)
            summary: dict[str, Any] = {"attributeName": attribute.name, "attributeType": attribute.type}
            present = [value for value in values if value.strip()]
            summary["missingCount"] = len(values) - len(present)
            summary["invalidCount"] = 0
            if attribute.type == "NUMERIC":
                numbers = [number for number in map(parse_numeric, present) if number is not None]
                summary["invalidCount"] = len(present) - len(numbers)
                summary.update(_numeric_summary(numbers))
            elif attribute.type == "BINARY":
                flags = [flag for flag in map(parse_binary, present) if flag is not None]
                summary["invalidCount"] = len(present) - len(flags)
                summary["trueCount"] = sum(flags)
                summary["falseCount"] = len(flags) - sum(flags)
            elif attribute.type == "CATEGORICAL":
                counts = Counter(present)
                summary["distinctCount"] = len(counts)
                summary["mostFrequent"] = [[value, count] for value, count in counts.most_common(10)]
            else:
                token_lists = [value.split() for value in present]
                tokens = Counter(token for token_list in token_lists for token in token_list)
                summary["distinctTokenCount"] = len(tokens)
                summary["meanTokenCount"] = (
                    sum(map(len, token_lists)) / len(token_lists) if token_lists else 0.0
                )
                summary["mostFrequentTokens"] = [[token, count] for token, count in tokens.most_common(10)]
            summaries.append(summary)
        result: dict[str, Any] = {
            "recordCount": self.record_count,
            "invalidRecordCount": self.invalid_record_count,
            "attributes": summaries,
        }
        target = self.schema.target_attribute_name
        if target is not None:
            target_type = self.schema.attribute(target).type
            values = self.column(target)
            target_summary: dict[str, Any] = {"attributeName": target, "attributeType": target_type}
            if target_type == "NUMERIC":
                numbers = [number for number in map(parse_numeric, values) if number is not None]
                target_summary.update(_numeric_summary(numbers))
                valid_count = len(numbers)
            else:
                labels = (
                    [str(flag) for flag in map(parse_binary, values) if flag is not None]
                    if target_type == "BINARY"
                    else [value.strip() for value in values if value.strip()]
                )
                target_summary["distribution"] = dict(sorted(Counter(labels).items()))
                valid_count = len(labels)
            target_summary["missingOrInvalidCount"] = len(values) - valid_count
            result["target"] = target_summary
        return result


def _numeric_summary(numbers: list[float]) -> dict[str, Any]:
    if not numbers:
        return {}
    array = np.asarray(numbers)
    return {
        "min": float(array.min()),
        "max": float(array.max()),
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "standardDeviation": float(array.std()),
    }


def load_dataset(
    files: list[tuple[str, bytes]], schema: DataSchema, rearrangement: DataRearrangement | None
) -> Dataset:
    """
    Read the files of one data source, in order, and apply its rearrangement.

    The rearrangement selects among all records, valid or not, so a split's invalid count refers to
    the records it holds.

    :param files: ``(s3_url, raw CSV bytes)`` pairs in the order the data source lists them.
    :param schema: the data source's schema.
    :param rearrangement: which records to keep; None keeps all.
    """
    records: list[_Record] = []
    for source, content in files:
        records.extend(_read_records(content, schema, source))
    if rearrangement is not None:
        records = [records[position] for position in rearrangement.select(len(records))]
    valid = [record.fields for record in records if record.fields is not None]
    if not valid:
        sources = ", ".join(source for source, _ in files) or "no files"
        raise LearningError(
            f"DataLocationS3 ({sources}): no valid records"
            + (" in the rearranged range" if rearrangement is not None else "")
            + f"; each record needs {len(schema.attributes)} comma-separated columns as the DataSchema lists"
        )
    return Dataset(schema, valid, invalid_record_count=len(records) - len(valid))


# --------------------------------------------------------------------------------------------------
# Recipes: features computed from attributes


class _Term:
    """
    One feature source a recipe output names, compiled against a schema.

    ``kind`` is what ``values`` returns per record: ``numeric`` (float or None), ``text`` (a string)
    or ``tokens`` (a list of strings).
    """

    kind = "numeric"

    def __init__(self, expression: str, inputs: Sequence[_Term] = ()) -> None:
        self.expression = expression
        self.inputs = list(inputs)

    def fit(self, table: dict[str, list[str]]) -> None:
        for term in self.inputs:
            term.fit(table)

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        raise NotImplementedError

    def state_size(self) -> int:
        """Bytes the fitted state adds to the model."""
        return sum(term.state_size() for term in self.inputs)


class _AttributeTerm(_Term):
    def __init__(self, attribute: Attribute) -> None:
        super().__init__(attribute.name)
        self.attribute = attribute
        self.kind = {"NUMERIC": "numeric", "BINARY": "numeric", "CATEGORICAL": "tokens", "TEXT": "text"}[
            attribute.type
        ]

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        column = table[self.attribute.name]
        if self.attribute.type == "NUMERIC":
            return [parse_numeric(value) for value in column]
        if self.attribute.type == "BINARY":
            return [None if (flag := parse_binary(value)) is None else float(flag) for value in column]
        if self.attribute.type == "CATEGORICAL":
            return [[value.strip()] if value.strip() else [] for value in column]
        return list(column)


class _LowercaseTerm(_Term):
    kind = "text"

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        return [value.lower() for value in self.inputs[0].values(table)]


class _NoPunctTerm(_Term):
    # As in Amazon ML, only punctuation that starts or ends a word goes: "pre-process" stays whole.
    kind = "text"

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        return [
            " ".join(word for word in (token.strip(string.punctuation) for token in value.split()) if word)
            for value in self.inputs[0].values(table)
        ]


class _NgramTerm(_Term):
    # Amazon ML's ngram(text, n) yields every word sequence of 1 to n words.
    kind = "tokens"

    def __init__(self, expression: str, source: _Term, size: int) -> None:
        super().__init__(expression, [source])
        self.size = size

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        result = []
        for value in self.inputs[0].values(table):
            words = value.split()
            result.append(
                [
                    " ".join(words[start : start + length])
                    for length in range(1, self.size + 1)
                    for start in range(len(words) - length + 1)
                ]
            )
        return result


class _OsbTerm(_Term):
    # Orthogonal sparse bigrams: each word paired with each of the next window-1 words, one "_" per
    # position apart ("the__fox" skips one word), as the Developer Guide describes.
    kind = "tokens"

    def __init__(self, expression: str, source: _Term, window: int) -> None:
        super().__init__(expression, [source])
        self.window = window

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        result = []
        for value in self.inputs[0].values(table):
            words = value.split()
            result.append(
                [
                    words[start] + "_" * distance + words[start + distance]
                    for start in range(len(words))
                    for distance in range(1, self.window)
                    if start + distance < len(words)
                ]
            )
        return result


class _QuantileBinTerm(_Term):
    kind = "tokens"

    def __init__(self, expression: str, source: _Term, bin_count: int) -> None:
        super().__init__(expression, [source])
        self.bin_count = bin_count
        self.edges = np.empty(0)

    def fit(self, table: dict[str, list[str]]) -> None:
        super().fit(table)
        numbers = [number for number in self.inputs[0].values(table) if number is not None]
        if numbers:
            quantiles = np.linspace(0.0, 1.0, self.bin_count + 1)[1:-1]
            self.edges = np.unique(np.quantile(np.asarray(numbers), quantiles))

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        return [
            [] if number is None else [f"bin{int(np.searchsorted(self.edges, number, side='right'))}"]
            for number in self.inputs[0].values(table)
        ]

    def state_size(self) -> int:
        return super().state_size() + 8 * len(self.edges)


class _NormalizeTerm(_Term):
    kind = "numeric"

    def __init__(self, expression: str, source: _Term) -> None:
        super().__init__(expression, [source])
        self.mean = 0.0
        self.scale = 1.0

    def fit(self, table: dict[str, list[str]]) -> None:
        super().fit(table)
        numbers = [number for number in self.inputs[0].values(table) if number is not None]
        if numbers:
            self.mean = float(np.mean(numbers))
            deviation = float(np.std(numbers))
            self.scale = deviation if deviation > 0 else 1.0

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        return [
            None if number is None else (number - self.mean) / self.scale
            for number in self.inputs[0].values(table)
        ]

    def state_size(self) -> int:
        return super().state_size() + 16


class _CartesianTerm(_Term):
    kind = "tokens"

    def values(self, table: dict[str, list[str]]) -> list[Any]:
        left, right = (_as_tokens(term, term.values(table)) for term in self.inputs)
        return [
            [f"{a}_{b}" for a in first for b in second] for first, second in zip(left, right, strict=True)
        ]


def _as_tokens(term: _Term, values: list[Any]) -> list[list[str]]:
    if term.kind == "tokens":
        return values
    if term.kind == "text":
        return [value.split() for value in values]
    # Only BINARY attributes reach here as numbers: cartesian rejects NUMERIC ones.
    return [[] if value is None else [str(int(value))] for value in values]


@dataclass
class _Node:
    text: str
    name: str
    arguments: list[_Node] | None = None  # None: a bare name or number, not a call

    @property
    def is_call(self) -> bool:
        return self.arguments is not None


_PIECE_PATTERN = re.compile(r"\s*([(),]|[^(),]+)")
_PUNCTUATION_PIECES = frozenset("(),")
_GROUP_FUNCTIONS = ("group", "group_remove")
_TRANSFORMATIONS = ("lowercase", "no_punct", "ngram", "osb", "quantile_bin", "normalize", "cartesian")
BUILT_IN_GROUPS = {
    "ALL_TEXT": "TEXT",
    "ALL_NUMERIC": "NUMERIC",
    "ALL_CATEGORICAL": "CATEGORICAL",
    "ALL_BINARY": "BINARY",
    "ALL_INPUTS": None,
}


def _parse_expression(text: str, where: str) -> _Node:
    if not isinstance(text, str) or not text.strip():
        raise LearningError(f"Recipe {where} {text!r}: must be a non-empty expression")
    pieces = [match.group(1).strip() for match in _PIECE_PATTERN.finditer(text) if match.group(1).strip()]

    def fail(problem: str) -> LearningError:
        return LearningError(f"Recipe {where} {text!r}: {problem}")

    def parse(position: int) -> tuple[_Node, int]:
        if position >= len(pieces):
            raise fail("expression ends too early")
        piece = pieces[position]
        if piece in _PUNCTUATION_PIECES:
            raise fail(f"unexpected {piece!r}")
        if position + 1 < len(pieces) and pieces[position + 1] == "(":
            arguments: list[_Node] = []
            position += 2
            while True:
                argument, position = parse(position)
                arguments.append(argument)
                if position >= len(pieces):
                    raise fail(f"missing ')' after the arguments of {piece!r}")
                if pieces[position] == ")":
                    position += 1
                    break
                if pieces[position] != ",":
                    raise fail(f"expected ',' or ')' but found {pieces[position]!r}")
                position += 1
            rendered = f"{piece}({', '.join(argument.text for argument in arguments)})"
            return _Node(rendered, piece, arguments), position
        return _Node(piece, piece), position + 1

    node, end = parse(0)
    if end != len(pieces):
        raise fail(f"unexpected {pieces[end]!r} after the expression")
    return node


class _RecipeCompiler:
    """Resolves a recipe's groups, assignments and outputs against a schema into feature terms."""

    def __init__(self, document: dict[str, Any], schema: DataSchema) -> None:
        self.schema = schema
        self.features = {attribute.name: attribute for attribute in schema.feature_attributes}
        self.group_texts = self._string_map(document, "groups")
        self.assignment_texts = self._string_map(document, "assignments")
        for name in [*self.group_texts, *self.assignment_texts]:
            if name in schema.attribute_names or name in BUILT_IN_GROUPS:
                raise LearningError(f"Recipe name {name!r}: already names an attribute or a built-in group")
        clash = set(self.group_texts) & set(self.assignment_texts)
        if clash:
            raise LearningError(f"Recipe names {sorted(clash)}: defined both as group and as assignment")
        self.groups: dict[str, list[str]] = {}
        self.assignments: dict[str, list[_Term]] = {}
        self.resolving: list[str] = []

    @staticmethod
    def _string_map(document: dict[str, Any], key: str) -> dict[str, str]:
        value = document.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(name, str) and isinstance(text, str) for name, text in value.items()
        ):
            raise LearningError(f"Recipe {key} {value!r}: must be an object of names to expressions")
        return value

    def compile(self, outputs: list[str]) -> list[_Term]:
        terms = []
        for position, text in enumerate(outputs):
            terms.extend(self.evaluate(_parse_expression(text, f"outputs[{position}]")))
        return terms

    def _enter(self, name: str) -> None:
        if name in self.resolving:
            raise LearningError(
                f"Recipe name {name!r}: defined in terms of itself ({' -> '.join(self.resolving)})"
            )
        self.resolving.append(name)

    def members(self, node: _Node) -> list[str]:
        """The attribute names a group expression stands for."""
        if node.is_call:
            assert node.arguments is not None
            if node.name == "group":
                return _unique(name for argument in node.arguments for name in self.members(argument))
            if node.name == "group_remove":
                if len(node.arguments) < 2:
                    raise LearningError(
                        f"Recipe {node.text!r}: group_remove needs a group and attributes to remove"
                    )
                removed = {name for argument in node.arguments[1:] for name in self.members(argument)}
                return [name for name in self.members(node.arguments[0]) if name not in removed]
            raise LearningError(f"Recipe {node.text!r}: a group is built with group() or group_remove() only")
        name = node.name
        if name in BUILT_IN_GROUPS:
            wanted = BUILT_IN_GROUPS[name]
            return [feature.name for feature in self.features.values() if wanted in (None, feature.type)]
        if name in self.group_texts:
            if name not in self.groups:
                self._enter(name)
                self.groups[name] = self.members(_parse_expression(self.group_texts[name], f"groups.{name}"))
                self.resolving.pop()
            return self.groups[name]
        self._check_attribute(name, node.text)
        return [name]

    def _check_attribute(self, name: str, expression: str) -> None:
        if name in self.features:
            return
        if name == self.schema.target_attribute_name:
            problem = "is the target attribute"
        elif name == self.schema.row_id:
            problem = "is the rowId"
        elif name in self.schema.excluded_attribute_names:
            problem = "is excluded by the DataSchema"
        elif name in self.assignment_texts:
            problem = "is an assignment, not a group"
        else:
            problem = "is not an attribute, assignment or group"
        raise LearningError(f"Recipe {expression!r}: {name!r} {problem}; a recipe uses only input attributes")

    def evaluate(self, node: _Node) -> list[_Term]:
        if not node.is_call:
            name = node.name
            if name in self.assignment_texts:
                if name not in self.assignments:
                    self._enter(name)
                    parsed = _parse_expression(self.assignment_texts[name], f"assignments.{name}")
                    self.assignments[name] = self.evaluate(parsed)
                    self.resolving.pop()
                return self.assignments[name]
            if _NUMBER_PATTERN.fullmatch(name):
                raise LearningError(f"Recipe {node.text!r}: a number is not a feature")
            return [_AttributeTerm(self.features[member]) for member in self.members(node)]
        assert node.arguments is not None
        if node.name in _GROUP_FUNCTIONS:
            return [_AttributeTerm(self.features[member]) for member in self.members(node)]
        if node.name not in _TRANSFORMATIONS:
            raise LearningError(
                f"Recipe {node.text!r}: unsupported transformation {node.name!r}; supported are "
                f"{', '.join(_TRANSFORMATIONS)} and the groups {', '.join(_GROUP_FUNCTIONS)}"
            )
        return getattr(self, f"_{node.name}")(node, node.arguments)

    def _arity(self, node: _Node, arguments: list[_Node], count: int) -> None:
        if len(arguments) != count:
            raise LearningError(
                f"Recipe {node.text!r}: {node.name} takes {count} argument(s), not {len(arguments)}"
            )

    def _integer(self, node: _Node, argument: _Node, bounds: tuple[int, int]) -> int:
        low, high = bounds
        if argument.is_call or not argument.name.isdigit() or not low <= int(argument.name) <= high:
            raise LearningError(
                f"Recipe {node.text!r}: {node.name} size {argument.text!r} must be an integer from {low} to {high}"
            )
        return int(argument.name)

    def _sources(self, node: _Node, argument: _Node, kinds: tuple[str, ...], what: str) -> list[_Term]:
        terms = self.evaluate(argument)
        for term in terms:
            attribute_type = term.attribute.type if isinstance(term, _AttributeTerm) else None
            if term.kind not in kinds or (what == "NUMERIC" and attribute_type == "BINARY"):
                shown = attribute_type or f"the result of {term.expression!r}"
                raise LearningError(
                    f"Recipe {node.text!r}: {node.name} needs {what} input, but {term.expression!r} is {shown}"
                )
        return terms

    def _lowercase(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 1)
        terms = self._sources(node, arguments[0], ("text",), "TEXT")
        return [_LowercaseTerm(f"lowercase({term.expression})", [term]) for term in terms]

    def _no_punct(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 1)
        terms = self._sources(node, arguments[0], ("text",), "TEXT")
        return [_NoPunctTerm(f"no_punct({term.expression})", [term]) for term in terms]

    def _ngram(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 2)
        size = self._integer(node, arguments[1], NGRAM_SIZE_RANGE)
        terms = self._sources(node, arguments[0], ("text",), "TEXT")
        return [_NgramTerm(f"ngram({term.expression}, {size})", term, size) for term in terms]

    def _osb(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 2)
        window = self._integer(node, arguments[1], OSB_WINDOW_RANGE)
        terms = self._sources(node, arguments[0], ("text",), "TEXT")
        return [_OsbTerm(f"osb({term.expression}, {window})", term, window) for term in terms]

    def _quantile_bin(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 2)
        bins = self._integer(node, arguments[1], QUANTILE_BIN_COUNT_RANGE)
        terms = self._sources(node, arguments[0], ("numeric",), "NUMERIC")
        return [_QuantileBinTerm(f"quantile_bin({term.expression}, {bins})", term, bins) for term in terms]

    def _normalize(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 1)
        terms = self._sources(node, arguments[0], ("numeric",), "NUMERIC")
        return [_NormalizeTerm(f"normalize({term.expression})", term) for term in terms]

    def _cartesian(self, node: _Node, arguments: list[_Node]) -> list[_Term]:
        self._arity(node, arguments, 2)
        pair = []
        for argument in arguments:
            terms = self.evaluate(argument)
            if len(terms) != 1:
                raise LearningError(
                    f"Recipe {node.text!r}: cartesian takes single variables, but {argument.text!r} "
                    f"stands for {len(terms)}"
                )
            term = terms[0]
            if term.kind == "numeric" and not (
                isinstance(term, _AttributeTerm) and term.attribute.type == "BINARY"
            ):
                raise LearningError(
                    f"Recipe {node.text!r}: cartesian needs CATEGORICAL, BINARY or TEXT input, but "
                    f"{term.expression!r} is numeric; bin it with quantile_bin first"
                )
            pair.append(term)
        return [_CartesianTerm(f"cartesian({pair[0].expression}, {pair[1].expression})", pair)]


def _unique(names: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _compile_recipe(recipe: str | None, schema: DataSchema) -> list[_Term]:
    if recipe is None or not recipe.strip():
        document: dict[str, Any] = DEFAULT_RECIPE
    else:
        document = _load_json_object(recipe, "Recipe")
        unknown = set(document) - {"groups", "assignments", "outputs"}
        if unknown:
            raise LearningError(
                f"Recipe {sorted(unknown)}: unknown keys; a recipe holds groups, assignments and outputs"
            )
    outputs = document.get("outputs")
    if not isinstance(outputs, list) or not outputs or not all(isinstance(text, str) for text in outputs):
        raise LearningError(f"Recipe outputs {outputs!r}: must be a non-empty list of expressions")
    terms = _RecipeCompiler(document, schema).compile(outputs)
    if not terms:
        raise LearningError(
            "Recipe outputs: select no attribute; the DataSchema has no input attribute of the named groups"
            if recipe
            else "DataSchema: no input attributes besides the target, the rowId and the excluded ones"
        )
    return terms


def validate_recipe(recipe: str | None, schema: DataSchema) -> None:
    """Check a recipe against a schema without data; None is Amazon ML's default recipe."""
    _compile_recipe(recipe, schema)


class _FeatureColumn:
    """One recipe term turned into matrix columns: a number, or one indicator per token seen in training."""

    def __init__(self, term: _Term) -> None:
        self.term = term
        self.fill = 0.0
        self.vocabulary: dict[str, int] = {}

    @property
    def width(self) -> int:
        return 1 if self.term.kind == "numeric" else len(self.vocabulary)

    def fit(self, table: dict[str, list[str]]) -> None:
        self.term.fit(table)
        values = self.term.values(table)
        if self.term.kind == "numeric":
            # Missing numbers take the training mean, so they pull the score neither way.
            present = [value for value in values if value is not None]
            self.fill = float(np.mean(present)) if present else 0.0
        else:
            tokens = sorted({token for tokens in _as_tokens(self.term, values) for token in tokens})
            self.vocabulary = {token: index for index, token in enumerate(tokens)}

    def transform(self, table: dict[str, list[str]], row_count: int) -> sparse.csr_matrix:
        values = self.term.values(table)
        if self.term.kind == "numeric":
            column = np.array([self.fill if value is None else value for value in values], dtype=float)
            return sparse.csr_matrix(column.reshape(-1, 1))
        rows, columns = [], []
        for row, tokens in enumerate(_as_tokens(self.term, values)):
            for index in {self.vocabulary[token] for token in tokens if token in self.vocabulary}:
                rows.append(row)
                columns.append(index)
        data = np.ones(len(rows))
        return sparse.csr_matrix((data, (rows, columns)), shape=(row_count, self.width))

    def state_size(self) -> int:
        vocabulary = sum(len(token.encode("utf-8")) + 8 for token in self.vocabulary)
        return self.term.state_size() + 8 + vocabulary


class _FeatureEncoder:
    def __init__(self, terms: list[_Term]) -> None:
        self.columns = [_FeatureColumn(term) for term in terms]
        self.attribute_types = {
            attribute.name: attribute.type for term in terms for attribute in _attributes_of(term)
        }

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns)

    def fit_transform(self, table: dict[str, list[str]], row_count: int) -> sparse.csr_matrix:
        for column in self.columns:
            column.fit(table)
        return self.transform(table, row_count)

    def transform(self, table: dict[str, list[str]], row_count: int) -> sparse.csr_matrix:
        blocks = [column.transform(table, row_count) for column in self.columns if column.width]
        if not blocks:
            return sparse.csr_matrix((row_count, 0))
        return sparse.hstack(blocks, format="csr")

    def state_size(self) -> int:
        return sum(column.state_size() for column in self.columns)


def _attributes_of(term: _Term) -> list[Attribute]:
    if isinstance(term, _AttributeTerm):
        return [term.attribute]
    return [attribute for source in term.inputs for attribute in _attributes_of(source)]


def _feature_table(
    schema: DataSchema, records: list[list[str]], needed: dict[str, str]
) -> dict[str, list[str]]:
    """Columns by name for the attributes the model reads; one absent from ``schema`` is all missing."""
    positions = {name: index for index, name in enumerate(schema.attribute_names)}
    table = {}
    for name in needed:
        index = positions.get(name)
        table[name] = [""] * len(records) if index is None else [record[index] for record in records]
    return table


# --------------------------------------------------------------------------------------------------
# Training


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


def validate_model_parameters(model_type: str, parameters: dict[str, str]) -> None:
    """Check an MLModelType and its training Parameters map."""
    _parse_parameters(model_type, parameters)


def _target_value(model_type: str, value: str) -> Any:
    """The target as the model learns it, or None when missing or invalid for the model type."""
    if model_type == "BINARY":
        return parse_binary(value)
    if model_type == "REGRESSION":
        return parse_numeric(value)
    return value.strip() or None


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
    terms = _compile_recipe(recipe, schema)

    target_index = schema.attribute_names.index(target)
    labelled = [
        (record, label)
        for record in dataset.records
        if (label := _target_value(model_type, record[target_index])) is not None
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

    encoder = _FeatureEncoder(terms)
    table = _feature_table(schema, records, encoder.attribute_types)
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
    target_mean, target_scale = 0.0, 1.0
    estimator: Any
    if model_type == "BINARY":
        estimator = SGDClassifier(
            loss="log_loss",
            penalty=settings.penalty,
            alpha=alpha,
            max_iter=settings.max_passes,
            tol=None,
            shuffle=settings.shuffle,
            random_state=RANDOM_STATE,
            learning_rate="invscaling",
            eta0=BINARY_LEARNING_RATE,
        )
        target = np.asarray(labels, dtype=int)
    elif model_type == "REGRESSION":
        target = np.asarray(labels, dtype=float)
        target_mean = float(target.mean())
        target_scale = float(target.std()) or 1.0
        target = (target - target_mean) / target_scale
        estimator = SGDRegressor(
            loss="squared_error",
            penalty=settings.penalty,
            alpha=alpha,
            max_iter=settings.max_passes,
            tol=None,
            shuffle=settings.shuffle,
            random_state=RANDOM_STATE,
            learning_rate="invscaling",
            eta0=REGRESSION_LEARNING_RATE,
        )
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


@dataclass(frozen=True)
class ScoredFile:
    """
    The batch prediction result of one input file.

    :param csv_text: the result CSV, a header line then one line per input record (blank when invalid).
    :param total_record_count: records read from the file.
    :param invalid_record_count: records that could not be scored.
    """

    csv_text: str
    total_record_count: int
    invalid_record_count: int


@dataclass(eq=False)
class TrainedModel:
    """
    A trained model: scores batch prediction files and evaluates data sources.

    :param model_type: BINARY, MULTICLASS or REGRESSION.
    :param size_in_bytes: the model's size, the weights plus the fitted recipe state.
    :param class_labels: the score columns' labels: ``["0", "1"]`` for BINARY, the sorted classes for
        MULTICLASS, empty for REGRESSION.
    :param target_attribute_name: the attribute the model predicts.
    :param encoder: the fitted recipe that turns records into features.
    :param estimator: the fitted scikit-learn model.
    :param target_mean: REGRESSION only: the training target's mean, added back to predictions.
    :param target_scale: REGRESSION only: the training target's standard deviation.
    """

    model_type: str
    size_in_bytes: int
    class_labels: list[str]
    target_attribute_name: str
    encoder: _FeatureEncoder = field(repr=False)
    estimator: Any = field(repr=False)
    target_mean: float = 0.0
    target_scale: float = 1.0

    def _scores(self, schema: DataSchema, records: list[list[str]]) -> np.ndarray:
        """BINARY: P(1) per record; MULTICLASS: one probability per class label; REGRESSION: the value."""
        table = _feature_table(schema, records, self.encoder.attribute_types)
        features = self.encoder.transform(table, len(records))
        with np.errstate(all="ignore"):
            if self.model_type == "BINARY":
                return self.estimator.predict_proba(features)[:, 1]
            if self.model_type == "MULTICLASS":
                return self.estimator.predict_proba(features)
            return self.estimator.predict(features) * self.target_scale + self.target_mean

    def score_file(self, content: bytes, schema: DataSchema, score_threshold: float) -> ScoredFile:
        """
        Score one batch prediction input file.

        Columns, in order: the rowId attribute under its own name when ``schema`` has a rowId (the
        service's name and position for it are unverified; first keeps it next to the record it names);
        ``trueLabel`` when the file holds the model's target attribute (BINARY as 0/1, MULTICLASS the
        label, REGRESSION the number; empty when missing or invalid); then ``bestAnswer,score`` (BINARY),
        one column per class label (MULTICLASS), or ``score`` (REGRESSION). Attributes the model uses but
        the file lacks count as missing. A header whose column count differs from the schema raises
        LearningError, failing the job rather than writing wrong predictions.

        :param content: the raw CSV bytes.
        :param schema: the batch prediction data source's schema.
        :param score_threshold: BINARY bestAnswer is 1 when score >= this.
        """
        records = list(_read_records(content, schema, "BatchPredictionDataSource"))
        valid = [record.fields for record in records if record.fields is not None]
        scores = self._scores(schema, valid) if valid else np.empty(0)

        names = schema.attribute_names
        row_id_index = names.index(schema.row_id) if schema.row_id is not None else None
        target_index = (
            names.index(self.target_attribute_name) if self.target_attribute_name in names else None
        )
        header = [] if row_id_index is None else [names[row_id_index]]
        if target_index is not None:
            header.append("trueLabel")
        if self.model_type == "BINARY":
            header += ["bestAnswer", "score"]
        elif self.model_type == "MULTICLASS":
            header += self.class_labels
        else:
            header.append("score")

        output = io.StringIO()
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(header)
        position = 0
        for record in records:
            if record.fields is None:
                output.write("\n")
                continue
            row = [] if row_id_index is None else [record.fields[row_id_index]]
            if target_index is not None:
                row.append(self._true_label(record.fields[target_index]))
            score = scores[position]
            position += 1
            if self.model_type == "BINARY":
                row += ["1" if score >= score_threshold else "0", format_number(score)]
            elif self.model_type == "MULTICLASS":
                row += [format_number(value) for value in score]
            else:
                row.append(format_number(score))
            writer.writerow(row)
        return ScoredFile(
            csv_text=output.getvalue(),
            total_record_count=len(records),
            invalid_record_count=len(records) - len(valid),
        )

    def _true_label(self, value: str) -> str:
        label = _target_value(self.model_type, value)
        if label is None:
            return ""
        return format_number(label) if self.model_type == "REGRESSION" else str(label)

    def evaluate(self, dataset: Dataset) -> dict[str, str]:
        """
        Score a data source that holds the target and measure the model on it.

        Returns GetEvaluation's ``PerformanceMetrics.Properties``: ``BinaryAUC``, ``MulticlassAvgFScore``
        (macro-averaged F1) or ``RegressionRMSE``, as decimal strings of up to 6 significant digits.
        Records with a missing or invalid target are left out.
        """
        names = dataset.schema.attribute_names
        if self.target_attribute_name not in names:
            raise LearningError(
                f"EvaluationDataSource: has no attribute {self.target_attribute_name!r}, the model's target"
            )
        target_index = names.index(self.target_attribute_name)
        labelled = [
            (record, label)
            for record in dataset.records
            if (label := _target_value(self.model_type, record[target_index])) is not None
        ]
        if not labelled:
            raise LearningError(
                f"EvaluationDataSource: no record has a valid value of target {self.target_attribute_name!r}"
            )
        labels = [label for _, label in labelled]
        scores = self._scores(dataset.schema, [record for record, _ in labelled])
        if self.model_type == "BINARY":
            if len(set(labels)) < 2:
                raise LearningError(
                    f"EvaluationDataSource: target {self.target_attribute_name!r} has only the value "
                    f"{labels[0]}; BinaryAUC needs records of both 0 and 1"
                )
            return {"BinaryAUC": _metric(roc_auc_score(labels, scores))}
        if self.model_type == "MULTICLASS":
            predicted = [self.class_labels[index] for index in np.argmax(scores, axis=1)]
            value = f1_score(labels, predicted, average="macro", zero_division=0)
            return {"MulticlassAvgFScore": _metric(value)}
        error = np.asarray(labels, dtype=float) - scores
        return {"RegressionRMSE": _metric(math.sqrt(float(np.mean(error**2))))}


def _metric(value: float) -> str:
    return np.format_float_positional(float(value), precision=6, unique=True, fractional=False, trim="-")
