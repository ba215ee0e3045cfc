"""
### INDATA restore

Brings one dataset's committed backup for one date back from S3, byte for byte, into a folder on the worker.
Trigger it by hand with:

| param | meaning |
|---|---|
| `dataset` | one of the configured datasets |
| `date` | the run date of the backup (YYYY-MM-DD) |
| `target` | a folder under the restore root (`settings.restore_root`, `BACKUP_RESTORE_ROOT`); relative paths are relative to it; empty: `<dataset>/<date>` |

`restore_files` reads `manifests/<dataset>/dt=<date>/manifest.json`: a date without it has no committed backup.
Every file is hashed while it is written and only renamed into place when its SHA-256 and size match the manifest.
A file that cannot be restored (`missing`, `size`, `checksum`, `access`, or another `error`) is skipped and the
others are restored; then the task fails, without retries, with the table of those files and why. The report is
also written to `<target>/restore-report.json`. Targets outside the restore root are refused before anything is
downloaded. Existing files with other names are left alone.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from indata_ops.config import load_config
from indata_ops.operators.restore import RestoreBackupOperator

CONFIG = load_config()
DATASETS = [dataset.name for dataset in CONFIG.datasets]

with DAG(
    dag_id="indata_restore",
    description="Restore one dataset's backup for a date from S3, verified against its manifest",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    # A missing or corrupted object does not heal by itself: fail at once with the report (throttling, 5xx and
    # resets are retried inside the task, per request and per file).
    default_args={"owner": "data-platform", "retries": 0},
    params={
        "dataset": Param(DATASETS[0], type="string", enum=DATASETS, description="The dataset to restore"),
        "date": Param(type="string", format="date", description="Run date of the backup (YYYY-MM-DD)"),
        "target": Param("", type="string",
                        description=f"Folder under {CONFIG.settings.restore_root}; empty: <dataset>/<date>"),
    },
    tags=["indata", "restore", "s3"],
) as dag:
    RestoreBackupOperator(
        task_id="restore_files",
        dataset="{{ params.dataset }}",
        run_date="{{ params.date }}",
        target="{{ params.target }}",
        datasets=DATASETS,
        bucket=CONFIG.settings.bucket,
        restore_root=str(CONFIG.settings.restore_root),
        aws_conn_id=CONFIG.settings.aws_conn_id,
        region_name=CONFIG.settings.region,
    )
