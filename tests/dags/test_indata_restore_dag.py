"""The restore DAG: imports cleanly, its trigger form guards the request, and its one task restores (or refuses);
on a damaged backup it restores every good file, then fails, without retries, naming the ones it could not."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError

from indata_ops.config import load_config
from indata_ops.operators.restore import RestoreBackupOperator
from indata_ops.restore import REPORT_NAME
from tests.dags.test_indata_backup_runs import run_child
from tests.plugins.damaged_backup import damaged_backup  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_config()


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "indata_restore.py"))
    assert bag.import_errors == {}
    return bag.dags["indata_restore"]


def operator(bucket: str, restore_root: Path, **request: str) -> RestoreBackupOperator:
    """The DAG's operator as the trigger form would fill it, pointed at the test's bucket and restore root."""
    values = {"dataset": "ventas", "run_date": "2026-11-01", "target": "", **request}
    return RestoreBackupOperator(task_id="restore_files", **values, datasets=[d.name for d in CONFIG.datasets],
                                 bucket=bucket, restore_root=str(restore_root))


def test_one_manual_task_configured_from_the_config(dag):
    assert dag.schedule is None  # manual runs only
    assert dag.task_ids == ["restore_files"]
    task = dag.get_task("restore_files")
    assert isinstance(task, RestoreBackupOperator)
    assert (task.bucket, task.restore_root) == (CONFIG.settings.bucket, str(CONFIG.settings.restore_root))
    assert task.datasets == [d.name for d in CONFIG.datasets]
    assert task.retries == 0
    assert "### INDATA restore" in dag.doc_md


def test_the_request_is_templated_from_the_trigger_form(dag):
    task = copy.deepcopy(dag.get_task("restore_files"))
    task.render_template_fields({"params": {"dataset": "clientes", "date": "2026-11-02", "target": "a b/ñ"}})
    assert (task.dataset, task.run_date, task.target) == ("clientes", "2026-11-02", "a b/ñ")


@pytest.mark.parametrize(("conf", "message"), [({"dataset": "nope", "date": "2026-11-01"}, "'nope' is not one of"),
                                               ({"dataset": "ventas", "date": "2026-13-01"}, "is not a 'date'"),
                                               ({"dataset": "ventas"}, "No value passed")])
def test_the_trigger_form_refuses_unknown_datasets_and_bad_dates(dag, conf, message):
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=message):
        params.update(conf)
        params.validate()


def test_the_operator_restores_into_the_restore_root(backup, tmp_path):
    result = operator(backup.bucket, tmp_path, target="ventas día 1").execute({})

    target = tmp_path / "ventas día 1"
    assert result == {"dataset": "ventas", "run_date": backup.run_date, "target": str(target.resolve()),
                      "files": 3, "bytes": sum(map(len, backup.files.values())),
                      "report": str(target.resolve() / REPORT_NAME)}
    assert {path: (target / path).read_bytes() for path in backup.files} == backup.files


def test_an_empty_target_means_dataset_and_date(backup, tmp_path):
    operator(backup.bucket, tmp_path).execute({})
    assert (tmp_path / "ventas" / backup.run_date / "bytes.csv").read_bytes() == backup.files["bytes.csv"]


def failure_table(damaged, target: Path) -> str:
    """The table the task fails with, for the damaged backup."""
    width = max(len(failure.path) for failure in damaged.failures)
    return "\n".join([
        f"reason    {'path':{width}}  version  detail", "-" * (width + 27),
        *(f"{f.reason:8}  {f.path:{width}}  -        {f.detail}" for f in damaged.failures),
        f"ventas {damaged.run_date}: 237 of 240 files restored ({sum(map(len, damaged.intact.values()))} bytes), "
        f"3 failed: 1 checksum, 1 missing, 1 size; report: {target / REPORT_NAME}"])


def restored_files(target: Path) -> dict[str, bytes]:
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*")
            if p.is_file() and p.name != REPORT_NAME}


def test_a_damaged_backup_is_restored_around_the_damage_then_the_task_fails(damaged_backup, tmp_path):
    target = (tmp_path / "ventas" / damaged_backup.run_date).resolve()

    with pytest.raises(AirflowFailException) as failed:  # not retried: a corrupted object does not heal
        operator(damaged_backup.bucket, tmp_path).execute({})

    assert str(failed.value) == (f"Restore of ventas on {damaged_backup.run_date} into {target}: 3 file(s) could "
                                 f"not be restored:\n{failure_table(damaged_backup, target)}")
    assert restored_files(target) == damaged_backup.intact
    report = json.loads((target / REPORT_NAME).read_text())
    assert [(f["path"], f["reason"]) for f in report["failed"]] == [
        (f.path, f.reason) for f in damaged_backup.failures]
    assert report["counts"] == {"files": 240, "restored": 237, "failed": 3}


def test_the_dag_run_fails_once_with_the_table_in_its_log(damaged_backup, stack, tmp_path):
    """The real DAG through `dag.test` (Airflow's task runner and metadata DB) in a child process."""
    home = tmp_path / "airflow"
    home.mkdir()
    connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                  "extra": {"endpoint_url": stack.endpoint, "region_name": "us-east-1"}}
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
           "PYTHONPATH": str(REPO / "plugins"), "BACKUP_BUCKET": damaged_backup.bucket,
           "BACKUP_RESTORE_ROOT": str(tmp_path / "restores")}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    result, outcome = run_child(env, "indata_restore", run_after="2026-12-01T09:00:00+00:00",
                                conf={"dataset": "ventas", "date": damaged_backup.run_date, "target": "day one"})

    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    run = json.loads(outcome.read_text())
    assert (run["state"], run["states"], run["tries"]) == ("failed", {"restore_files": "failed"}, {"restore_files": 1})
    target = (tmp_path / "restores" / "day one").resolve()
    assert failure_table(damaged_backup, target) in log
    assert restored_files(target) == damaged_backup.intact


@pytest.mark.parametrize(("request_", "message"), [
    ({"target": "../outside"}, "must be a path inside"),
    ({"target": "a/../../outside"}, "must be a path inside"),
    ({"target": "/etc/indata"}, "must name a path inside"),
    ({"dataset": "../ventas"}, "unknown dataset '../ventas'"),
    ({"run_date": "2026-11-01/.."}, "run_date must be a date"),
])
def test_injection_attempts_are_refused_before_any_download(aws_connection, tmp_path, request_, message):
    # A bucket that does not exist: any S3 call would fail with a ClientError, not the refusal expected here.
    task = operator("no-such-bucket", tmp_path / "restores", **request_)

    with pytest.raises(ValueError, match=message):
        task.execute({})
    assert list(tmp_path.iterdir()) == []
