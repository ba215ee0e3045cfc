"""DAG runs through the running stack's REST API: wait for them, read their task states and validation counts."""
from __future__ import annotations

import time
import urllib.parse
from typing import Any

from scripts.airflow_up import DAG_ID, AirflowStack

SAMPLE_DAYS = tuple(f"2026-11-{day:02d}" for day in range(1, 8))  # the source root the stack reads has these
CHAIN = ("backup_files", "wait_for_manifest", "check_fingerprint", "crawl_raw", "clean_dataset",
         "validate_clean")
FINISHED = {"success", "failed"}
MEASURED: dict[str, float] = {}  # durations and counts, printed at the end of the session


def run_path(run_id: str) -> str:
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def wait_for_run(airflow: AirflowStack, run_id: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (run := airflow.request("GET", run_path(run_id)))["state"] not in FINISHED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['state']} after {timeout:.0f} s: "
                               f"{task_states(airflow, run_id)}")
        time.sleep(2)
    return run


def task_instances(airflow: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    return airflow.request("GET", run_path(run_id) + "/taskInstances?limit=100")["task_instances"]


def task_states(airflow: AirflowStack, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in task_instances(airflow, run_id)}


def retried_tasks(airflow: AirflowStack, run_id: str) -> int:
    """Tasks that needed more than one try: a run can end green through retries, the count says how often."""
    return sum(ti["try_number"] > 1 for ti in task_instances(airflow, run_id))


def validation(airflow: AirflowStack, run_id: str, dataset: str) -> dict[str, Any]:
    """What the dataset's validate_clean returned: its run date and the Glue job's counts."""
    task = f"{dataset}.validate_clean"
    entry = airflow.request("GET", run_path(run_id) + f"/taskInstances/{task}/xcomEntries/return_value")
    return entry["value"]


def counts_as_expected(expected: dict[str, Any]) -> dict[str, Any]:
    """The generator's planned counts in the job's terms (duplicates = exact copies + older versions of a key)."""
    return {"input": expected["rows_in"], "clean": expected["clean"], "rejected": expected["rejected"],
            "duplicates": expected["exact_duplicates"] + expected["duplicate_keys"],
            "rejects_by_reason": expected["rejected_by_reason"]}


def job_counts(result: dict[str, Any]) -> dict[str, Any]:
    counts = result["counts"]
    return {key: counts[key] for key in ("input", "clean", "rejected", "duplicates", "rejects_by_reason")}


def cleaned_before(airflow: AirflowStack, run_id: str, dataset: str, run_date: str) -> bool:
    """Whether a run that ended before this one started cleaned the dataset's date (its Glue job succeeded)."""
    started = airflow.request("GET", run_path(run_id))["start_date"]
    for run in airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]:
        if run["dag_run_id"] == run_id or not run["end_date"] or run["end_date"] > started:
            continue
        if (task_states(airflow, run["dag_run_id"]).get(f"{dataset}.clean_dataset") == "success"
                and validation(airflow, run["dag_run_id"], dataset)["run_date"] == run_date):
            return True
    return False


def assert_dataset_run(airflow: AirflowStack, run_id: str, dataset: str, run_date: str,
                       expected: dict[str, Any]) -> None:
    """Every task of the dataset's chain succeeded for that date, with the counts planned for that date's files.

    A date an earlier run of the session already cleaned (the sample files did not change since) skips its crawl
    and Glue job, and only then: check_fingerprint decides, validation still runs."""
    states = task_states(airflow, run_id)
    chain = dict.fromkeys(CHAIN, "success")
    if cleaned_before(airflow, run_id, dataset, run_date):
        chain.update(crawl_raw="skipped", clean_dataset="skipped")
    assert {task: states.get(f"{dataset}.{task}") for task in chain} == chain
    result = validation(airflow, run_id, dataset)
    assert result["run_date"] == run_date
    assert job_counts(result) == counts_as_expected(expected)
