"""Private database servers for the Redshift and RDS data sources: PostgreSQL and MariaDB, password-protected,
each in a temporary folder on a free port, with a table of the tiny data set; tables can be added."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pymysql
import pytest

from amazon_ml_emulator import datasets
from tests.system.stack import free_port, postgres_bin_dir

USER = "analyst"
PASSWORD = "s3cret-Passw0rd"
DATABASE = "warehouse"
# The tiny data set (x, label) as a table, with a NULL x to be read as a missing value.
ROWS = [(float(value), int(value > 5)) for value in range(12)] + [(None, 1)]


@dataclass
class DatabaseServer:
    """A running server: ``address`` is its ``host:port``, ``version`` what it reports."""

    address: str
    version: str

    def connect(self) -> Any:
        """A connection to :data:`DATABASE` as :data:`USER`, with the driver of the server's engine."""
        host, port = self.address.split(":")
        if self.version.startswith("PostgreSQL"):
            return psycopg2.connect(host=host, port=int(port), user=USER, password=PASSWORD, dbname=DATABASE)
        return pymysql.connect(host=host, port=int(port), user=USER, password=PASSWORD, database=DATABASE)

    def create_table(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Create ``table`` with ``columns`` (name, SQL type) and insert ``rows``, in one transaction."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(f"CREATE TABLE {table} ({', '.join(f'{name} {kind}' for name, kind in columns)})")
            cursor.executemany(
                f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(columns))})",
                [tuple(row) for row in rows],
            )
            connection.commit()
        finally:
            connection.close()


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgresql_server() -> Iterator[DatabaseServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-deps.sh as root")
    root = Path(tempfile.mkdtemp(prefix="emulator-redshift-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")

    def run(*command: str) -> None:
        subprocess.run(_as_postgres(list(command)), check=True, capture_output=True, timeout=120)

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(root / "data"),
        "-U",
        USER,
        f"--pwfile={password_file}",
        "--auth=scram-sha-256",
        "--no-sync",
        "-E",
        "UTF8",
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(root / "data"),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres")
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {DATABASE}")
        version = admin.server_version
        admin.close()
        data = psycopg2.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname=DATABASE)
        with data:  # one transaction, committed on leaving
            cursor = data.cursor()
            cursor.execute("CREATE TABLE observations (x double precision, label integer)")
            cursor.executemany("INSERT INTO observations VALUES (%s, %s)", ROWS)
        data.close()
        yield DatabaseServer(f"127.0.0.1:{port}", f"PostgreSQL {version // 10000}.{version % 10000}")
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def mariadb_server() -> Iterator[DatabaseServer]:
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not Path(server).exists():
        raise RuntimeError("MariaDB is not installed: run scripts/install-system-deps.sh as root")
    root = Path(tempfile.mkdtemp(prefix="emulator-rds-"))
    port, socket_path = free_port(), root / "mysqld.sock"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={root / 'data'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *user,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (root / "log").open("w") as log:
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={root / 'data'}",
                f"--socket={socket_path}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                *user,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        admin = _wait_for_mariadb(socket_path, process)
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
            cursor.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%'")
            cursor.execute(f"CREATE TABLE {DATABASE}.observations (x DOUBLE, label INT)")
            cursor.executemany(f"INSERT INTO {DATABASE}.observations VALUES (%s, %s)", ROWS)
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
        admin.commit()
        admin.close()
        yield DatabaseServer(f"127.0.0.1:{port}", f"MariaDB {version}")
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_mariadb(socket_path: Path, process: subprocess.Popen[bytes]) -> pymysql.Connection:
    deadline = time.monotonic() + 60
    while True:
        try:
            return pymysql.connect(unix_socket=str(socket_path), user="root")
        except pymysql.err.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def redshift() -> Iterator[DatabaseServer]:
    """A PostgreSQL server standing in for a Redshift cluster, for the whole session."""
    with postgresql_server() as server:
        yield server


@pytest.fixture(scope="session")
def rds() -> Iterator[DatabaseServer]:
    """A MariaDB server standing in for an RDS instance, for the whole session."""
    with mariadb_server() as server:
        yield server


@pytest.fixture(scope="session")
def breast_cancer_tables(redshift: DatabaseServer, rds: DatabaseServer) -> dict[str, Any]:
    """
    scikit-learn's breast cancer data in the databases: half as Redshift's ``patients`` (the history),
    the other half as RDS's ``new_patients`` (to score; the diagnosis kept for checking).
    """
    csv_bytes, schema = datasets.make_dataset("breast_cancer")
    header, *lines = csv_bytes.decode().splitlines()
    names = header.split(",")
    rows = [[float(value) for value in line.split(",")[:-1]] + [int(line.split(",")[-1])] for line in lines]
    for server, numeric in ((redshift, "double precision"), (rds, "DOUBLE")):
        columns = [(name, numeric) for name in names[:-1]] + [(names[-1], "integer")]
        table, part = ("patients", rows[::2]) if server is redshift else ("new_patients", rows[1::2])
        server.create_table(table, columns, part)
    return {"schema": schema, "names": names, "history": rows[::2], "new_patients": rows[1::2]}
