"""Every Python block in the README and the documentation runs as written, on the local emulator.

A block that defines DAGs is saved as a DAG file and each of its DAGs runs under ``airflow dags
test``; any other block runs in this process with ``aws_default`` pointing at the emulator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_test
from tests.conftest import REPOSITORY

PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").rglob("*.md"))]
FENCED = re.compile(r"^```(?P<language>\w*)\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)
DAG_ID = re.compile(r"""dag_id=["']([^"']+)["']""")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int
    language: str
    code: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(REPOSITORY)}:{self.line}"

    @property
    def dag_ids(self) -> list[str]:
        return DAG_ID.findall(self.code)


def blocks(language: str) -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCED.finditer(text):
            if match["language"] == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append(Block(page, line, language, match["code"]))
    return found


PYTHON_BLOCKS = blocks("python")


def test_the_pages_hold_python_snippets_of_both_kinds():
    # Guards the collection itself: a changed fence syntax must not turn this file into a no-op.
    assert len(PYTHON_BLOCKS) >= 15
    assert sum(bool(block.dag_ids) for block in PYTHON_BLOCKS) >= 10


@pytest.mark.system
@pytest.mark.timeout(900)  # up to two DAG runs, on a machine that may be busy
@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if b.dag_ids], ids=str)
def test_dag_snippet_runs_under_airflow_dags_test(
    block, documented_objects, emulator, airflow_template, tmp_path, request
):
    # Snippets that read a database get the documented servers and their connections.
    reads_a_database = any(name in block.code for name in ("FromRedshiftOperator", "FromRDSOperator"))
    environment = request.getfixturevalue("documented_databases") if reads_a_database else {}
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "snippet.py").write_text(block.code)
    for dag_id in block.dag_ids:
        result = run_dag_test(
            dag_id,
            home=migrated_home(airflow_template, tmp_path / f"home-{dag_id}"),
            dags_folder=dags_folder,
            connection_json=emulator.connection_json(),
            extra_environment=environment,
            timeout=300,
        )
        assert result.task_states, f"{block}: DAG {dag_id} did not run:\n{result.output[-4000:]}"
        assert result.succeeded, f"{block}: DAG {dag_id} {result.task_states}:\n{result.output[-4000:]}"


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if not b.dag_ids], ids=str)
def test_snippet_runs_as_written(block, documented_objects, emulator):
    exec(compile(block.code, str(block), "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("block", blocks("json"), ids=str)
def test_json_snippet_is_valid_json(block):
    json.loads(block.code)


def test_readme_links_are_absolute_as_a_package_index_shows_it():
    readme = (REPOSITORY / "README.md").read_text()
    relative = re.findall(r"\]\((?!https?://)([^)]*)\)", readme)
    assert relative == []
