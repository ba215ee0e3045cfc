"""`make run`: the indata_backup DAG for one date on the embedded local AWS stack, with a summary.

Starts the local AWS stack (state in .local/aws) unless one already answers on LOCAL_AWS_PORT, uses the
resources of the template `make deploy` deployed into it (the stack's outputs as BACKUP_* settings), prepares the
Airflow metadata DB under .local/airflow, runs the DAG for the date in-process (`dag.test`), prints a per-dataset
summary and writes it to .local/runs/<date>/summary.json. Exits non-zero when a task fails, showing its error, or
when no task ran; refuses a date before the DAG's start date (settings.start_date) before starting anything.

With --iam (`make run IAM=1`) the date runs as on AWS: the stack enforces IAM (its state in .local/aws-iam), the
template is deployed into it (`make deploy`'s code), the DAG runs as the Airflow worker role and the Glue job and
crawler as the job role. The worker gets its role's credentials as on an EC2 instance with the template's
instance profile: an aws_default connection without keys, and boto3's credential chain asking the stack's
role-credentials endpoint (botocore's container provider, AWS_CONTAINER_CREDENTIALS_FULL_URI), which assumes the
role as the service its trust policy names and hands out refreshable credentials. The stack's outputs include
BACKUP_WORKER_ROLE, so the backup task narrows its S3 client to its dataset and date with a session policy, as
on AWS (docs/backup.md); the connection names the stack as its STS endpoint for that assume.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from scripts.common import (
    REPO,
    airflow_environment,
    ensure_stack,
    local_connection_extra,
    module_command,
    module_environment,
)


def ensure_bucket(endpoint: str, bucket: str) -> None:
    """The bucket is infrastructure (on AWS it exists before the DAG runs); locally it is made here."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)


def use_deployed_stack(endpoint: str) -> None:
    """When `make deploy` has deployed the template into this stack, the run uses its resources: the stack's
    outputs become the BACKUP_* settings (bucket, databases, workgroup, Glue role) of this process and the DAG's."""
    import boto3

    from scripts.deploy import DEFAULT_STACK, deployed_settings

    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    settings = deployed_settings(cloudformation, DEFAULT_STACK)
    if settings:
        print(f"Using the resources of the deployed stack {DEFAULT_STACK}: "
              + ", ".join(f"{name}={value}" for name, value in settings.items()), flush=True)
        os.environ.update(settings)


def date_refusal(run_date: str, start_date: str) -> str | None:
    """Why the DAG cannot run this date, or None. Before the DAG's start date Airflow runs no task at all and
    still calls the run a success: a green run that backed nothing up."""
    try:
        day = datetime.date.fromisoformat(run_date)
    except ValueError:
        return f"DATE must be a date as YYYY-MM-DD (got {run_date!r})"
    if day < datetime.date.fromisoformat(start_date):
        return (f"DATE {run_date} is before the DAG's start date {start_date}; to back up earlier dates, set "
                "settings.start_date in the datasets config (or BACKUP_START_DATE) to the first day of the history")
    return None


