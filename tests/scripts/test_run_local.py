"""`make run` refuses a date it cannot run before starting anything: a run with no task must not look green."""
from __future__ import annotations

import os
import subprocess

import pytest

from scripts.common import REPO, module_command, module_environment


def run_local(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(module_command("scripts.run_local", *args), cwd=REPO,
                          env=module_environment({**os.environ, **env}), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("date", "env", "message"), [
    ("2026-10-01", {}, "make run: DATE 2026-10-01 is before the DAG's start date 2026-11-01; to back up earlier "
                       "dates, set settings.start_date in the datasets config (or BACKUP_START_DATE)"),
    ("2026-08-31", {"BACKUP_START_DATE": "2026-09-01"}, "DATE 2026-08-31 is before the DAG's start date 2026-09-01"),
    ("2026-11-31", {}, "make run: DATE must be a date as YYYY-MM-DD (got '2026-11-31')"),
])
def test_a_date_the_dag_cannot_run_is_refused_before_anything_starts(tmp_path, date, env, message):
    result = run_local("--date", date, "--local-dir", str(tmp_path / "local"), "--port", "1", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "local").exists()  # no stack, no Airflow home, no run folder


def test_the_start_date_setting_moves_the_dags_start_date(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BACKUP_START_DATE", "2025-01-01")
    dag = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py")).dags["indata_backup"]
    assert dag.start_date.isoformat() == "2025-01-01T00:00:00+00:00"


def test_the_summary_prints_the_validations_warnings_and_its_report(capsys):
    from scripts.run_local import print_summary

    dataset = {"files": 2, "bytes": 10, "bytes_sent": 10, "raw_table": "indata_raw.ventas (8 columns)",
               "counts": {"input": 3, "clean": 3, "rejected": 0, "duplicates": 0}, "checks_passed": "6/6",
               "warnings": ["presion: kept as text, but 62% of sampled values read as a number",
                            "email_without_at: expected 0 rows, actual 2 rows"],
               "report": "s3://b/reports/ventas/dt=2026-11-01/validation.html"}
    print_summary({"run_date": "2026-11-01", "state": "success", "seconds": 1.0,
                   "datasets": {"ventas": dataset, "clientes": {**dataset, "warnings": [], "report": None}}})

    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("warning:")] == [
        "warning: ventas.presion: kept as text, but 62% of sampled values read as a number",
        "warning: ventas.email_without_at: expected 0 rows, actual 2 rows"]
    assert [line for line in lines if line.startswith("report:")] == [
        "report: ventas s3://b/reports/ventas/dt=2026-11-01/validation.html"]


def test_the_summary_records_each_tasks_duration_and_a_skip_is_not_a_failure(stack):
    from scripts.run_local import summarize, unsuccessful

    def task(state: str, duration: float | None) -> dict:
        return {"state": state, "duration": duration, "xcom": None}

    # As an unchanged date's rerun leaves them: the crawl and the job skipped without running.
    outcome = {"state": "success", "tasks": {
        "check_params": task("success", 0.4),
        "ventas.check_fingerprint": task("success", 0.61234), "ventas.crawl_raw": task("skipped", None),
        "ventas.clean_dataset": task("skipped", None), "ventas.validate_clean": task("success", 2.5),
        "clientes.crawl_raw": task("success", 3.0)}}
    summary = summarize("2026-11-01", outcome, stack.endpoint, 9.0)

    assert summary["datasets"]["ventas"]["durations"] == {
        "check_fingerprint": 0.612, "crawl_raw": 0.0, "clean_dataset": 0.0, "validate_clean": 2.5}
    assert summary["datasets"]["ventas"]["states"]["crawl_raw"] == "skipped"
    assert summary["datasets"]["clientes"]["durations"] == {"crawl_raw": 3.0}
    assert summary["task_seconds"] == 6.5
    assert unsuccessful(outcome) == []
    for state in ("failed", "upstream_failed", "up_for_retry", "None"):
        broken = {**outcome, "tasks": {**outcome["tasks"], "ventas.clean_dataset": task(state, 1.0)}}
        assert unsuccessful(broken) == ["ventas.clean_dataset"]
