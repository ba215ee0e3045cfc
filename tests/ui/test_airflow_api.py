"""The running stack's REST API (/api/v2) as a client uses it: a token from POST /auth/token, a manual run with
conf and no logical date, the list of runs, and what a backfill would run."""
from __future__ import annotations

import time
import urllib.error

import pytest
from airflow_runs import (
    CHAIN,
    MEASURED,
    SAMPLE_DAYS,
    assert_dataset_run,
    retried_tasks,
    run_path,
    task_states,
    wait_for_run,
)

from scripts.airflow_up import ADMIN_USER, DAG_ID

RUN_DATE = "2026-11-03"


def test_the_api_wants_a_token_and_the_token_wants_the_password(airflow):
    with pytest.raises(urllib.error.HTTPError) as no_token:
        airflow.request("GET", "/api/v2/dags", auth=False)
    assert no_token.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as wrong_password:
        airflow.request("POST", "/auth/token", {"username": ADMIN_USER, "password": "not-" + airflow.admin_password()},
                        auth=False)
    assert wrong_password.value.code == 401
    assert DAG_ID in {dag["dag_id"] for dag in airflow.request("GET", "/api/v2/dags")["dags"]}


def test_a_run_triggered_with_conf_and_no_logical_date_processes_that_date(
        airflow, dag_params, dataset_names, expected_counts):
    # One dataset only, where the DAG can select them: the other's chain must be skipped, not run or failed.
    selected = dataset_names[-1:] if "datasets" in dag_params else dataset_names
    conf = {"run_date": RUN_DATE, **({"datasets": selected} if "datasets" in dag_params else {})}
    started = time.monotonic()
    run = airflow.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    assert (run["logical_date"], run["conf"], run["run_type"]) == (None, conf, "manual")

    listed = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=manual&limit=100")["dag_runs"]
    assert run["dag_run_id"] in {listed_run["dag_run_id"] for listed_run in listed}
    assert {listed_run["run_type"] for listed_run in listed} == {"manual"}

    finished = wait_for_run(airflow, run["dag_run_id"])
    MEASURED["run triggered through the API, to success (s)"] = round(time.monotonic() - started, 1)
    assert finished["state"] == "success", task_states(airflow, run["dag_run_id"])
    MEASURED["API run: tasks that needed a retry"] = retried_tasks(airflow, run["dag_run_id"])
    for dataset in selected:
        assert_dataset_run(airflow, run["dag_run_id"], dataset, RUN_DATE, expected_counts[dataset][RUN_DATE])
    states = task_states(airflow, run["dag_run_id"])
    for dataset in set(dataset_names) - set(selected):
        assert {states[f"{dataset}.{task}"] for task in CHAIN} == {"skipped"}
    assert airflow.request("GET", run_path(run["dag_run_id"]))["conf"] == conf


def test_a_backfill_dry_run_lists_one_run_per_day(airflow):
    body = {"dag_id": DAG_ID, "from_date": f"{SAMPLE_DAYS[0]}T00:00:00Z", "to_date": f"{SAMPLE_DAYS[-1]}T00:00:00Z",
            "max_active_runs": 3, "reprocess_behavior": "completed"}
    planned = airflow.request("POST", "/api/v2/backfills/dry_run", body)["backfills"]
    assert [entry["logical_date"][:10] for entry in planned] == list(SAMPLE_DAYS)
