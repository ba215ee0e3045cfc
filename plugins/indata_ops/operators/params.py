"""The first task of a backup run: refuse bad trigger params before any work, then follow the chosen datasets."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.standard.operators.branch import BaseBranchOperator
from airflow.sdk.exceptions import AirflowFailException

from indata_ops.run_date import param_problems


class CheckParamsOperator(BaseBranchOperator):
    """Branch to the task group of every selected dataset; the others are skipped, not failed.

    Fails (without retrying: bad params do not heal) with one message naming every bad param: a run date that is
    not a real YYYY-MM-DD date, dataset names that are not configured, flags that are not booleans, keys of the
    run's conf that are not params of the DAG.

    :param run_date: the rendered run date (templated)
    :param datasets: the configured dataset names, which are also the task group ids
    """

    template_fields: Sequence[str] = ("run_date",)
    ui_color = "#f1f3f5"

    def __init__(self, *, run_date: str, datasets: Sequence[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.run_date = run_date
        self.datasets = datasets

    def choose_branch(self, context: Any) -> list[str]:
        params = context["params"]
        problems = param_problems(params, self.run_date, self.datasets, conf=context["dag_run"].conf,
                                  declared=list(self.dag.params))
        if problems:
            raise AirflowFailException("Invalid params for this run:\n" + "\n".join(problems))
        selected = [name for name in self.datasets if name in params["datasets"]]
        self.log.info("Run date %s; datasets %s (skipped: %s); full_refresh=%s, dry_run=%s", self.run_date,
                      ", ".join(selected), ", ".join(sorted(set(self.datasets) - set(selected))) or "none",
                      params["full_refresh"], params["dry_run"])
        return selected
