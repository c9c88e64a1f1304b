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

from amazon_ml_emulator.testing.dag_runner import DagRunResult, migrated_home, run_dag_tests
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


DAG_BLOCKS = [block for block in PYTHON_BLOCKS if block.dag_ids]


@pytest.fixture(scope="module")
def snippet_runs(
    documented_objects, documented_databases, ml_emulator, airflow_template, tmp_path_factory
) -> dict[str, DagRunResult]:
    """
    Every DAG of every snippet, run under ``airflow dags test`` one after another in one Airflow process.

    Each snippet is its own DAG file in one folder; DAG IDs are unique across the pages.
    """
    dag_ids = [dag_id for block in DAG_BLOCKS for dag_id in block.dag_ids]
    assert len(dag_ids) == len(set(dag_ids)), "a DAG ID is used by two snippets"
    dags_folder = tmp_path_factory.mktemp("snippet-dags")
    for number, block in enumerate(DAG_BLOCKS):
        (dags_folder / f"snippet_{number}.py").write_text(block.code)
    return run_dag_tests(
        dag_ids,
        home=migrated_home(airflow_template, tmp_path_factory.mktemp("snippet-home")),
        dags_folder=dags_folder,
        connection_json=ml_emulator.connection_json(),
        # The snippets that read a database find the documented servers through these connections.
        extra_environment=documented_databases,
        timeout=1800,
    )


@pytest.mark.system
@pytest.mark.timeout(1800)  # the first test waits for every snippet's runs, on a machine that may be busy
@pytest.mark.parametrize("block", DAG_BLOCKS, ids=str)
def test_dag_snippet_runs_under_airflow_dags_test(block, snippet_runs):
    for dag_id in block.dag_ids:
        result = snippet_runs[dag_id]
        assert result.task_states, f"{block}: DAG {dag_id} did not run:\n{result.output[-4000:]}"
        assert result.succeeded, f"{block}: DAG {dag_id} {result.task_states}:\n{result.output[-4000:]}"


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if not b.dag_ids], ids=str)
def test_snippet_runs_as_written(block, documented_objects, emulator):
    exec(compile(block.code, str(block), "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("block", blocks("json"), ids=str)
def test_json_snippet_is_valid_json(block):
    json.loads(block.code)
