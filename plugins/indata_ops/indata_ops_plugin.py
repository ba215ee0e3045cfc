"""The backup's Airflow plugin: the pools its DAG names exist as soon as an Airflow component starts.

Airflow's plugin manager imports this file from the plugins folder; ``on_starting`` runs when a scheduler,
triggerer or DAG processor job starts (the components that reach the metadata DB), and creates the missing
crawler pools (indata_ops.pools). A failure is logged, never fatal: the component starts anyway, and
``python -m indata_ops.pools`` does the same by hand.
"""
from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)


class CreatePoolsOnStart:
    @hookimpl
    def on_starting(self, component: Any) -> None:
        from airflow.jobs.job import Job

        if not isinstance(component, Job):  # a task runner: no metadata DB there
            return
        from indata_ops.config import load_config
        from indata_ops.pools import ensure_pools

        try:
            created = ensure_pools(load_config())
        except Exception:  # a broken config is reported by the DAG's import error; the component must start
            log.exception("indata_ops: could not create the crawler pools")
            return
        for pool in created:
            log.info("indata_ops: created pool %s (%s slot, deferred tasks counted)", pool.name, pool.slots)


class IndataOpsPlugin(AirflowPlugin):
    name = "indata_ops"
    listeners = [CreatePoolsOnStart()]
