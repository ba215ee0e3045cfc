"""One running Airflow + local AWS stack for the UI, API and backfill tests, started as `make up` starts it.

The stack (api-server, scheduler, dag-processor, triggerer, local AWS) runs on free ports with its Airflow home in
a temporary folder, and reads a source root of seven sample days (2026-11-01 .. 07) written by the bundled
generator. The scheduler creates no runs by itself (as `make up` without SCHEDULE=1): the DAG catches up from its
start date, so with the schedule on, unpausing it would queue every day up to today next to the runs a test
makes. With it off, the DAG is unpaused and only the runs the tests trigger or backfill happen. Only the REST
API talks to the running stack (no CLI next to the scheduler: SQLite would answer "database is locked").

Screenshots, the components' logs and what was measured go to .local/test-artifacts/ui/.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow_runs import MEASURED, SAMPLE_DAYS

from scripts.airflow_up import DAG_ID, AirflowStack

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".local" / "test-artifacts" / "ui"


def load_generator():
    spec = importlib.util.spec_from_file_location("sample_generator", REPO / "include/sample_data/generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def write_sample_days(root: Path, days: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each day gets the planned dirt of a bundled day in turn, written for its own date; returns the expected counts.

    The bundled days come out byte for byte as committed (the generator is deterministic), the later ones are new
    files with their own dates in names and rows, so every day's counts are known and its data is its own.
    """
    generator = load_generator()
    expected: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, plans in generator.PLANS.items():
        bundled = sorted(plans)
        expected[dataset] = {}
        for index, day in enumerate(days):
            model_day = bundled[index % len(bundled)]
            plan = dataclasses.replace(plans[model_day], file_rows=tuple(
                (name.replace(model_day, day), rows) for name, rows in plans[model_day].file_rows))
            generator.WRITERS[dataset](root / dataset / day, day, plan)
            expected[dataset][day] = generator.expected_counts(plan)
    return expected


@pytest.fixture(scope="session")
def expected_counts(sample_root_and_counts) -> dict[str, dict[str, dict[str, Any]]]:
    return sample_root_and_counts[1]


@pytest.fixture(scope="session")
def sample_root_and_counts(tmp_path_factory):
    root = tmp_path_factory.mktemp("seven-sample-days")
    return root, write_sample_days(root, SAMPLE_DAYS)


@pytest.fixture(scope="session")
def airflow(tmp_path_factory, sample_root_and_counts) -> AirflowStack:
    """The running stack, its DAG unpaused; stopped with everything it started (task workers too) at the end of
    the session, also when its start fails half way or the run is interrupted (a survivor fails the teardown)."""
    from local_aws.testing import free_port

    stack = AirflowStack(tmp_path_factory.mktemp("airflow-up"), api_port=free_port(), aws_port=free_port(),
                         extra_env={"BACKUP_SOURCE_ROOT": str(sample_root_and_counts[0])})
    try:
        with stack.running_stack() as seconds:
            MEASURED["stack healthy (s)"] = round(seconds, 1)
            stack.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
            yield stack
    finally:
        logs = ARTIFACTS / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        if stack.logs.exists():
            shutil.copytree(stack.logs, logs)


@pytest.fixture(scope="session")
def dag_params(airflow) -> dict[str, Any]:
    """The DAG's declared params, as the API shows them (the tests fill the ones the DAG has)."""
    return airflow.request("GET", f"/api/v2/dags/{DAG_ID}/details")["params"]


@pytest.fixture(scope="session")
def dataset_names() -> list[str]:
    from indata_ops.config import load_config

    return [dataset.name for dataset in load_config().datasets]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter) -> None:
    if MEASURED:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "measured.json").write_text(json.dumps(MEASURED, indent=2))
        terminalreporter.write_sep("-", "Airflow stack: measured")
        for what, value in MEASURED.items():
            terminalreporter.write_line(f"{what}: {value}")
