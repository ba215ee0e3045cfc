"""The example consumer DAG: scheduled on exactly the Assets the backup updates; which partitions it summarises.

Its run against Athena on the local stack is in test_indata_backup_runs.py (after a real backup run).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from indata_ops.config import load_config
from indata_ops.partition_summary import partition_summary_sql, partitions_from_events

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_config()


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def test_it_is_scheduled_on_any_of_the_assets_validate_clean_updates(bag):
    from airflow.sdk import AssetAny

    consumer, producer = bag.dags["indata_downstream_example"], bag.dags["indata_backup"]
    published = {(asset.name, asset.uri) for task in producer.tasks for asset in task.outlets}
    assert published == {(f"indata_clean_{d.name}", f"s3://{CONFIG.settings.bucket}/clean/{d.name}")
                         for d in CONFIG.datasets}
    assert isinstance(consumer.timetable.asset_condition, AssetAny)
    assert {(asset.name, asset.uri) for asset in consumer.timetable.asset_condition.objects} == published
    assert consumer.task_ids == ["summarize_partitions"]
    assert "```mermaid" in consumer.doc_md and consumer.owner == "data-platform"


def event(extra):
    return SimpleNamespace(extra=extra)


def test_each_validated_partition_is_summarised_once_in_event_order():
    events = [event({"dataset": "ventas", "run_date": "2026-11-02", "clean_rows": 5}),
              event({}),  # an event from elsewhere (e.g. created by hand in the UI): nothing to summarise
              event({"dataset": "clientes", "run_date": "2026-11-01"}),
              event({"dataset": "ventas", "run_date": "2026-11-02"})]
    assert partitions_from_events(events) == [("ventas", "2026-11-02"), ("clientes", "2026-11-01")]


def test_the_summary_query_reads_one_partition_and_refuses_a_date_that_is_not_one():
    ventas = CONFIG.dataset("ventas")
    sql = partition_summary_sql("indata_clean", ventas, "2026-11-02")
    assert sql == ('SELECT COUNT(*) AS row_count, COUNT(DISTINCT "codigo_venta") AS distinct_codigo_venta, '
                   'MIN("actualizado") AS first_actualizado, MAX("actualizado") AS last_actualizado '
                   "FROM \"indata_clean\".\"ventas\" WHERE dt = '2026-11-02'")
    with pytest.raises(ValueError, match="run_date must be a date"):
        partition_summary_sql("indata_clean", ventas, "2026-11-02' OR '1'='1")
