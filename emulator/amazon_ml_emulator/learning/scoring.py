"""A trained model: scoring batch prediction files and evaluating data sources."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from amazon_ml_emulator.learning.data import Dataset, read_records
from amazon_ml_emulator.learning.recipes import FeatureEncoder, feature_table
from amazon_ml_emulator.learning.schema import DataSchema
from amazon_ml_emulator.learning.values import (
    LearningError,
    format_number,
    target_value,
)


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
    encoder: FeatureEncoder = field(repr=False)
    estimator: Any = field(repr=False)
    target_mean: float = 0.0
    target_scale: float = 1.0

    def _scores(self, schema: DataSchema, records: list[list[str]]) -> np.ndarray:
        """BINARY: P(1) per record; MULTICLASS: one probability per class label; REGRESSION: the value."""
        table = feature_table(schema, records, self.encoder.attribute_types)
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
        records = list(read_records(content, schema, "BatchPredictionDataSource"))
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
        label = target_value(self.model_type, value)
        if label is None:
            return ""
        return format_number(label) if self.model_type == "REGRESSION" else str(label)

    def predict(self, schema: DataSchema, record: dict[str, str], score_threshold: float) -> dict[str, Any]:
        """
        Predict one record as a real-time endpoint does: the ``Prediction`` member of Predict's answer.

        Attributes the record lacks count as missing; names the schema does not know are ignored. BINARY
        gives ``predictedLabel`` and the score under that label (the API reference's sample), MULTICLASS the
        best label and every class's score, REGRESSION ``predictedValue``.

        :param schema: the training data source's schema.
        :param record: attribute name to raw value.
        :param score_threshold: BINARY predictedLabel is 1 when the score is >= this.
        """
        score = self._scores(schema, [[record.get(name, "") for name in schema.attribute_names]])[0]
        prediction: dict[str, Any] = {"details": {"Algorithm": "SGD", "PredictiveModelType": self.model_type}}
        if self.model_type == "BINARY":
            label = "1" if score >= score_threshold else "0"
            prediction.update(predictedLabel=label, predictedScores={label: float(score)})
        elif self.model_type == "MULTICLASS":
            scores = {label: float(value) for label, value in zip(self.class_labels, score, strict=True)}
            prediction.update(predictedLabel=max(scores, key=scores.__getitem__), predictedScores=scores)
        else:
            prediction["predictedValue"] = float(score)
        return prediction

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
            if (label := target_value(self.model_type, record[target_index])) is not None
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
