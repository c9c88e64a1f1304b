"""Recipes: the features a model computes from attributes, compiled and fitted."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from amazon_ml_emulator.learning.schema import Attribute, DataSchema, load_json_object
from amazon_ml_emulator.learning.values import (
    NUMBER_PATTERN,
    LearningError,
    parse_binary,
    parse_numeric,
)

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
            if NUMBER_PATTERN.fullmatch(name):
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


def compile_recipe(recipe: str | None, schema: DataSchema) -> list[_Term]:
    if recipe is None or not recipe.strip():
        document: dict[str, Any] = DEFAULT_RECIPE
    else:
        document = load_json_object(recipe, "Recipe")
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
    compile_recipe(recipe, schema)


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


class FeatureEncoder:
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


def feature_table(
    schema: DataSchema, records: list[list[str]], needed: dict[str, str]
) -> dict[str, list[str]]:
    """Columns by name for the attributes the model reads; one absent from ``schema`` is all missing."""
    positions = {name: index for index, name in enumerate(schema.attribute_names)}
    table = {}
    for name in needed:
        index = positions.get(name)
        table[name] = [""] * len(records) if index is None else [record[index] for record in records]
    return table
