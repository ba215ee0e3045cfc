"""
### INDATA clean partitions: summary (example consumer of the backup's Assets)

Scheduled on the Assets `indata_clean_<dataset>` that `indata_backup`'s `validate_clean` updates: a run starts
as soon as any dataset's clean partition has passed validation. Each asset event names its dataset and run date,
and `summarize_partitions` runs one Athena query on exactly that partition: rows, distinct keys, and the range of
the dataset's `order_by` column. The result is logged and returned (XCom).

```mermaid
flowchart LR
    V[indata_backup<br/>validate_clean] --> A((Asset indata_clean_&lt;dataset&gt;))
    A --> S[summarize_partitions<br/>Athena: one partition]
```

A manual run summarises the partition named by the params `dataset` and `run_date` instead.
"""
from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAny, Param, task
from airflow.sdk.exceptions import AirflowFailException

from indata_ops.assets import clean_asset
from indata_ops.config import load_config
from indata_ops.hooks.validation import ValidationQueryHook
from indata_ops.partition_summary import partition_summary_sql, partitions_from_events

log = logging.getLogger(__name__)
CONFIG = load_config()
SETTINGS = CONFIG.settings
DATASETS = [dataset.name for dataset in CONFIG.datasets]
CLEAN_ASSETS = [clean_asset(SETTINGS.bucket, name) for name in DATASETS]

with DAG(
    dag_id="indata_downstream_example",
    description="Summarise each clean partition as soon as indata_backup has validated it",
    doc_md=__doc__,
    # Any one table updated is enough: each run summarises the partitions its asset events name.
    schedule=AssetAny(*CLEAN_ASSETS),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "data-platform", "retries": 1},
    params={"dataset": Param(None, type=["null", "string"], enum=[None, *DATASETS],
                             description="Manual runs: the dataset to summarise"),
            "run_date": Param(None, type=["null", "string"], format="date",
                              description="Manual runs: the partition (YYYY-MM-DD)")},
    tags=["indata", "example", "athena"],
) as dag:

    @task
    def summarize_partitions(triggering_asset_events: Any = None, params: Any = None) -> list[dict[str, Any]]:
        events = [event for events in (triggering_asset_events or {}).values() for event in events]
        partitions = partitions_from_events(events)
        if not partitions and params and params.get("dataset") and params.get("run_date"):
            partitions = [(params["dataset"], params["run_date"])]
        if not partitions:
            raise AirflowFailException("Nothing to summarise: no asset event with a dataset and run date, and no "
                                       "params 'dataset' and 'run_date'")
        athena = ValidationQueryHook(aws_conn_id=SETTINGS.aws_conn_id, region_name=SETTINGS.region)
        summaries = []
        for name, run_date in partitions:
            sql = partition_summary_sql(SETTINGS.clean_database, CONFIG.dataset(name), run_date)
            row = athena.query_rows(sql, SETTINGS.clean_database, SETTINGS.athena_output, SETTINGS.athena_workgroup)[0]
            log.info("%s.%s dt=%s: %s", SETTINGS.clean_database, name, run_date,
                     ", ".join(f"{column}={value}" for column, value in row.items()))
            summaries.append({"dataset": name, "run_date": run_date, **row})
        return summaries

    summarize_partitions()
