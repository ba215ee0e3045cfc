"""The run date every task keys on, and the check of the trigger form's params before any work.

Scheduled runs and backfills use their logical date. A manual run may set the ``run_date`` param; left empty,
it means the run's logical date, and when the run has none (Airflow 3 manual runs may not) the day the run was
due (``run_after``) in the DAG's time zone. Every value comes from the run's record, never from the clock: a retry
or a rerun of the same run keys on the same date.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from indata_ops.errors import PermanentError

RUN_DATE_MACRO = "indata_run_date"
# Rendered at run time; the DAG registers run_date_of under RUN_DATE_MACRO (user_defined_macros).
RUN_DATE_TEMPLATE = "{{ " + RUN_DATE_MACRO + "(params, dag_run, dag) }}"
FLAG_PARAMS = ("full_refresh", "dry_run")


def run_date_of(params: Mapping[str, Any], dag_run: Any, dag: Any) -> str:
    """``params.run_date`` if set (checked by the tasks), else the logical date as ``ds``, else run_after's day."""
    chosen = params.get("run_date")
    if chosen:
        return str(chosen)
    if dag_run.logical_date is not None:
        return dag_run.logical_date.astimezone(datetime.UTC).strftime("%Y-%m-%d")  # what ds would be
    return dag_run.run_after.astimezone(dag.timezone).strftime("%Y-%m-%d")


class InvalidRunDate(PermanentError, ValueError):
    """The run date is not a real YYYY-MM-DD date: the same on every try."""


def checked_run_date(value: str) -> str:
    """The rendered run date, refused unless it is a real YYYY-MM-DD date (it becomes S3 keys and SQL)."""
    try:
        parsed = datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRunDate(f"run_date must be a date as YYYY-MM-DD, got {value!r}") from None
    if parsed.isoformat() != value:
        raise InvalidRunDate(f"run_date must be a date as YYYY-MM-DD, got {value!r}")
    return value


def param_problems(params: Mapping[str, Any], run_date: str, datasets: Sequence[str],
                   conf: Mapping[str, Any] | None = None, declared: Sequence[str] = ()) -> list[str]:
    """Why the run's params cannot be used, one line per param (empty when they can).

    The trigger form's JSON schema refuses most of this already; this check also covers runs created without it
    (a conf from the CLI, a test) and reads as one message naming every bad param. Keys of the run's ``conf``
    that are not ``declared`` params are refused too (Airflow merges them into the params unchecked): a
    misspelt ``full_refesh`` would otherwise be ignored and the run would quietly do something else than asked.
    """
    problems = [f"conf key {key!r}: not a param of this DAG (its params: {', '.join(declared)})"
                for key in sorted(set(conf or {}) - set(declared))]
    try:
        checked_run_date(run_date)
    except ValueError:
        problems.append(f"param 'run_date': must be a date as YYYY-MM-DD, or empty for the run's logical date "
                        f"(got {params.get('run_date')!r})")
    selected = params.get("datasets")
    if not isinstance(selected, list) or not selected or not all(isinstance(name, str) for name in selected):
        problems.append(f"param 'datasets': must be a non-empty list of dataset names (got {selected!r})")
    else:
        unknown = [name for name in selected if name not in datasets]
        if unknown:
            problems.append(f"param 'datasets': unknown dataset {', '.join(map(repr, unknown))} "
                            f"(configured: {', '.join(datasets)})")
    for flag in FLAG_PARAMS:
        if not isinstance(params.get(flag), bool):
            problems.append(f"param {flag!r}: must be true or false (got {params.get(flag)!r})")
    return problems
