"""A data source's ``SelectSqlQuery`` run on a real database: PostgreSQL stands in for Redshift, MySQL or MariaDB
for RDS; the result becomes the CSV the service stages under ``S3StagingLocation``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

REDSHIFT = "Redshift"
RDS = "RDS"
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseError(Exception):
    """The database could not be reached or refused the query; the message is fit for the data source's Message."""


@dataclass(frozen=True)
class DatabaseQuery:
    """
    What a Redshift or RDS data source reads: a query on one database of a cluster or instance.

    :param engine: ``Redshift`` or ``RDS``.
    :param identifier: the ClusterIdentifier or InstanceIdentifier.
    :param database_name: the database the query runs in.
    :param username: the database user.
    :param password: the user's password; kept for the job, never shown.
    :param select_sql_query: the query whose rows become the data.
    """

    engine: str
    identifier: str
    database_name: str
    username: str
    password: str = field(repr=False)
    select_sql_query: str


def parse_address(identifier: str, address: str) -> tuple[str, int]:
    """``host:port`` of a database setting, checked."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"database {identifier!r} address {address!r}: must be host:port")
    return host, int(port)


def run_query(query: DatabaseQuery, address: str) -> tuple[list[str], list[Sequence[Any]]]:
    """The column names and rows of ``query`` on the database at ``address`` (``host:port``)."""
    host, port = parse_address(query.identifier, address)
    connect = _connect_postgresql if query.engine == REDSHIFT else _connect_mysql
    try:
        connection = connect(query, host, port)
    except Exception as error:
        raise DatabaseError(f"cannot connect to {_described(query)}: {_reason(error)}") from None
    try:
        cursor = connection.cursor()
        cursor.execute(query.select_sql_query)
        if cursor.description is None:
            raise DatabaseError(f"SelectSqlQuery on {_described(query)} returned no rows: it is not a SELECT")
        columns = [column[0] for column in cursor.description]
        return columns, list(cursor.fetchall())
    except DatabaseError:
        raise
    except Exception as error:
        raise DatabaseError(f"SelectSqlQuery failed on {_described(query)}: {_reason(error)}") from None
    finally:
        connection.close()


def rows_as_csv(columns: list[str], rows: list[Sequence[Any]], header: bool) -> bytes:
    """The staged CSV: an optional header line, then one line per row; NULL is an empty (missing) value."""
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows(["" if value is None else _text(value) for value in row] for row in rows)
    return output.getvalue().encode("utf-8")


def inferred_schema(columns: list[str], rows: list[Sequence[Any]]) -> str:
    """
    The DataSchema of a query's result given without one: one attribute per column, typed by its values.

    Booleans are BINARY, numbers (or text that reads as numbers) NUMERIC, text with spaces TEXT, other text
    CATEGORICAL. No attribute is the target: the schema serves batch predictions; to train or evaluate,
    give a schema that names the target.
    """
    attributes = []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows if row[index] is not None and _text(row[index]).strip()]
        attributes.append({"attributeName": name, "attributeType": _attribute_type(values)})
    document = {
        "version": "1.0",
        "dataFormat": "CSV",
        "dataFileContainsHeader": True,
        "attributes": attributes,
    }
    return json.dumps(document)


def _attribute_type(values: list[Any]) -> str:
    from amazon_ml_emulator.learning.values import parse_numeric

    if values and all(isinstance(value, bool) for value in values):
        return "BINARY"
    if all(parse_numeric(_text(value)) is not None for value in values):
        return "NUMERIC"
    if any(len(_text(value).split()) > 1 for value in values):
        return "TEXT"
    return "CATEGORICAL"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _connect_postgresql(query: DatabaseQuery, host: str, port: int) -> Any:
    import psycopg2

    return psycopg2.connect(
        host=host,
        port=port,
        dbname=query.database_name,
        user=query.username,
        password=query.password,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )


def _connect_mysql(query: DatabaseQuery, host: str, port: int) -> Any:
    import pymysql

    return pymysql.connect(
        host=host,
        port=port,
        database=query.database_name,
        user=query.username,
        password=query.password,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )


def source_name(query: DatabaseQuery) -> str:
    """The cluster or instance a query runs on, as messages name it: ``Redshift cluster 'analytics'``."""
    kind = "cluster" if query.engine == REDSHIFT else "instance"
    return f"{query.engine} {kind} {query.identifier!r}"


def _described(query: DatabaseQuery) -> str:
    return f"{source_name(query)} database {query.database_name!r}"


def _reason(error: Exception) -> str:
    # PyMySQL puts (code, message) in args; psycopg2's text is the server's message, sometimes on several lines.
    if len(error.args) == 2 and isinstance(error.args[0], int):
        return f"({error.args[0]}) {error.args[1]}"
    return " ".join(str(error).split())
