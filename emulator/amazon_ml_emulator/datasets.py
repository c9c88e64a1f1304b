"""Demo and test data for the local Amazon ML service: scikit-learn's bundled data sets as CSV and DataSchema.

Nothing is downloaded: the data ships with scikit-learn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROW_ID_ATTRIBUTE_NAME = "row_id"


@dataclass(frozen=True)
class _Spec:
    model_type: str
    target_attribute_name: str
    target_attribute_type: str
    load: Callable[[], tuple[list[str], list[str], list[list[str]], list[str]]]


def _attribute_name(feature_name: str) -> str:
    """'mean radius' -> 'mean_radius', 'od280/od315_of_diluted_wines' -> 'od280_od315_of_diluted_wines'."""
    return re.sub(r"[^0-9A-Za-z]+", "_", feature_name).strip("_").lower()


def _number(value: Any) -> str:
    # repr gives the shortest text that reads back as the same float.
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _breast_cancer() -> tuple[list[str], list[str], list[list[str]], list[str]]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = [_attribute_name(name) for name in bunch.feature_names]
    rows = [[_number(value) for value in row] for row in bunch.data]
    # scikit-learn codes malignant as 0; the diagnosis attribute makes malignant the positive class (1),
    # the finding a screening model is asked to flag.
    targets = ["1" if target == 0 else "0" for target in bunch.target]
    return names, ["NUMERIC"] * len(names), rows, targets


def _iris() -> tuple[list[str], list[str], list[list[str]], list[str]]:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    names = [_attribute_name(name.replace("(cm)", "")) for name in bunch.feature_names]
    rows = [[_number(value) for value in row] for row in bunch.data]
    targets = [str(bunch.target_names[target]) for target in bunch.target]
    return names, ["NUMERIC"] * len(names), rows, targets


def _wine() -> tuple[list[str], list[str], list[list[str]], list[str]]:
    from sklearn.datasets import load_wine

    bunch = load_wine()
    names = [_attribute_name(name) for name in bunch.feature_names]
    rows = [[_number(value) for value in row] for row in bunch.data]
    targets = [str(bunch.target_names[target]) for target in bunch.target]
    return names, ["NUMERIC"] * len(names), rows, targets


def _diabetes() -> tuple[list[str], list[str], list[list[str]], list[str]]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    names = [_attribute_name(name) for name in bunch.feature_names]
    rows = [[_number(value) for value in row] for row in bunch.data]
    # sex is coded 1 or 2: a category, not a quantity.
    types = ["CATEGORICAL" if name == "sex" else "NUMERIC" for name in names]
    targets = [_number(target) for target in bunch.target]
    return names, types, rows, targets


_SPECS = {
    "breast_cancer": _Spec("BINARY", "diagnosis", "BINARY", _breast_cancer),
    "diabetes": _Spec("REGRESSION", "disease_progression", "NUMERIC", _diabetes),
    "iris": _Spec("MULTICLASS", "species", "CATEGORICAL", _iris),
    "wine": _Spec("MULTICLASS", "cultivar", "CATEGORICAL", _wine),
}


def available() -> list[str]:
    """Names of the data sets ``make_dataset`` builds."""
    return sorted(_SPECS)


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"data set {name!r}: unknown; available are {', '.join(available())}") from None


def model_type(name: str) -> str:
    """The MLModelType a data set is made for: BINARY, MULTICLASS or REGRESSION."""
    return _spec(name).model_type


def target_attribute_name(name: str) -> str:
    """The target attribute of a data set."""
    return _spec(name).target_attribute_name


def make_dataset(name: str, *, include_target: bool = True, row_id: bool = False) -> tuple[bytes, str]:
    """
    One data set as CSV bytes with a header line, and its DataSchema JSON.

    Columns: ``row_id`` (1, 2, ...) first when asked for, then the features, then the target last
    when asked for. Without the target the data suits a batch prediction.

    :param name: one of ``available()``.
    :param include_target: write the target column and name it in the schema.
    :param row_id: add a ``row_id`` column and name it as the schema's rowId.
    """
    spec = _spec(name)
    names, types, rows, targets = spec.load()
    header = list(names)
    attributes = [
        {"attributeName": attribute_name, "attributeType": attribute_type}
        for attribute_name, attribute_type in zip(names, types, strict=True)
    ]
    if row_id:
        header.insert(0, ROW_ID_ATTRIBUTE_NAME)
        attributes.insert(0, {"attributeName": ROW_ID_ATTRIBUTE_NAME, "attributeType": "CATEGORICAL"})
    if include_target:
        header.append(spec.target_attribute_name)
        attributes.append(
            {"attributeName": spec.target_attribute_name, "attributeType": spec.target_attribute_type}
        )
    lines = [",".join(header)]
    for number, (row, target) in enumerate(zip(rows, targets, strict=True), start=1):
        values = ([str(number)] if row_id else []) + row + ([target] if include_target else [])
        lines.append(",".join(values))
    schema: dict[str, Any] = {"version": "1.0"}
    if row_id:
        schema["rowId"] = ROW_ID_ATTRIBUTE_NAME
    if include_target:
        schema["targetAttributeName"] = spec.target_attribute_name
    schema.update(
        {
            "dataFormat": "CSV",
            "dataFileContainsHeader": True,
            "attributes": attributes,
            "excludedAttributeNames": [],
        }
    )
    return ("\n".join(lines) + "\n").encode("utf-8"), json.dumps(schema, indent=2)


def split_files(csv_bytes: bytes, parts: int, *, header: bool = True) -> list[bytes]:
    """
    Split one CSV file into ``parts`` files of consecutive records, as a data source of several files.

    Splits on line boundaries, so it suits files with one record per line, like ``make_dataset``'s.
    With ``header`` the first line is repeated at the top of every part.

    :param csv_bytes: the whole file.
    :param parts: how many files to make, at least 1.
    :param header: whether the first line is a header.
    """
    if parts < 1:
        raise ValueError(f"parts {parts}: must be at least 1")
    lines = csv_bytes.splitlines(keepends=True)
    if lines and not lines[-1].endswith((b"\n", b"\r")):
        lines[-1] += b"\n"
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    size, remainder = divmod(len(body), parts)
    files, start = [], 0
    for part in range(parts):
        stop = start + size + (1 if part < remainder else 0)
        files.append(b"".join(head + body[start:stop]))
        start = stop
    return files


# Twelve records of one NUMERIC attribute and a BINARY label (x > 5): a model trains on them in
# milliseconds, for tests and benchmarks that need some model, not a good one.
TINY_SCHEMA = json.dumps(
    {
        "version": "1.0",
        "targetAttributeName": "label",
        "dataFormat": "CSV",
        "dataFileContainsHeader": True,
        "attributes": [
            {"attributeName": "x", "attributeType": "NUMERIC"},
            {"attributeName": "label", "attributeType": "BINARY"},
        ],
        "excludedAttributeNames": [],
    }
)
TINY_CSV = "x,label\n" + "".join(f"{value},{int(value > 5)}\n" for value in range(12))
