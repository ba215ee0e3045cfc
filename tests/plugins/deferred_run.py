"""Running an operator's deferrable path to the end in the test process, as worker + triggerer would.

The operator raises TaskDeferred; the trigger's async run() is driven against the live local stack until its
first event; the method the operator named receives that event (and the kwargs it deferred with).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from airflow.exceptions import TaskDeferred


class XComRecorder:
    """Stands in for the task instance in operator-level tests (the DAG tests use a real Airflow)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = "tests", "task", "manual", -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def trigger_events(trigger: Any, count: int = 1) -> list[Any]:
    """The first ``count`` events a trigger yields."""

    async def collect() -> list[Any]:
        events = []
        async for event in trigger.run():
            events.append(event)
            if len(events) == count:
                break
        return events

    return asyncio.run(collect())


def task_context() -> dict[str, Any]:
    return {"ti": XComRecorder()}


def run_deferred(operator: Any, context: dict[str, Any] | None = None) -> tuple[Any, list[TaskDeferred]]:
    """Executes until the operator stops deferring; returns (its result, the TaskDeferred of each deferral)."""
    context = context or task_context()
    deferrals = []
    method: Callable[..., Any] = operator.execute
    kwargs: dict[str, Any] = {}
    while True:
        try:
            return method(context, **kwargs), deferrals
        except TaskDeferred as deferred:
            deferrals.append(deferred)
            # The triggerer rebuilds the trigger from serialize(): so does this.
            classpath, trigger_kwargs = deferred.trigger.serialize()
            module, _, name = classpath.rpartition(".")
            trigger = getattr(__import__(module, fromlist=[name]), name)(**trigger_kwargs)
            event = trigger_events(trigger)[0]
            method = getattr(operator, deferred.method_name)
            kwargs = {**(deferred.kwargs or {}), "event": event.payload}
