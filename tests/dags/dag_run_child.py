"""Runs one DAG with `dag.test` in this process and writes what happened as JSON: the child of the DAG run tests.

Run in a child process so that its Airflow configuration (home, connection, BACKUP_* settings) and its log are
its own; the parent reads the log from stdout and the outcome from --outcome.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--logical-date", help="omitted: a run without a logical date, as a manual trigger may be")
    parser.add_argument("--run-after", required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--no-retries", action="store_true", help="fail at the first error (no retry delays)")
    parser.add_argument("--outcome", type=Path, required=True)
    args = parser.parse_args()

    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(args.dag_id)
    if args.no_retries:
        for task in dag.tasks:
            task.retries = 0
    run = dag.test(logical_date=pendulum.parse(args.logical_date) if args.logical_date else None,
                   run_after=pendulum.parse(args.run_after), run_conf=json.loads(args.conf))
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.run_id == run.run_id, TaskInstance.dag_id == args.dag_id)).all()
        states = {ti.task_id: str(ti.state) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
        times = {ti.task_id: [ti.start_date.isoformat(), ti.end_date.isoformat()] for ti in instances
                 if ti.start_date and ti.end_date}
        xcoms = {(row.task_id, row.key): XComModel.deserialize_value(row) for row in session.scalars(
            select(XComModel).where(XComModel.run_id == run.run_id, XComModel.dag_id == args.dag_id))}
        events = [{"asset": name, "extra": extra} for name, extra in session.execute(
            select(AssetModel.name, AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run.run_id))]
        queued = sorted({(name, dag_id) for name, dag_id in session.execute(
            select(AssetModel.name, AssetDagRunQueue.target_dag_id)
            .join(AssetModel, AssetDagRunQueue.asset_id == AssetModel.id))})
    args.outcome.write_text(json.dumps({
        "run_id": run.run_id, "state": str(run.state), "logical_date": str(run.logical_date), "states": states,
        "tries": tries, "times": times,
        "xcom": {f"{task}:{key}": value for (task, key), value in xcoms.items()},
        "asset_events": events, "queued": queued}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
