"""The restore DAG: imports cleanly, its trigger form guards the request, and its one task restores (or refuses)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, ParamValidationError

from indata_ops.config import load_config
from indata_ops.operators.restore import RestoreBackupOperator

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
                      "files": 3, "bytes": sum(map(len, backup.files.values()))}
    assert {path: (target / path).read_bytes() for path in backup.files} == backup.files


def test_an_empty_target_means_dataset_and_date(backup, tmp_path):
    operator(backup.bucket, tmp_path).execute({})
    assert (tmp_path / "ventas" / backup.run_date / "bytes.csv").read_bytes() == backup.files["bytes.csv"]


def test_a_mismatch_fails_the_task_with_the_report(backup, aws, tmp_path):
    aws("s3").delete_object(Bucket=backup.bucket, Key=backup.key("bytes.csv"))

    with pytest.raises(AirflowException, match=r"(?s)failed:.*MISSING +260  bytes\.csv +object not found"):
        operator(backup.bucket, tmp_path).execute({})


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
