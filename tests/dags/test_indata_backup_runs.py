"""The real DAGs run by Airflow (`dag.test`, its metadata DB, triggers run in line) on the local AWS stack.

Each run is a child process (tests/dags/dag_run_child.py) with its own Airflow home and its own bucket, Glue
names and databases (BACKUP_* variables), over a copy of the sample data plus one broken export.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPECTED = json.loads((REPO / "include" / "sample_data" / "expected_counts.json").read_text())
BROKEN_DAY = "2026-11-04"


@pytest.fixture(scope="module")
def airflow(stack, aws, tmp_path_factory):
    """Environment of the child runs: a migrated Airflow home, the stack's connection, a private bucket."""
    home = tmp_path_factory.mktemp("airflow-runs")
    source = home / "source"
    shutil.copytree(REPO / "include" / "sample_data", source)
    # A ventas export whose header lost a column the schema needs: the Glue job fails on it.
    good = (source / "ventas" / "2026-11-01" / "ventas_2026-11-01.csv").read_bytes().decode("cp1252")
    assert "Importe (€)" in good
    (source / "ventas" / BROKEN_DAY).mkdir()
    (source / "ventas" / BROKEN_DAY / f"ventas_{BROKEN_DAY}.csv").write_bytes(
        good.replace("Importe (€)", "Total").encode("cp1252"))
    tag = uuid.uuid4().hex[:8]
    connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                  "extra": {"endpoint_url": stack.endpoint, "region_name": "us-east-1"}}
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
           "PYTHONPATH": str(REPO / "plugins"),
           "BACKUP_SOURCE_ROOT": str(source), "BACKUP_BUCKET": f"opsrun-{tag}",
           "BACKUP_RAW_DATABASE": f"opsrun_raw_{tag}", "BACKUP_CLEAN_DATABASE": f"opsrun_clean_{tag}",
           "BACKUP_GLUE_JOB_PREFIX": f"opsrun-{tag}"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    aws("s3").create_bucket(Bucket=env["BACKUP_BUCKET"])
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return env


