"""
### INDATA backup

Every day, for each dataset in `include/config/datasets.yaml`, back the local server's files up to S3 and turn the
backup into a clean, queryable table.

```mermaid
flowchart LR
    L[(local server files)] --> B[backup_files<br/>raw/&lt;dataset&gt;/dt=D/ + SHA-256]
    B --> M[manifest.json written last]
    M --> W[wait_for_manifest<br/>S3 sensor: complete manifest]
    W --> C[crawl_raw<br/>Glue crawler: raw database]
    C --> J[clean_dataset<br/>Glue job: clean/ Parquet + rejects/]
    J --> V[validate_clean<br/>Athena checks]
    V --> A((Asset: clean table))
```

| task | what it does |
|---|---|
| `backup_files` | uploads the files of the run date byte for byte, each with a SHA-256 checksum, verifies them, then writes `manifests/<dataset>/dt=D/manifest.json` |
| `wait_for_manifest` | waits until that manifest exists and is complete (the same DAG serves sites where an agent uploads) |
| `crawl_raw` | creates or updates the dataset's Glue crawler and crawls `raw/<dataset>/` into the raw database |
| `clean_dataset` | runs `include/spark/clean_dataset.py` as a Glue job: clean Parquet under `clean/<dataset>/dt=D/`, rejected rows with reasons under `rejects/`, counts under `job-reports/` |
| `validate_clean` | Athena queries on the clean partition against the job's counts; fails with a table of checks |

Run date: the logical date for scheduled runs and backfills; manual runs may set `run_date`. Re-running a date
replaces exactly that date's data.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.sdk import DAG, Asset, Param, TaskGroup, chain

from indata_ops.config import BackupConfig, Dataset, load_config
from indata_ops.layout import clean_root, job_counts_key, manifest_key, raw_prefix, rejects_root, s3_uri
from indata_ops.operators.backup import BackupFilesOperator
from indata_ops.operators.crawl import CrawlRawOperator
from indata_ops.operators.validate import ValidateCleanOperator
from indata_ops.run_date import RUN_DATE_TEMPLATE
from indata_ops.sensors.manifest import ManifestSensor

CLEAN_SCRIPT = Path(__file__).resolve().parents[1] / "include" / "spark" / "clean_dataset.py"
# Glue and the crawler take tens of seconds on AWS and a few locally: poll often enough for both.
POLL_SECONDS = 3


def crawler_config(config: BackupConfig, dataset: Dataset) -> dict:
    settings = config.settings
    return {
        "Name": f"{settings.glue_job_name_prefix}-raw-{dataset.name}",
        "Role": settings.glue_job_role,
        "DatabaseName": settings.raw_database,
        "Description": f"Catalogs the raw backup of {dataset.name} (one partition per run date)",
        "Targets": {"S3Targets": [{"Path": s3_uri(settings.bucket, f"raw/{dataset.name}/"),
                                   "Exclusions": ["**/_SUCCESS", "**/.*"]}]},
        "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"},
        "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
    }


def clean_job_arguments(config: BackupConfig, dataset: Dataset) -> dict[str, str]:
    bucket = config.settings.bucket
    return {
        "--dataset": dataset.name,
        "--run_date": RUN_DATE_TEMPLATE,
        "--raw_path": s3_uri(bucket, raw_prefix(dataset.name, RUN_DATE_TEMPLATE)),
        "--clean_path": s3_uri(bucket, clean_root(dataset.name)),
        "--rejects_path": s3_uri(bucket, rejects_root(dataset.name)),
        "--counts_path": s3_uri(bucket, job_counts_key(dataset.name, RUN_DATE_TEMPLATE)),
        "--clean_database": config.settings.clean_database,
        "--dataset_config": json.dumps(dataset.job_config(), ensure_ascii=False, sort_keys=True),
    }


def dataset_chain(config: BackupConfig, dataset: Dataset) -> None:
    settings = config.settings
    aws = {"aws_conn_id": settings.aws_conn_id, "region_name": settings.region}
    backup = BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(settings.source_root),
                                 run_date=RUN_DATE_TEMPLATE, bucket=settings.bucket,
                                 extra_args=settings.encryption_args(), full_refresh="{{ params.full_refresh }}",
                                 **aws)
    wait = ManifestSensor(task_id="wait_for_manifest", bucket_name=settings.bucket, dataset=dataset.name,
                          run_date=RUN_DATE_TEMPLATE, bucket_key=manifest_key(dataset.name, RUN_DATE_TEMPLATE),
                          **aws, poke_interval=POLL_SECONDS, timeout=timedelta(hours=6).total_seconds())
    crawl = CrawlRawOperator(task_id="crawl_raw", config=crawler_config(config, dataset), **aws,
                             poll_interval=POLL_SECONDS)
    clean = GlueJobOperator(
        task_id="clean_dataset",
        job_name=f"{settings.glue_job_name_prefix}-clean-{dataset.name}",
        job_desc=f"Cleans the raw backup of {dataset.name} into Parquet (include/spark/clean_dataset.py)",
        script_location=str(CLEAN_SCRIPT),
        s3_bucket=settings.bucket,
        iam_role_arn=settings.glue_job_role,
        script_args=clean_job_arguments(config, dataset),
        create_job_kwargs={
            "GlueVersion": settings.glue_version, "WorkerType": settings.glue_worker_type,
            "NumberOfWorkers": settings.glue_number_of_workers, "ExecutionClass": settings.glue_execution_class,
            "ExecutionProperty": {"MaxConcurrentRuns": settings.max_active_runs},
            "DefaultArguments": {"--job-bookmark-option": "job-bookmark-disable", "--job-language": "python"},
        },
        replace_script_file=True,  # the script in S3 always matches include/spark
        update_config=True,
        stop_job_run_on_kill=True,
        verbose=True,
        job_poll_interval=POLL_SECONDS,
        **aws,
    )
    validate = ValidateCleanOperator(
        task_id="validate_clean", dataset=dataset.name, keys=list(dataset.keys), run_date=RUN_DATE_TEMPLATE,
        bucket=settings.bucket, database=settings.clean_database, output_location=settings.athena_output,
        workgroup=settings.athena_workgroup, **aws,
        outlets=[Asset(name=f"indata_clean_{dataset.name}", uri=s3_uri(settings.bucket, f"clean/{dataset.name}"))])
    chain(backup, wait, crawl, clean, validate)


CONFIG = load_config()

with DAG(
    dag_id="indata_backup",
    description="Back INDATA's local files up to S3, catalog, clean with Glue and validate with Athena",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=CONFIG.settings.max_active_runs,
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": True},
    params={"run_date": Param(None, type=["null", "string"], format="date",
                              description="Date to process (YYYY-MM-DD); empty: the run's logical date"),
            "full_refresh": Param(False, type="boolean",
                                  description="Re-read every file and re-check every object in S3 instead of "
                                              "trusting the committed manifest for files whose size and mtime "
                                              "did not change")},
    tags=["indata", "backup", "s3", "glue", "athena"],
) as dag:
    for dataset in CONFIG.datasets:
        with TaskGroup(group_id=dataset.name, tooltip=f"{dataset.name}: {dataset.source}"):
            dataset_chain(CONFIG, dataset)
