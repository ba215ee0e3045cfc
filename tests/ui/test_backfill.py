"""A 7-day backfill created through POST /api/v2/backfills, three runs at a time, on the local stack.

Each day has its own files (written for its own date by the sample generator), so a run that read another day's
data, or a day overwritten by a neighbour running at the same time, shows up as wrong counts for that day.
"""
from __future__ import annotations

import time
import urllib.error

import pytest
from airflow_runs import MEASURED, SAMPLE_DAYS, assert_dataset_run, retried_tasks, task_states

from scripts.airflow_up import DAG_ID

MAX_ACTIVE_RUNS = 3
TIMEOUT = 900


def create_backfill(airflow, body: dict, attempts: int = 10) -> dict:
    """POST /api/v2/backfills, again after a 503 "Database is locked": on SQLite, Airflow refuses to create a
    backfill while the scheduler writes (it says to use PostgreSQL); the lock is gone a moment later."""
    for attempt in range(1, attempts + 1):
        try:
            return airflow.request("POST", "/api/v2/backfills", body)
        except urllib.error.HTTPError as error:
            if error.code != 503 or "Database is locked" not in str(error) or attempt == attempts:
                raise
            MEASURED["backfill creation answered 503 (SQLite locked)"] = attempt
            time.sleep(2 * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


@pytest.mark.timeout(TIMEOUT + 120)
def test_seven_days_backfill_three_at_a_time_each_day_on_its_own_data(airflow, dataset_names, expected_counts):
    started = time.monotonic()
    backfill = create_backfill(airflow, {
        "dag_id": DAG_ID, "from_date": f"{SAMPLE_DAYS[0]}T00:00:00Z", "to_date": f"{SAMPLE_DAYS[-1]}T00:00:00Z",
        "max_active_runs": MAX_ACTIVE_RUNS, "reprocess_behavior": "none", "run_backwards": False,
        "dag_run_conf": {}})
    assert (backfill["dag_id"], backfill["max_active_runs"]) == (DAG_ID, MAX_ACTIVE_RUNS)

    most_running = 0
    while airflow.request("GET", f"/api/v2/backfills/{backfill['id']}")["completed_at"] is None:
        runs = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill&limit=100")["dag_runs"]
        most_running = max(most_running, sum(run["state"] == "running" for run in runs))
        assert time.monotonic() - started < TIMEOUT, {run["logical_date"]: run["state"] for run in runs}
        time.sleep(3)
    MEASURED["7-day backfill, 3 runs at a time (s)"] = round(time.monotonic() - started, 1)

    runs = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill&limit=100")["dag_runs"]
    by_day = {run["logical_date"][:10]: run for run in runs}
    assert sorted(by_day) == list(SAMPLE_DAYS)
    failed = {day: task_states(airflow, run["dag_run_id"]) for day, run in by_day.items() if run["state"] != "success"}
    assert not failed
    MEASURED["backfill tasks that needed a retry"] = sum(retried_tasks(airflow, run["dag_run_id"]) for run in runs)
    assert 1 < most_running <= MAX_ACTIVE_RUNS  # ran concurrently, never beyond the backfill's limit
    for day, run in sorted(by_day.items()):
        for dataset in dataset_names:
            assert_dataset_run(airflow, run["dag_run_id"], dataset, day, expected_counts[dataset][day])
