"""DAG integrity: the DAG imports cleanly, without network or database at parse time, and chains as designed."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
from airflow.sdk.exceptions import ParamValidationError

from indata_ops.run_date import RUN_DATE_TEMPLATE as RUN_DATE

REPO = Path(__file__).resolve().parents[2]
CHAIN = ["backup_files", "wait_for_manifest", "check_fingerprint", "crawl_raw", "clean_dataset", "validate_clean"]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["indata_backup", "indata_downstream_example", "indata_restore"]
    return bag.dags["indata_backup"]


@pytest.fixture(scope="module")
def config():
    from indata_ops.config import load_config

    return load_config()


def test_check_params_starts_every_dataset_chain_of_six_stages(dag, config):
    expected = {"check_params"} | {f"{d.name}.{task}" for d in config.datasets for task in CHAIN}
    assert set(dag.task_ids) == expected
    for dataset in config.datasets:
        for upstream, downstream in zip(CHAIN, CHAIN[1:]):
            task = dag.get_task(f"{dataset.name}.{upstream}")
            # check_fingerprint also leads straight to validation, past the crawl and the job it may skip.
            shortcut = {f"{dataset.name}.validate_clean"} if upstream == "check_fingerprint" else set()
            assert task.downstream_task_ids == {f"{dataset.name}.{downstream}"} | shortcut
        assert dag.get_task(f"{dataset.name}.{CHAIN[0]}").upstream_task_ids == {"check_params"}
    assert dag.get_task("check_params").upstream_task_ids == set()
    # No cycles: a topological order covers every task.
    assert len(dag.topological_sort()) == len(expected)


def test_schedule_catchup_and_documentation(dag, config):
    assert dag.schedule == "@daily" or str(dag.timetable.summary) == "@daily"
    assert dag.catchup is True
    assert dag.max_active_runs == config.settings.max_active_runs
    assert "```mermaid" in dag.doc_md
    for task_id in ["check_params", *CHAIN]:  # the doc describes every task
        assert f"`{task_id}`" in dag.doc_md or f"`<dataset>.{task_id}`" in dag.doc_md, task_id
    assert dag.owner == "data-platform"
    assert {"indata", "backup"} <= set(dag.tags)


def test_tasks_get_their_aws_settings_from_config(dag, config):
    settings = config.settings
    dataset = config.datasets[0]
    crawl = dag.get_task(f"{dataset.name}.crawl_raw")
    assert crawl.config["DatabaseName"] == settings.raw_database
    assert crawl.config["Targets"]["S3Targets"][0]["Path"] == f"s3://{settings.bucket}/raw/{dataset.name}/"
    clean = dag.get_task(f"{dataset.name}.clean_dataset")
    assert clean.script_args["--raw_path"] == f"s3://{settings.bucket}/raw/{dataset.name}/dt={RUN_DATE}/"
    assert clean.script_args["--clean_database"] == settings.clean_database
    assert clean.stop_job_run_on_kill is True
    assert clean.create_job_kwargs["ExecutionProperty"] == {"MaxConcurrentRuns": settings.max_active_runs}
    assert Path(clean.script_location).is_file()
    validate = dag.get_task(f"{dataset.name}.validate_clean")
    assert validate.database == settings.clean_database
    assert [(o.name, o.uri) for o in validate.outlets] == [(f"indata_clean_{dataset.name}",
                                                           f"s3://{settings.bucket}/clean/{dataset.name}")]
    wait = dag.get_task(f"{dataset.name}.wait_for_manifest")
    assert wait.bucket_key == f"manifests/{dataset.name}/dt={RUN_DATE}/manifest.json"


def test_the_fingerprint_branch_skips_to_validation_and_feeds_the_job(dag, config):
    from indata_ops.operators.fingerprint import CheckFingerprintOperator

    for dataset in config.datasets:
        task = {name: dag.get_task(f"{dataset.name}.{name}") for name in CHAIN}
        check = task["check_fingerprint"]
        assert isinstance(check, CheckFingerprintOperator)
        assert (check.crawl_task_id, check.validate_task_id) == (task["crawl_raw"].task_id,
                                                                 task["validate_clean"].task_id)
        # The fingerprint covers what the crawl and the job get, and the job stores the one computed.
        assert check.crawler_config == task["crawl_raw"].config
        job_arguments = {k: v for k, v in task["clean_dataset"].script_args.items() if k != "--input_fingerprint"}
        assert check.job_arguments == job_arguments
        assert (check.script_location, list(check.py_packages)) == (task["clean_dataset"].script_location,
                                                                    list(task["clean_dataset"].py_packages))
        assert task["clean_dataset"].script_args["--input_fingerprint"] == (
            f"{{{{ ti.xcom_pull(task_ids='{dataset.name}.check_fingerprint', key='fingerprint') }}}}")
        assert (check.full_refresh, check.run_date) == ("{{ params.full_refresh }}", RUN_DATE)
        assert check.glue_version == config.settings.glue_version
        # Validation runs after the job, or after a skip of the crawl and the job; never after a failure.
        assert task["validate_clean"].trigger_rule == "none_failed_min_one_success"
        assert {task[name].trigger_rule for name in CHAIN[:-1]} == {"all_success"}
        # No relationship check in the shipped file: no other dataset's job to wait for, nothing to guard.
        assert task["validate_clean"].chain_task_id is None


def test_a_relationship_check_waits_for_the_other_datasets_job(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.relationship_config import config_with_relationship

    monkeypatch.setenv("BACKUP_CONFIG", str(config_with_relationship(tmp_path)))
    bag = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py"))
    assert bag.import_errors == {}
    related = bag.dags["indata_backup"]
    ventas, clientes = related.get_task("ventas.validate_clean"), related.get_task("clientes.validate_clean")
    assert ventas.upstream_task_ids == {"ventas.clean_dataset", "ventas.check_fingerprint", "clientes.clean_dataset"}
    # Its trigger rule would also run it after clientes' job alone: it checks that its own chain ran.
    assert (ventas.trigger_rule, ventas.chain_task_id) == ("none_failed_min_one_success", "ventas.check_fingerprint")
    assert clientes.upstream_task_ids == {"clientes.clean_dataset", "clientes.check_fingerprint"}
    assert clientes.chain_task_id is None
    assert len(related.topological_sort()) == len(related.task_ids)


def test_the_backup_is_encrypted_as_configured_and_the_sensor_waits_for_a_complete_manifest(dag, config):
    from indata_ops.sensors.manifest import ManifestSensor

    dataset = config.datasets[0]
    backup = dag.get_task(f"{dataset.name}.backup_files")
    assert backup.extra_args == config.settings.encryption_args() == {"ServerSideEncryption": "AES256"}
    assert backup.full_refresh == "{{ params.full_refresh }}" and dag.params["full_refresh"] is False
    assert backup.dry_run == "{{ params.dry_run }}" and dag.params["dry_run"] is False
    wait = dag.get_task(f"{dataset.name}.wait_for_manifest")
    assert isinstance(wait, ManifestSensor)
    assert (wait.dataset, wait.run_date) == (dataset.name, RUN_DATE)


def test_only_the_backup_narrows_its_session_and_only_with_the_worker_role_setting(dag, config, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    names = [dataset.name for dataset in config.datasets]
    assert config.settings.worker_role is None
    assert {dag.get_task(f"{name}.backup_files").worker_role for name in names} == {None}
    role = "arn:aws:iam::123456789012:role/indata-airflow-worker"
    monkeypatch.setenv("BACKUP_WORKER_ROLE", role)
    narrowed = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py")).dags["indata_backup"]
    assert {narrowed.get_task(f"{name}.backup_files").worker_role for name in names} == {role}
    # The sensor, crawl, clean and validate tasks keep the connection's session (they write elsewhere).
    assert not [task.task_id for task in narrowed.tasks
                if hasattr(task, "worker_role") and not task.task_id.endswith(".backup_files")]


# --- params -----------------------------------------------------------------------------------------------------

def test_the_trigger_form_offers_a_date_picker_a_multi_select_and_two_flags(dag, config):
    names = [d.name for d in config.datasets]
    schema = {name: dag.params.get_param(name).schema for name in ("run_date", "datasets", "full_refresh", "dry_run")}
    assert schema["run_date"]["type"] == ["null", "string"] and schema["run_date"]["format"] == "date"
    # Airflow's form renders an array with `examples` as a multi-select; items.enum is what validation enforces.
    assert schema["datasets"]["type"] == "array" and schema["datasets"]["examples"] == names
    assert schema["datasets"]["items"] == {"type": "string", "enum": names}
    assert schema["full_refresh"]["type"] == schema["dry_run"]["type"] == "boolean"
    assert dag.params.validate() == {"run_date": None, "datasets": names, "full_refresh": False, "dry_run": False}


@pytest.mark.parametrize(("conf", "message"), [
    ({"run_date": "2026-11-01' OR '1'='1"}, "Invalid input for param run_date: .* is not a 'date'"),
    ({"run_date": "../../etc"}, "Invalid input for param run_date: '../../etc' is not a 'date'"),
    ({"run_date": "2026-02-30"}, "Invalid input for param run_date"),
    ({"datasets": ["ventas", "../clientes"]}, "Invalid input for param datasets: '../clientes' is not one of"),
    ({"datasets": []}, "Invalid input for param datasets: .* should be non-empty"),
    ({"datasets": ["ventas", "ventas"]}, "Invalid input for param datasets: .* non-unique elements"),
    ({"dry_run": "yes"}, "Invalid input for param dry_run: 'yes' is not of type 'boolean'"),
])
def test_the_trigger_form_refuses_bad_params_naming_them(dag, conf, message):
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=message):
        params.update(conf)
        params.validate()


def render_run_date(dag, params: dict, logical_date=None, run_after=None) -> str:
    """What every task renders for a run with these params and dates (the real DAG's macro, a stand-in run)."""
    dag_run = SimpleNamespace(logical_date=logical_date, run_after=run_after)
    context = {"params": {**dag.params.validate(), **params}, "dag_run": dag_run, "dag": dag}
    return dag.get_template_env().from_string(RUN_DATE).render(**context)


def test_the_run_date_is_the_param_else_the_logical_date_else_the_day_the_run_was_due(dag):
    assert dag.timezone.name == "UTC"
    due = pendulum.datetime(2026, 11, 2, 23, 30, tz="America/Bogota")  # 2026-11-03 04:30 UTC
    assert render_run_date(dag, {"run_date": "2026-11-05"}, logical_date=due, run_after=due) == "2026-11-05"
    assert render_run_date(dag, {}, logical_date=pendulum.datetime(2026, 11, 1, tz="UTC"), run_after=due) == \
        "2026-11-01"
    # Manual runs in Airflow 3 may have no logical date (no `ds`): the due day in the DAG's time zone (UTC).
    assert render_run_date(dag, {}, logical_date=None, run_after=due) == "2026-11-03"


@pytest.mark.parametrize(("params", "messages"), [
    ({"run_date": "2026-11-01; DROP TABLE ventas"},
     ["param 'run_date': must be a date as YYYY-MM-DD, or empty for the run's logical date "
      "(got '2026-11-01; DROP TABLE ventas')"]),
    ({"datasets": ["ventas", "../../etc/passwd"], "full_refresh": "yes"},
     ["param 'datasets': unknown dataset '../../etc/passwd' (configured: ventas, clientes)",
      "param 'full_refresh': must be true or false (got 'yes')"]),
    ({"datasets": "ventas"}, ["param 'datasets': must be a non-empty list of dataset names (got 'ventas')"]),
    # Airflow merges a conf's unknown keys into the params unchecked: a misspelt flag would be ignored.
    ({"full_refesh": True, "dataset": ["ventas"]},
     ["conf key 'dataset': not a param of this DAG (its params: run_date, datasets, full_refresh, dry_run)",
      "conf key 'full_refesh': not a param of this DAG (its params: run_date, datasets, full_refresh, dry_run)"]),
])
def test_check_params_refuses_bad_values_before_any_work_naming_each_param(dag, params, messages):
    from airflow.sdk.exceptions import AirflowFailException

    check = copy.copy(dag.get_task("check_params"))
    values = {**dag.params.validate(), **params}
    check.run_date = values["run_date"] or "2026-11-01"
    with pytest.raises(AirflowFailException) as failure:
        check.choose_branch({"params": values, "dag_run": SimpleNamespace(conf=params)})
    assert str(failure.value).splitlines() == ["Invalid params for this run:", *messages]
    assert check.retries == 0


def test_check_params_follows_only_the_selected_datasets(dag):
    check = copy.copy(dag.get_task("check_params"))
    check.run_date = "2026-11-01"
    params = {**dag.params.validate(), "datasets": ["clientes"]}
    dag_run = SimpleNamespace(conf={"datasets": ["clientes"]})
    assert check.choose_branch({"params": params, "dag_run": dag_run}) == ["clientes"]  # a group id: its roots run


# --- operations: deferral, pools, retries, timeouts, notices -------------------------------------------------------

WAITS = ["wait_for_manifest", "crawl_raw", "clean_dataset", "validate_clean"]


def test_every_wait_defers_by_default(dag, config):
    assert config.settings.deferrable is True
    for dataset in config.datasets:
        assert [dag.get_task(f"{dataset.name}.{task}").deferrable for task in WAITS] == [True] * 4


def test_the_deferrable_setting_turns_every_wait_into_polling(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BACKUP_DEFERRABLE", "false")
    polling = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py")).dags["indata_backup"]
    assert {polling.get_task(f"{d}.{task}").deferrable for d in ("ventas", "clientes") for task in WAITS} == {False}


def test_each_crawler_has_a_one_slot_pool_that_counts_deferred_crawls(dag, config):
    from indata_ops.pools import required_pools

    pools = {pool.name: pool for pool in required_pools(config)}
    for dataset in config.datasets:
        crawl = dag.get_task(f"{dataset.name}.crawl_raw")
        pool = pools[crawl.pool]
        assert crawl.pool == f"crawler_{crawl.config['Name']}"
        assert (pool.slots, pool.include_deferred) == (1, True)
        assert pool.cli() == f"airflow pools set {crawl.pool} 1 '{pool.description}' --include-deferred"
    assert len(pools) == len(config.datasets)
    others = {task.pool for task in dag.tasks if not task.task_id.endswith(".crawl_raw")}
    assert others == {"default_pool"}


def test_retries_and_timeouts_suit_each_kind_of_task(dag, config):
    minutes = lambda delta: delta.total_seconds() / 60  # noqa: E731
    check = dag.get_task("check_params")
    assert (check.retries, minutes(check.execution_timeout)) == (0, 5)
    for dataset in config.datasets:
        task = {name: dag.get_task(f"{dataset.name}.{name}") for name in CHAIN}
        assert (task["backup_files"].retries, task["backup_files"].retry_exponential_backoff) == (3, True)
        assert task["wait_for_manifest"].retries == 0 and task["wait_for_manifest"].timeout == 6 * 3600
        assert (task["crawl_raw"].retries, task["clean_dataset"].retries, task["validate_clean"].retries) == (1, 1, 2)
        assert task["check_fingerprint"].retries == 2
        # Glue stops a run that outlives the task.
        assert task["clean_dataset"].create_job_kwargs["Timeout"] == minutes(task["clean_dataset"].execution_timeout)
    assert all(task.execution_timeout for task in dag.tasks)


def test_every_task_sends_the_failure_notice(dag):
    from indata_ops.notifiers.failure import BackupFailureNotifier

    for task in dag.tasks:
        [notifier] = task.on_failure_callback
        assert isinstance(notifier, BackupFailureNotifier)
        assert (notifier.email_to, notifier.slack_webhook_conn_id) == ([], None)  # log only, as configured


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


@pytest.mark.parametrize(("dag_file", "first_task"), [("indata_backup.py", "check_params"),
                                                     ("indata_restore.py", "restore_files"),
                                                     ("indata_downstream_example.py", "summarize_partitions")])
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
    # Every DAG reads the one config: each reports the problem.
    assert sorted(Path(file).name for file in bag.import_errors) == [
        "indata_backup.py", "indata_downstream_example.py", "indata_restore.py"]
    for error in bag.import_errors.values():
        assert "dataset 'clientes'" in error and "field 'format'" in error
