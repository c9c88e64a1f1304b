"""Reading a data source's CSV files into records, and their statistics."""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from amazon_ml_emulator.learning.schema import DataRearrangement, DataSchema
from amazon_ml_emulator.learning.values import (
    MAX_OBSERVATION_BYTES,
    LearningError,
    parse_binary,
    parse_numeric,
)


@dataclass(frozen=True)
class Record:
    fields: list[str] | None  # None: the record is invalid
    problem: str = ""
    offset: int = 0  # where the record starts, in bytes from the start of the data source's data


class _CountingLines:
    """The lines of a text, counting the UTF-8 bytes handed out, so a record's start is known in bytes."""

    def __init__(self, text: str, start: int) -> None:
        self._lines = io.StringIO(text, newline="")
        self.position = start

    def __iter__(self) -> _CountingLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.position += len(line.encode("utf-8", errors="replace"))
        return line


def read_records(content: bytes, schema: DataSchema, source: str, start: int = 0) -> Iterator[Record]:
    """
    Records of one CSV file, the header skipped; ``start`` is the file's byte offset in its data source.

    Blank lines are not records. A record with the wrong number of columns, over 100 KB, or
    broken quoting is invalid. A header whose column count differs from the schema is an error,
    as every record of the file would be read into the wrong attributes; header names are not
    compared, since Amazon ML reads columns by position.
    """
    text = content.decode("utf-8-sig", errors="replace")
    lines = _CountingLines(text, start + (len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0))
    reader = csv.reader(lines)
    expected = len(schema.attributes)
    header_pending = schema.data_file_contains_header
    while True:
        offset = lines.position  # the reader reads a record's lines only when asked for it
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if header_pending:
                raise LearningError(f"{source}: header line is not valid CSV ({error})") from None
            yield Record(None, str(error), offset)
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
            yield Record(None, f"{len(fields)} columns, expected {expected}", offset)
        elif sum(len(value.encode("utf-8")) for value in fields) + len(fields) - 1 > MAX_OBSERVATION_BYTES:
            yield Record(None, f"observation larger than {MAX_OBSERVATION_BYTES} bytes", offset)
        else:
            yield Record(fields, offset=offset)


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
    records: list[Record] = []
    start = 0  # the files are one data source: offsets run on from one file to the next
    for source, content in files:
        records.extend(read_records(content, schema, source, start))
        start += len(content)
    if rearrangement is not None:
        offsets = [record.offset for record in records]
        records = [records[position] for position in rearrangement.select(offsets)]
    valid = [record.fields for record in records if record.fields is not None]
    if not valid:
        sources = ", ".join(source for source, _ in files) or "no files"
        raise LearningError(
            f"DataLocationS3 ({sources}): no valid records"
            + (" in the rearranged range" if rearrangement is not None else "")
            + f"; each record needs {len(schema.attributes)} comma-separated columns as the DataSchema lists"
        )
    return Dataset(schema, valid, invalid_record_count=len(records) - len(valid))
