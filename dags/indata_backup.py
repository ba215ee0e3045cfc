"""
### INDATA backup

Every day, for each dataset in `include/config/datasets.yaml`, back the local server's files up to S3 and turn the
backup into a clean, queryable table.

```mermaid
flowchart LR
    P[check_params<br/>refuse bad params, pick datasets] --> B
    L[(local server files)] --> B[backup_files<br/>raw/&lt;dataset&gt;/dt=D/ + SHA-256]
    B --> M[manifest.json written last]
    M --> W[wait_for_manifest<br/>complete manifest, deferred]
    W --> F{check_fingerprint<br/>inputs changed?}
    F -->|changed, full_refresh| C[crawl_raw<br/>Glue crawler: raw database, one at a time]
    C --> J[clean_dataset<br/>Glue job: clean/ Parquet + rejects/]
    J --> V[validate_clean<br/>Athena checks]
    F -->|unchanged| V
    V --> A((Asset: clean table))
    A --> E[indata_downstream_example]
```

| task | what it does |
|---|---|
| `check_params` | refuses a bad `run_date`, unknown `datasets` or non-boolean flags before any work, naming the param; the task groups of datasets not selected are skipped |
| `<dataset>.backup_files` | uploads the files of the run date byte for byte, each with a SHA-256 checksum, verifies them, then writes `manifests/<dataset>/dt=D/manifest.json`; with `dry_run` it only lists what it would back up and the rest of the chain is skipped |
| `<dataset>.wait_for_manifest` | waits until that manifest exists and is complete (the same DAG serves sites where an agent uploads) |
| `<dataset>.check_fingerprint` | computes the date's input fingerprint (manifest content, job code, dataset contract, job and crawler config, versions); when the committed clean partition's counts.json holds the same one, skips the crawl and the Glue job (the reason is in its log) and goes straight to validation; `full_refresh` runs everything |
| `<dataset>.crawl_raw` | creates or updates the dataset's Glue crawler and crawls `raw/<dataset>/` into the raw database; pool `crawler_<crawler name>` (1 slot) runs one crawl per crawler at a time |
| `<dataset>.clean_dataset` | runs `include/spark/clean_dataset.py` as a Glue job: clean Parquet under `clean/<dataset>/dt=D/`, rejected rows with reasons under `rejects/`, counts under `job-reports/` |
| `<dataset>.validate_clean` | runs after the Glue job, or after an unchanged date's skip, and after the Glue job of every other dataset its `relationship` checks read: Athena queries on the clean partition against the job's counts and the declared checks; fails with a table of checks; on success updates the Asset `indata_clean_<dataset>` |

**Params** (trigger form): `run_date` (empty: the logical date; a manual run without one uses the day it was
due, in the DAG's time zone), `datasets` (which task groups run), `full_refresh` (re-read and re-check every
file, crawl and clean even when nothing changed), `dry_run` (list what would be backed up; nothing is written).

**Waits** (wait_for_manifest, crawl_raw, clean_dataset, validate_clean's queries) are handed to the triggerer
unless `settings.deferrable` / `BACKUP_DEFERRABLE` is false. **Failures**: each kind of task has its own retries
and timeout; a task that fails for good sends a notice (log; e-mail or Slack when configured) naming the dataset,
the run date and the Glue or Athena error. Re-running a date replaces exactly that date's data.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, TaskGroup, chain

import indata_contract
from indata_ops.assets import clean_asset
from indata_ops.config import BackupConfig, Dataset, load_config
from indata_ops.layout import clean_root, job_counts_key, manifest_key, raw_prefix, rejects_root, s3_uri
from indata_ops.notifiers.failure import BackupFailureNotifier
from indata_ops.operators.backup import BackupFilesOperator
from indata_ops.operators.clean import CleanJobOperator
from indata_ops.operators.crawl import CrawlRawOperator
from indata_ops.operators.fingerprint import FINGERPRINT_KEY, CheckFingerprintOperator
from indata_ops.operators.params import CheckParamsOperator
from indata_ops.operators.validate import ValidateCleanOperator
from indata_ops.pools import crawl_pool, crawler_name
from indata_ops.run_date import RUN_DATE_MACRO, RUN_DATE_TEMPLATE, run_date_of
from indata_ops.sensors.manifest import ManifestSensor

CLEAN_SCRIPT = Path(__file__).resolve().parents[1] / "include" / "spark" / "clean_dataset.py"
CONTRACT_PACKAGE = Path(indata_contract.__file__).parent
# Glue and the crawler take tens of seconds on AWS and a few locally: poll often enough for both.
POLL_SECONDS = 3

# Retries and timeouts per kind of task. execution_timeout also bounds a deferred wait (BoundedDeferralMixin).
CHECK_PARAMS = {"retries": 0, "execution_timeout": timedelta(minutes=5)}  # bad params do not heal
# Network hiccups and throttling outlast botocore's own retries now and then; a rerun resumes where it stopped.
BACKUP = {"retries": 3, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True,
          "max_retry_delay": timedelta(minutes=15), "execution_timeout": timedelta(hours=4)}
# A manifest that is not there after the sensor's timeout will not appear by retrying the wait.
WAIT = {"retries": 0, "timeout": timedelta(hours=6).total_seconds(), "execution_timeout": timedelta(hours=6, minutes=5)}
# Two small S3 reads: only transient errors fail them.
CHECK_FINGERPRINT = {"retries": 2, "retry_delay": timedelta(minutes=1), "execution_timeout": timedelta(minutes=10)}
# A crawl or a job that failed once (capacity, a transient S3 error) usually passes on a later try; twice is a bug.
CRAWL = {"retries": 1, "retry_delay": timedelta(minutes=5), "execution_timeout": timedelta(hours=1)}
CLEAN = {"retries": 1, "retry_delay": timedelta(minutes=5), "execution_timeout": timedelta(hours=2)}
# Athena errors are retried; failed checks raise AirflowFailException and are not (the data will not change).
VALIDATE = {"retries": 2, "retry_delay": timedelta(minutes=2), "execution_timeout": timedelta(minutes=30)}


def crawler_config(config: BackupConfig, dataset: Dataset) -> dict:
    settings = config.settings
    return {
        "Name": crawler_name(config, dataset.name),
        "Role": settings.glue_job_role,
        "DatabaseName": settings.raw_database,
        "Description": f"Catalogs the raw backup of {dataset.name} (one partition per run date)",
        "Targets": {"S3Targets": [{"Path": s3_uri(settings.bucket, f"raw/{dataset.name}/"),
                                   "Exclusions": ["**/_SUCCESS", "**/.*"]}]},
        # Each crawl reads only the dates added since the last one, so its cost does not grow with history. AWS
        # allows that mode only with LOG/LOG; CrawlRawOperator runs a full crawl on the days a schema may change.
        "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
        "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
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


def dataset_chain(config: BackupConfig, dataset: Dataset) -> tuple[CleanJobOperator, ValidateCleanOperator]:
    """The dataset's six tasks, chained; returns its Glue job task and its validation task."""
    settings = config.settings
    aws = {"aws_conn_id": settings.aws_conn_id, "region_name": settings.region}
    backup = BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(settings.source_root),
                                 run_date=RUN_DATE_TEMPLATE, bucket=settings.bucket,
                                 extra_args=settings.encryption_args(), full_refresh="{{ params.full_refresh }}",
                                 dry_run="{{ params.dry_run }}", worker_role=settings.worker_role, **aws,
                                 **BACKUP)
    wait = ManifestSensor(task_id="wait_for_manifest", bucket_name=settings.bucket, dataset=dataset.name,
                          run_date=RUN_DATE_TEMPLATE, bucket_key=manifest_key(dataset.name, RUN_DATE_TEMPLATE),
                          deferrable=settings.deferrable, poke_interval=POLL_SECONDS, **aws, **WAIT)
    crawl = CrawlRawOperator(task_id="crawl_raw", config=crawler_config(config, dataset),
                             pool=crawl_pool(config, dataset.name), deferrable=settings.deferrable,
                             poll_interval=POLL_SECONDS, **aws, **CRAWL)
    job_arguments = clean_job_arguments(config, dataset)
    py_packages = [str(CLEAN_SCRIPT.parent / "indata_clean"), str(CONTRACT_PACKAGE)]
    check = CheckFingerprintOperator(
        task_id="check_fingerprint", dataset=dataset.name, run_date=RUN_DATE_TEMPLATE, bucket=settings.bucket,
        script_location=str(CLEAN_SCRIPT), py_packages=py_packages, job_arguments=job_arguments,
        crawler_config=crawl.config, glue_version=settings.glue_version, full_refresh="{{ params.full_refresh }}",
        crawl_task_id=crawl.task_id, validate_task_id=crawl.task_group.child_id("validate_clean"), **aws,
        **CHECK_FINGERPRINT)
    clean = CleanJobOperator(
        task_id="clean_dataset",
        job_name=f"{settings.glue_job_name_prefix}-clean-{dataset.name}",
        job_desc=f"Cleans the raw backup of {dataset.name} into Parquet (include/spark/clean_dataset.py)",
        script_location=str(CLEAN_SCRIPT),
        # The job's modules and the dataset contract, as --extra-py-files.
        py_packages=py_packages,
        s3_bucket=settings.bucket,
        iam_role_arn=settings.glue_job_role,
        # The fingerprint goes into the date's counts.json: the next run with the same inputs skips the job.
        script_args={**job_arguments, "--input_fingerprint":
                     f"{{{{ ti.xcom_pull(task_ids='{check.task_id}', key='{FINGERPRINT_KEY}') }}}}"},
        create_job_kwargs={
            "GlueVersion": settings.glue_version, "WorkerType": settings.glue_worker_type,
            "NumberOfWorkers": settings.glue_number_of_workers, "ExecutionClass": settings.glue_execution_class,
            "ExecutionProperty": {"MaxConcurrentRuns": settings.max_active_runs},
            # Glue stops a run that outlives the task's own timeout (minutes).
            "Timeout": int(CLEAN["execution_timeout"].total_seconds() // 60),
            "DefaultArguments": {"--job-bookmark-option": "job-bookmark-disable", "--job-language": "python"},
        },
        replace_script_file=True,  # the script in S3 always matches include/spark
        update_config=True,
        stop_job_run_on_kill=True,
        verbose=True,
        deferrable=settings.deferrable,
        job_poll_interval=POLL_SECONDS,
        waiter_delay=POLL_SECONDS,
        waiter_max_attempts=int(CLEAN["execution_timeout"].total_seconds() // POLL_SECONDS),
        **aws,
        **CLEAN,
    )
    validate = ValidateCleanOperator(
        task_id="validate_clean", dataset=dataset.name, keys=list(dataset.keys), run_date=RUN_DATE_TEMPLATE,
        bucket=settings.bucket, database=settings.clean_database, output_location=settings.athena_output,
        workgroup=settings.athena_workgroup, deferrable=settings.deferrable, allow_empty=dataset.on_empty == "skip",
        max_wait_seconds=int(VALIDATE["execution_timeout"].total_seconds()), quality=config.quality[dataset.name],
        chain_task_id=check.task_id if config.quality[dataset.name].related_datasets else None,
        report_link_endpoint=settings.report_link_endpoint,
        **aws, **VALIDATE,
        outlets=[clean_asset(settings.bucket, dataset.name)],
        # After the job, or straight after check_fingerprint when it skipped the crawl and the job. A skipped
        # chain (dry_run, on_empty: skip) skips it too, and a failed job fails it (upstream_failed).
        trigger_rule="none_failed_min_one_success")
    chain(backup, wait, check, crawl, clean, validate)
    check >> validate
    return clean, validate


def order_relationships(config: BackupConfig, chains: dict[str, tuple[CleanJobOperator, ValidateCleanOperator]]
                        ) -> None:
    """A relationship check reads another dataset's clean table: on a date's first run, that dataset's Glue job
    must have written the date's partition first, so validation waits for it (skipped counts as done; a failed
    job leaves the validation upstream_failed, as the check could not be answered)."""
    for dataset in config.datasets:
        for other in config.quality[dataset.name].related_datasets:
            chains[other][0] >> chains[dataset.name][1]


CONFIG = load_config()
DATASETS = [dataset.name for dataset in CONFIG.datasets]

with DAG(
    dag_id="indata_backup",
    description="Back INDATA's local files up to S3, catalog, clean with Glue and validate with Athena",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.parse(CONFIG.settings.start_date, tz="UTC"),
    catchup=True,
    max_active_runs=CONFIG.settings.max_active_runs,
    default_args={"owner": "data-platform",
                  "on_failure_callback": BackupFailureNotifier(
                      email_to=CONFIG.settings.notify_email_addresses, smtp_conn_id=CONFIG.settings.smtp_conn_id,
                      slack_webhook_conn_id=CONFIG.settings.slack_webhook_conn_id)},
    user_defined_macros={RUN_DATE_MACRO: run_date_of},
    params={
        "run_date": Param(None, type=["null", "string"], format="date", title="Run date",
                          description="Date to process (YYYY-MM-DD). Empty: the run's logical date, or for a "
                                      "manual run without one the day it was triggered (DAG time zone)."),
        # The form shows an array with `examples` as a multi-select; `items.enum` is what validation enforces.
        "datasets": Param(DATASETS, type="array", items={"type": "string", "enum": DATASETS}, examples=DATASETS,
                          uniqueItems=True, minItems=1, title="Datasets",
                          description="Datasets to process; the others' task groups are skipped"),
        "full_refresh": Param(False, type="boolean", title="Full refresh",
                              description="Re-read every file and re-check every object in S3 instead of "
                                          "trusting the committed manifest for files whose size and mtime "
                                          "did not change; crawl and clean even a date whose inputs did not "
                                          "change"),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Only list what would be backed up (new, changed, unchanged, stale); "
                                     "nothing is written to S3 and the rest of each chain is skipped"),
    },
    tags=["indata", "backup", "s3", "glue", "athena"],
) as dag:
    check_params = CheckParamsOperator(task_id="check_params", run_date=RUN_DATE_TEMPLATE, datasets=DATASETS,
                                       **CHECK_PARAMS)
    chains = {}
    for dataset in CONFIG.datasets:
        with TaskGroup(group_id=dataset.name, tooltip=f"{dataset.name}: {dataset.source}") as group:
            chains[dataset.name] = dataset_chain(CONFIG, dataset)
        check_params >> group
    order_relationships(CONFIG, chains)
