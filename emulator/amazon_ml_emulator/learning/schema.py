"""Data schemas (both dialects) and data rearrangements, parsed and checked."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amazon_ml_emulator.learning.values import (
    ATTRIBUTE_TYPES,
    MAX_ATTRIBUTES,
    LearningError,
    parse_numeric,
)


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
        document = load_json_object(text, "DataSchema")
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


def load_json_object(text: str | None, what: str) -> dict[str, Any]:
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

    def select(self, record_offsets: Sequence[int]) -> list[int]:
        """
        Positions of the kept records, in input order, given each record's byte offset in the data source.

        The random strategy draws each record's number from the seed string and the record's byte offset, as
        the API Reference (DataRearrangement) describes Amazon ML's: the same data and seed always split alike
        and a complement is exact, while changing the data before a record changes that record's draw.
        """
        record_count = len(record_offsets)
        if self.strategy == "random":
            numbers = np.array([self._draw(offset) for offset in record_offsets], dtype=float)
            inside = (numbers >= self.percent_begin) & (numbers < self.percent_end)
        else:
            positions = np.arange(record_count)
            start = math.floor(record_count * self.percent_begin / 100.0)
            stop = math.floor(record_count * self.percent_end / 100.0)
            inside = (positions >= start) & (positions < stop)
        if self.complement:
            inside = ~inside
        return [int(position) for position in np.flatnonzero(inside)]

    def _draw(self, offset: int) -> float:
        """A number in [0, 100) from the seed string and a record's byte offset."""
        digest = hashlib.sha256(f"{self.random_seed}\0{offset}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def parse_data_rearrangement(text: str | None) -> DataRearrangement | None:
    """
    Parse a DataRearrangement JSON document; None or an empty string means all records.

    The seed is read from ``splitting.randomSeed`` or ``splitting.strategyParams.randomSeed``.
    """
    if text is None or not text.strip():
        return None
    document = load_json_object(text, "DataRearrangement")
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