def run_child(env: dict, dag_id: str, run_after: str, logical_date: str | None = None, conf: dict | None = None,
              no_retries: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    """The child process of one run, and where it writes its outcome (only when the run could start)."""
    outcome = Path(env["AIRFLOW_HOME"]) / f"outcome-{uuid.uuid4().hex[:8]}.json"
    command = [sys.executable, str(REPO / "tests" / "dags" / "dag_run_child.py"), "--dag-id", dag_id,
               "--run-after", run_after, "--conf", json.dumps(conf or {}), "--outcome", str(outcome)]
    command += ["--logical-date", logical_date] if logical_date else []
    command += ["--no-retries"] if no_retries else []
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    outcome.with_suffix(".log").write_text(result.stdout + result.stderr)  # kept for a failing test's reader
    return result, outcome


def dag_test(env: dict, dag_id: str, run_after: str, **kwargs) -> tuple[dict, str]:
    """(outcome, log) of one run that must complete (whatever its tasks' states)."""
    result, outcome = run_child(env, dag_id, run_after, **kwargs)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return json.loads(outcome.read_text()), log


@pytest.fixture(scope="module")
def clientes_run(airflow):
    """A manual run without a logical date, due on 2026-11-01 (UTC), for one of the two datasets."""
    return dag_test(airflow, "indata_backup", run_after="2026-11-01T12:00:00+00:00", conf={"datasets": ["clientes"]})


def test_a_run_without_logical_date_keys_on_the_day_it_was_due(clientes_run):
    outcome, _ = clientes_run
    assert outcome["logical_date"] == "None" and outcome["state"] == "success"
    assert outcome["xcom"]["clientes.backup_files:return_value"]["run_date"] == "2026-11-01"
    assert outcome["xcom"]["clientes.validate_clean:return_value"]["run_date"] == "2026-11-01"


def test_datasets_not_selected_are_skipped_and_the_selected_chain_runs_deferred(clientes_run):
    outcome, log = clientes_run
    states = outcome["states"]
    assert states["check_params"] == "success"
    assert {task: state for task, state in states.items() if task.startswith("clientes.")} == {
        f"clientes.{task}": "success"
        for task in ("backup_files", "wait_for_manifest", "check_fingerprint", "crawl_raw", "clean_dataset",
                     "validate_clean")}
    assert {state for task, state in states.items() if task.startswith("ventas.")} == {"skipped"}
    # The crawl and the Glue job at least handed their waits to a trigger (dag.test runs triggers in line).
    assert log.count("[DAG TEST] running trigger in line") >= 2


def clean_event(dataset: str, run_date: str) -> dict:
    """The Asset event validate_clean emits: the job's counts and how many warnings validation reported (none on
    the sample's dates)."""
    counts = EXPECTED[dataset][run_date]
    return {"asset": f"indata_clean_{dataset}", "extra": {
        "dataset": dataset, "run_date": run_date, "clean_rows": counts["clean"],
        "counts": {"input": counts["rows_in"], "clean": counts["clean"], "rejected": counts["rejected"],
                   "duplicates": counts["exact_duplicates"] + counts["duplicate_keys"]},
        "warnings": 0}}


def test_validation_publishes_the_asset_event_that_queues_the_downstream_dag(clientes_run):
    outcome, _ = clientes_run
    assert outcome["asset_events"] == [clean_event("clientes", "2026-11-01")]
    assert ["indata_clean_clientes", "indata_downstream_example"] in outcome["queued"]


def test_the_downstream_dag_summarises_the_partition(airflow, clientes_run):
    outcome, log = dag_test(airflow, "indata_downstream_example", run_after="2026-11-01T13:00:00+00:00",
                            conf={"dataset": "clientes", "run_date": "2026-11-01"})
    assert outcome["states"] == {"summarize_partitions": "success"}
    [summary] = outcome["xcom"]["summarize_partitions:return_value"]
    counts = EXPECTED["clientes"]["2026-11-01"]
    assert (summary["dataset"], summary["run_date"], summary["row_count"]) == (
        "clientes", "2026-11-01", str(counts["clean"]))
    # Keys are unique after cleaning: as many distinct keys as rows.
    assert [value for column, value in summary.items() if column.startswith("distinct_")] == [str(counts["clean"])]


def test_a_rerun_with_nothing_changed_skips_the_crawl_and_the_job_and_still_validates(airflow, aws, clientes_run):
    s3, bucket = aws("s3"), airflow["BACKUP_BUCKET"]
    first, _ = clientes_run
    fingerprint = first["xcom"]["clientes.check_fingerprint:fingerprint"]
    counts_key = "job-reports/clientes/dt=2026-11-01/counts.json"
    committed = json.loads(s3.get_object(Bucket=bucket, Key=counts_key)["Body"].read())
    assert committed["input_fingerprint"] == fingerprint  # the Glue job stored what the branch computed
    job = f"{airflow['BACKUP_GLUE_JOB_PREFIX']}-clean-clientes"
    job_runs = len(aws("glue").get_job_runs(JobName=job)["JobRuns"])

    rerun, log = dag_test(airflow, "indata_backup", run_after="2026-11-01T14:00:00+00:00",
                          conf={"datasets": ["clientes"]})

    assert rerun["state"] == "success"
    assert {task: state for task, state in rerun["states"].items() if task.startswith("clientes.")} == {
        "clientes.backup_files": "success", "clientes.wait_for_manifest": "success",
        "clientes.check_fingerprint": "success", "clientes.crawl_raw": "skipped", "clientes.clean_dataset": "skipped",
        "clientes.validate_clean": "success"}
    assert rerun["xcom"]["clientes.check_fingerprint:fingerprint"] == fingerprint
    assert (f"clientes.crawl_raw and the Glue job after it skipped: input fingerprint {fingerprint} equals the "
            "committed clean partition's") in log
    assert len(aws("glue").get_job_runs(JobName=job)["JobRuns"]) == job_runs  # no Glue job run
    counts = EXPECTED["clientes"]["2026-11-01"]
    assert rerun["xcom"]["clientes.validate_clean:return_value"]["counts"]["clean"] == counts["clean"]
    assert rerun["asset_events"] == [clean_event("clientes", "2026-11-01")]

    # full_refresh redoes everything, and the job commits the same fingerprint again.
    refreshed, _ = dag_test(airflow, "indata_backup", run_after="2026-11-01T15:00:00+00:00",
                            conf={"datasets": ["clientes"], "full_refresh": True})
    assert {task: state for task, state in refreshed["states"].items() if task.startswith("clientes.")} == {
        f"clientes.{task}": "success" for task in ("backup_files", "wait_for_manifest", "check_fingerprint",
                                                   "crawl_raw", "clean_dataset", "validate_clean")}
    assert len(aws("glue").get_job_runs(JobName=job)["JobRuns"]) == job_runs + 1
    committed = json.loads(s3.get_object(Bucket=bucket, Key=counts_key)["Body"].read())
    assert committed["input_fingerprint"] == fingerprint


def test_a_dry_run_writes_nothing_and_skips_the_rest_of_the_chain(airflow, aws):
    s3, bucket = aws("s3"), airflow["BACKUP_BUCKET"]
    outcome, _ = dag_test(airflow, "indata_backup", run_after="2026-11-02T12:00:00+00:00",
                          logical_date="2026-11-02T00:00:00+00:00", conf={"datasets": ["ventas"], "dry_run": True})
    assert {task: state for task, state in outcome["states"].items() if task.startswith("ventas.")} == {
        f"ventas.{task}": "skipped"
        for task in ("backup_files", "wait_for_manifest", "check_fingerprint", "crawl_raw", "clean_dataset",
                     "validate_clean")}
    plan = outcome["xcom"]["ventas.backup_files:dry_run_plan"]
    assert [(row["path"], row["action"]) for row in plan] == [
        (name, "new") for name in sorted(EXPECTED["ventas"]["2026-11-02"]["files"])]
    for prefix in ("raw/ventas/dt=2026-11-02/", "manifests/ventas/dt=2026-11-02/"):
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


def test_a_failing_glue_job_sends_a_notice_with_dataset_date_and_glues_error(airflow, aws):
    # With the DAG's own retries: a column missing from the data is the job's contract, so no retry follows.
    outcome, log = dag_test(airflow, "indata_backup", run_after=f"{BROKEN_DAY}T12:00:00+00:00",
                            logical_date=f"{BROKEN_DAY}T00:00:00+00:00", conf={"datasets": ["ventas"]})
    states = outcome["states"]
    assert (states["ventas.check_fingerprint"], states["ventas.crawl_raw"], states["ventas.clean_dataset"],
            states["ventas.validate_clean"]) == ("success", "success", "failed", "upstream_failed")
    assert outcome["tries"]["ventas.clean_dataset"] == 1
    job = f"{airflow['BACKUP_GLUE_JOB_PREFIX']}-clean-ventas"
    [job_run] = aws("glue").get_job_runs(JobName=job)["JobRuns"]
    glue_error = job_run["ErrorMessage"]
    assert "importe" in glue_error.lower()  # the job names the column the file lacks
    notice = log[log.index("INDATA backup failure notice"):]
    assert notice.splitlines()[1:6] == [
        "indata_backup: task ventas.clean_dataset failed",
        "dataset: ventas",
        f"run date: {BROKEN_DAY}",
        f"try: 1 of 2, not retried (the cause will not go away by itself), run {outcome['run_id']}",
        f"error: Glue job {job} run {job_run['Id']} ended FAILED: {glue_error.splitlines()[0]}"]
    assert log.count("INDATA backup failure notice") == 1  # only the task that failed; the skipped one does not


def test_a_date_without_files_fails_at_once_without_retries(airflow, aws):
    # The backup task has 3 retries with backoff: before, such a run took four tries over about 9.5 minutes.
    outcome, log = dag_test(airflow, "indata_backup", run_after="2026-11-01T12:00:00+00:00",
                            conf={"datasets": ["ventas"], "run_date": "9999-12-31"})
    assert outcome["state"] == "failed"
    assert (outcome["states"]["ventas.backup_files"], outcome["tries"]["ventas.backup_files"]) == ("failed", 1)
    assert outcome["states"]["ventas.wait_for_manifest"] == "upstream_failed"
    assert "No files match 'ventas/9999-12-31/*.csv'" in log and "on_empty: skip" in log
    listed = aws("s3").list_objects_v2(Bucket=airflow["BACKUP_BUCKET"], Prefix="manifests/ventas/dt=9999-12-31/")
    assert listed["KeyCount"] == 0


def test_unknown_conf_keys_are_refused_naming_them(airflow):
    outcome, log = dag_test(airflow, "indata_backup", run_after="2026-11-01T12:00:00+00:00",
                            conf={"datasets": ["ventas"], "full_refesh": True})
    assert (outcome["state"], outcome["states"]["check_params"]) == ("failed", "failed")
    assert "conf key 'full_refesh': not a param of this DAG" in log
    assert outcome["states"]["ventas.backup_files"] == "upstream_failed"


def test_a_bad_run_date_in_the_conf_is_refused_before_any_work(airflow):
    result, outcome = run_child(airflow, "indata_backup", run_after="2026-11-01T12:00:00+00:00",
                                conf={"run_date": "2026-11-01' OR '1'='1"})
    assert result.returncode != 0
    assert "Invalid input for param run_date: \"2026-11-01' OR '1'='1\" is not a 'date'" in result.stderr
    assert not outcome.exists()  # no run, so no task


def test_starting_an_airflow_component_creates_the_crawler_pools(airflow):
    script = ("from airflow.jobs.job import Job\nfrom airflow.models.pool import Pool\nJob()\n"
              "import json\nprint(json.dumps({p.pool: [p.slots, p.include_deferred] for p in Pool.get_pools()}))")
    result = subprocess.run([sys.executable, "-c", script], env=airflow, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    pools = json.loads(result.stdout.strip().splitlines()[-1])
    prefix = airflow["BACKUP_GLUE_JOB_PREFIX"]
    assert {name: value for name, value in pools.items() if name != "default_pool"} == {
        f"crawler_{prefix}-raw-ventas": [1, True], f"crawler_{prefix}-raw-clientes": [1, True]}


# --- a relationship check across datasets (a copy of the config that declares one) -----------------------------

RELATED_DAY = "2026-11-03"


@pytest.fixture(scope="module")
def related(airflow, tmp_path_factory):
    from tests.dags.relationship_config import config_with_relationship

    return {**airflow, "BACKUP_CONFIG": str(config_with_relationship(tmp_path_factory.mktemp("related")))}


def clean_column(s3, bucket: str, dataset: str, column: str) -> list:
    """A column of the date's clean partition, read from its Parquet files (not through Athena)."""
    import pyarrow.parquet as pq

    prefix = f"clean/{dataset}/dt={RELATED_DAY}/"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            if item["Key"].endswith(".parquet")]
    assert keys, prefix
    return [value for key in keys for value in pq.read_table(
        io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), columns=[column]).column(column).to_pylist()]


