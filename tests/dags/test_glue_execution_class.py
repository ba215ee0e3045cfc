"""The Glue job's execution class comes from settings.glue_execution_class (FLEX for backfills)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("variable", "expected"), [("", "STANDARD"), ("FLEX", "FLEX")])
def test_clean_job_is_created_with_the_configured_execution_class(monkeypatch, variable: str, expected: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BACKUP_GLUE_EXECUTION_CLASS", variable)  # empty: unset, the shipped STANDARD
    bag = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py"))
    assert bag.import_errors == {}
    dag = bag.dags["indata_backup"]

    classes = {task.task_id: task.create_job_kwargs["ExecutionClass"]
               for task in dag.tasks if task.task_id.endswith(".clean_dataset")}
    assert classes and set(classes.values()) == {expected}, classes