def run_dag(run_date: str) -> dict:
    """Run the DAG in this process; return per-task states, durations (s) and XComs (imports Airflow only now)."""
    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=str(REPO / "dags" / "indata_backup.py"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag("indata_backup")
    day = datetime.date.fromisoformat(run_date)
    logical_date = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    dag_run = dag.test(logical_date=logical_date)
    with create_session() as session:
        instances = session.scalars(select(TaskInstance).where(TaskInstance.run_id == dag_run.run_id)).all()
        results = {row.task_id: XComModel.deserialize_value(row) for row in session.scalars(
            select(XComModel).where(XComModel.run_id == dag_run.run_id, XComModel.key == "return_value"))}
        tasks = {ti.task_id: {"state": str(ti.state), "duration": ti.duration, "xcom": results.get(ti.task_id)}
                 for ti in instances}
    return {"run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": tasks}


TASK_START = re.compile(r"\[DAG TEST\] running task <TaskInstance: indata_backup\.(\S+) ")
TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[")


def run_dag_logged(run_date: str, log_path: Path, env: dict[str, str] | None = None) -> tuple[dict, dict[str, str]]:
    """Run the DAG in a child process with its log in a file; returns the outcome and each failed task's error."""
    outcome_path = log_path.with_name("outcome.json")
    command = module_command("scripts.run_local", "--dag-test", run_date, "--outcome", str(outcome_path))
    errors: dict[str, list[str]] = {}
    current, capturing = None, False
    with log_path.open("w") as log, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                      text=True, cwd=REPO, env=module_environment(env)) as child:
        assert child.stdout is not None  # stdout=PIPE
        for line in child.stdout:
            log.write(line)
            if started := TASK_START.search(line):
                current = started.group(1)
            if ended := TASK_END.search(line):
                print(f"  finished {ended.group(1)}", flush=True)
            if "Task failed with exception" in line:
                capturing, errors[current or "?"] = True, []
            elif capturing and LOG_LINE.match(line):
                capturing = False
            elif capturing:
                errors[current or "?"].append(line.rstrip())
    if child.returncode != 0 and not outcome_path.exists():
        raise SystemExit(f"The DAG could not run; see {log_path}")
    return json.loads(outcome_path.read_text()), {task: "\n".join(lines) for task, lines in errors.items()}


def deploy_template(endpoint: str) -> dict[str, str]:
    """`make deploy` into the stack (as its administrator, the dummy keys); returns the stack's outputs."""
    from indata_ops.config import load_config
    from scripts.deploy import DEFAULT_STACK, deploy, template_parameters

    return deploy(DEFAULT_STACK, template_parameters(load_config().settings), endpoint, "us-east-1")


def worker_environment(endpoint: str, outputs: dict[str, str], trusted_service: str = "ec2.amazonaws.com"
                       ) -> dict[str, str]:
    """The DAG's environment as on an EC2 worker with the instance profile: no keys anywhere, the connection
    without login and password, and the credential chain ending at the role's credentials."""
    from local_aws.iam_enforcement import ROLE_CREDENTIALS_PATH

    role = outputs["WorkerRoleArn"].rsplit("/", 1)[-1]
    connection = {"conn_type": "aws", "extra": local_connection_extra(endpoint)}
    env = {name: value for name, value in os.environ.items()
           if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(AIRFLOW_CONN_AWS_DEFAULT=json.dumps(connection),
               AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{endpoint}{ROLE_CREDENTIALS_PATH}{trusted_service}/{role}")
    return env


def summarize(run_date: str, outcome: dict, endpoint: str, seconds: float) -> dict:
    import boto3

    from indata_ops.config import load_config

    config = load_config()
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
    datasets = {}
    for dataset in config.datasets:
        backup = outcome["tasks"].get(f"{dataset.name}.backup_files", {}).get("xcom") or {}
        validation = outcome["tasks"].get(f"{dataset.name}.validate_clean", {}).get("xcom") or {}
        try:
            table = glue.get_table(DatabaseName=config.settings.raw_database, Name=dataset.name)["Table"]
            columns = len(table["StorageDescriptor"]["Columns"])
            raw_table = f"{config.settings.raw_database}.{table['Name']} ({columns} columns)"
        except glue.exceptions.EntityNotFoundException:
            raw_table = None
        checks = validation.get("checks", [])
        tasks = {name.split(".", 1)[1]: t for name, t in outcome["tasks"].items()
                 if name.startswith(dataset.name + ".")}
        datasets[dataset.name] = {
            "states": {name: t["state"] for name, t in tasks.items()},
            # Seconds each task ran; a task skipped without running (an unchanged date's crawl and job) took none.
            "durations": {name: round(t.get("duration") or 0.0, 3) for name, t in tasks.items()},
            "files": backup.get("files"), "bytes": backup.get("bytes"), "bytes_sent": backup.get("bytes_sent"),
            "raw_table": raw_table, "counts": validation.get("counts"),
            "checks_passed": f"{sum(c['passed'] for c in checks)}/{len(checks)}" if checks else None,
            "warnings": validation.get("warnings", []),
            "report": (validation.get("report") or {}).get("html"),
        }
    task_seconds = sum(t.get("duration") or 0.0 for t in outcome["tasks"].values())
    return {"run_date": run_date, "state": outcome["state"], "seconds": round(seconds, 1),
            "task_seconds": round(task_seconds, 1), "datasets": datasets}


# A skipped task is fine: a dataset whose date is empty (on_empty: skip), an unchanged date's crawl and job.
OK_STATES = ("success", "skipped")


def unsuccessful(outcome: dict) -> list[str]:
    """The tasks that neither succeeded nor were skipped on purpose."""
    return [name for name, task in outcome["tasks"].items() if task["state"] not in OK_STATES]


def print_summary(summary: dict) -> None:
    print(f"\nindata_backup {summary['run_date']}: {summary['state']} in {summary['seconds']} s")
    header = f"{'dataset':<10} {'files':>5} {'bytes':>8} {'sent':>8}  {'raw table':<28} {'in':>5} {'clean':>5} " \
             f"{'rej':>4} {'dup':>4}  checks"
    print(header)
    print("-" * len(header))
    for name, d in summary["datasets"].items():
        c = d["counts"] or {}
        sent = d["bytes_sent"] if d["bytes_sent"] is not None else "-"
        print(f"{name:<10} {d['files'] or '-':>5} {d['bytes'] or '-':>8} {sent:>8}  "
              f"{d['raw_table'] or '-':<28} {c.get('input', '-'):>5} {c.get('clean', '-'):>5} "
              f"{c.get('rejected', '-'):>4} {c.get('duplicates', '-'):>4}  {d['checks_passed'] or '-'}")
    for name, d in summary["datasets"].items():
        for warning in d.get("warnings") or ():
            print(f"warning: {name}.{warning}")
    for name, d in summary["datasets"].items():
        if d.get("report"):
            print(f"report: {name} {d['report']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", 4566)))
    parser.add_argument("--local-dir", type=Path, default=REPO / ".local",
                        help="where the Airflow home, the stack's state and run summaries live")
    parser.add_argument("--iam", action="store_true",
                        help="as on AWS: IAM enforced, the template deployed, the worker and job roles' credentials")
    parser.add_argument("--dag-test", metavar="DATE", help=argparse.SUPPRESS)  # the child that runs the DAG
    parser.add_argument("--outcome", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dag_test:
        args.outcome.write_text(json.dumps(run_dag(args.dag_test), default=str))
        return 0
    from indata_ops.config import load_config

    if refusal := date_refusal(args.date, load_config().settings.start_date):
        print(f"make run: {refusal}", file=sys.stderr)
        return 2
    local = args.local_dir.resolve()
    started = time.monotonic()
    endpoint, stack = ensure_stack(args.port, local, enforce_iam=args.iam)
    try:
        os.environ.update(airflow_environment(endpoint, local))
        dag_env = worker_environment(endpoint, deploy_template(endpoint)) if args.iam else None
        use_deployed_stack(endpoint)
        ensure_bucket(endpoint, load_config().settings.bucket)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
        run_dir = local / "runs" / args.date
        run_dir.mkdir(parents=True, exist_ok=True)
        print(f"Running indata_backup for {args.date} (Airflow log: {run_dir / 'airflow.log'})", flush=True)
        if dag_env is not None:
            dag_env.update({name: value for name, value in os.environ.items() if name.startswith("BACKUP_")})
        outcome, errors = run_dag_logged(args.date, run_dir / "airflow.log", dag_env)
        summary = summarize(args.date, outcome, endpoint, time.monotonic() - started)
    finally:
        if stack is not None:
            stack.stop()
    out = run_dir / "summary.json"
    out.write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    print(f"Summary written to {out}")
    failed = unsuccessful(outcome)
    if not outcome["tasks"]:  # Airflow calls a run without tasks a success; nothing was backed up
        print(f"\nNo task ran for {args.date} (full log: {run_dir / 'airflow.log'})", file=sys.stderr)
        return 1
    if failed or summary["state"] != "success":
        for task, error in errors.items():
            print(f"\n--- {task} failed ---\n{error}", file=sys.stderr)
        print(f"\nNot successful: {', '.join(failed)} (full log: {run_dir / 'airflow.log'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