def test_a_relationship_check_runs_after_the_other_datasets_job_and_counts_the_missing_values(related, aws):
    outcome, _ = dag_test(related, "indata_backup", run_after=f"{RELATED_DAY}T12:00:00+00:00",
                          logical_date=f"{RELATED_DAY}T00:00:00+00:00")
    assert outcome["state"] == "success", outcome["states"]
    times = {task: [datetime.fromisoformat(moment) for moment in span] for task, span in outcome["times"].items()}
    # On the date's first run clientes' partition is written by its job: ventas' validation starts after it (the
    # edge that orders them is tested in test_indata_backup_dag; this run keeps to it).
    assert times["ventas.validate_clean"][0] >= times["clientes.clean_dataset"][1]
    s3, bucket = aws("s3"), related["BACKUP_BUCKET"]
    customers = set(clean_column(s3, bucket, "clientes", "id_cliente"))
    missing = {value for value in clean_column(s3, bucket, "ventas", "cliente") if value is not None} - customers
    [check] = [check for check in outcome["xcom"]["ventas.validate_clean:return_value"]["checks"]
               if check["kind"] == "relationship"]
    assert (check["name"], check["severity"]) == ("relationship(cliente -> clientes.id_cliente)", "warn")
    assert check["actual"] == (f"{len(missing)} value" if len(missing) == 1 else f"{len(missing)} values")
    assert (check["passed"], check["result"]) == ((True, "ok") if not missing else (False, "WARN"))
    assert {row["cliente"] for row in check["failing_rows"]} <= missing


def test_a_relationship_does_not_run_the_validation_of_a_dataset_that_was_not_selected(related, aws):
    # clientes' job runs (full_refresh) and is ventas' validation's upstream too; ventas' own chain is skipped.
    outcome, log = dag_test(related, "indata_backup", run_after=f"{RELATED_DAY}T13:00:00+00:00",
                            logical_date=f"{RELATED_DAY}T01:00:00+00:00",
                            conf={"datasets": ["clientes"], "full_refresh": True})
    assert outcome["state"] == "success"
    assert outcome["states"]["clientes.clean_dataset"] == "success"
    assert {state for task, state in outcome["states"].items() if task.startswith("ventas.")} == {"skipped"}
    assert "ventas.validate_clean:return_value" not in outcome["xcom"]
    assert f"ventas dt={RELATED_DAY}: this dataset's chain did not run" in log
