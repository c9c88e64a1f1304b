"""Several DAGs under ``airflow dags test`` in one process: each run read back on its own, a failure kept to its DAG."""

from __future__ import annotations

from amazon_ml_emulator.testing.dag_runner import migrated_home, run_dag_tests

DAGS = """
from airflow.sdk import DAG, task

for dag_id, fails in (("first_succeeds", False), ("second_fails", True), ("third_succeeds", False)):
    with DAG(dag_id=dag_id, schedule=None):

        @task(task_id="answer")
        def answer(fails=fails, dag_id=dag_id):
            print(f"answering for {dag_id}")
            if fails:
                raise ValueError(f"{dag_id} was asked to fail")
            return dag_id

        answer()
"""


def test_each_dag_of_one_process_is_read_back_on_its_own_and_a_failure_stops_no_other(
    ml_emulator, airflow_template, tmp_path
):
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "three.py").write_text(DAGS)

    results = run_dag_tests(
        ["first_succeeds", "second_fails", "third_succeeds"],
        home=migrated_home(airflow_template, tmp_path / "home"),
        dags_folder=dags_folder,
        connection_json=ml_emulator.connection_json(),
        timeout=300,
    )

    assert {dag_id: result.succeeded for dag_id, result in results.items()} == {
        "first_succeeds": True,
        "second_fails": False,
        "third_succeeds": True,
    }
    assert [result.returncode for result in results.values()] == [0, 1, 0]
    assert results["third_succeeds"].xcoms[("answer", "return_value")] == "third_succeeds"
    assert results["second_fails"].task_states == {"answer": "failed"}
    # Each DAG's output is its own.
    assert "second_fails was asked to fail" in results["second_fails"].output
    assert "was asked to fail" not in results["first_succeeds"].output + results["third_succeeds"].output
