"""DAG integrity: the DAG imports cleanly, without network or database at parse time, and chains as designed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAIN = ["backup_files", "wait_for_manifest", "crawl_raw", "clean_dataset", "validate_clean"]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["indata_backup", "indata_restore"]
    return bag.dags["indata_backup"]


@pytest.fixture(scope="module")
def config():
    from indata_ops.config import load_config

    return load_config()


def test_each_dataset_chains_the_five_stages_in_order(dag, config):
    expected = {f"{d.name}.{task}" for d in config.datasets for task in CHAIN}
    assert set(dag.task_ids) == expected
    for dataset in config.datasets:
        for upstream, downstream in zip(CHAIN, CHAIN[1:]):
            task = dag.get_task(f"{dataset.name}.{upstream}")
            assert task.downstream_task_ids == {f"{dataset.name}.{downstream}"}
        assert dag.get_task(f"{dataset.name}.{CHAIN[0]}").upstream_task_ids == set()
    # No cycles: a topological order covers every task.
    assert len(dag.topological_sort()) == len(expected)


def test_schedule_catchup_and_documentation(dag, config):
    assert dag.schedule == "@daily" or str(dag.timetable.summary) == "@daily"
    assert dag.catchup is True
    assert dag.max_active_runs == config.settings.max_active_runs
    assert "```mermaid" in dag.doc_md and "validate_clean" in dag.doc_md
    assert dag.owner == "data-platform"
    assert {"indata", "backup"} <= set(dag.tags)


def test_tasks_get_their_aws_settings_from_config(dag, config):
    settings = config.settings
    dataset = config.datasets[0]
    crawl = dag.get_task(f"{dataset.name}.crawl_raw")
    assert crawl.config["DatabaseName"] == settings.raw_database
    assert crawl.config["Targets"]["S3Targets"][0]["Path"] == f"s3://{settings.bucket}/raw/{dataset.name}/"
    clean = dag.get_task(f"{dataset.name}.clean_dataset")
    assert clean.script_args["--raw_path"] == f"s3://{settings.bucket}/raw/{dataset.name}/dt={{{{ params.run_date or ds }}}}/"
    assert clean.script_args["--clean_database"] == settings.clean_database
    assert clean.stop_job_run_on_kill is True
    assert Path(clean.script_location).is_file()
    validate = dag.get_task(f"{dataset.name}.validate_clean")
    assert validate.database == settings.clean_database
    assert [o.uri for o in validate.outlets] == [f"s3://{settings.bucket}/clean/{dataset.name}"]
    wait = dag.get_task(f"{dataset.name}.wait_for_manifest")
    assert wait.bucket_key == f"manifests/{dataset.name}/dt={{{{ params.run_date or ds }}}}/manifest.json"


def test_the_backup_is_encrypted_as_configured_and_the_sensor_waits_for_a_complete_manifest(dag, config):
    from indata_ops.sensors.manifest import ManifestSensor

    dataset = config.datasets[0]
    backup = dag.get_task(f"{dataset.name}.backup_files")
    assert backup.extra_args == config.settings.encryption_args() == {"ServerSideEncryption": "AES256"}
    assert backup.full_refresh == "{{ params.full_refresh }}" and dag.params["full_refresh"] is False
    wait = dag.get_task(f"{dataset.name}.wait_for_manifest")
    assert isinstance(wait, ManifestSensor) and not wait.deferrable
    assert (wait.dataset, wait.run_date) == (dataset.name, "{{ params.run_date or ds }}")


PARSE_WITHOUT_NETWORK_OR_DB = r"""
import socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("network access at DAG parse time")
socket.socket.connect = refuse
socket.create_connection = refuse
import importlib.util
spec = importlib.util.spec_from_file_location("indata_backup_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(sorted(module.dag.task_ids)[0])
"""


@pytest.mark.parametrize(("dag_file", "first_task"), [("indata_backup.py", "clientes.backup_files"),
                                                     ("indata_restore.py", "restore_files")])
def test_parsing_needs_no_network_and_no_database(tmp_path, dag_file, first_task):
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins"),
           # A metadata DB that cannot exist: any DB access while parsing fails.
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/missing/dir/airflow.db",
           "AIRFLOW_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", PARSE_WITHOUT_NETWORK_OR_DB, str(REPO / "dags" / dag_file)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(first_task)
    assert not (tmp_path / "missing").exists()


def test_a_bad_config_is_an_import_error_naming_dataset_and_field(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    bad = tmp_path / "datasets.yaml"
    text = (REPO / "include" / "config" / "datasets.yaml").read_text().replace("format: json", "format: xml", 1)
    bad.write_text(text)
    monkeypatch.setenv("BACKUP_CONFIG", str(bad))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    # Both DAGs read the one config: each reports the problem.
    assert sorted(Path(file).name for file in bag.import_errors) == ["indata_backup.py", "indata_restore.py"]
    for error in bag.import_errors.values():
        assert "dataset 'clientes'" in error and "field 'format'" in error
