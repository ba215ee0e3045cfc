"""Athena side of validation: start a query, wait for it (or let the triggerer wait), read its rows."""
from __future__ import annotations

import time

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.sdk.exceptions import AirflowException

from indata_ops.errors import ATHENA_USER_ERROR, failure

RUNNING_STATES = AthenaHook.INTERMEDIATE_STATES
# The first look after the start waits this long, and each later one half as long again as the one before, up to
# the caller's poll interval: a short query is seen finished within a fraction of a second of its end (the
# provider's poll sleeps a whole interval first; 8 looks in the first 2 s), and a long one still costs one
# GetQueryExecution per interval.
FIRST_POLL_SECONDS = 0.05
POLL_GROWTH = 1.5


class ValidationQueryHook(AthenaHook):
    """AthenaHook that runs queries to the end and returns their rows, or fails with Athena's reason."""

    def start(self, sql: str, database: str, output_location: str, workgroup: str) -> str:
        """StartQueryExecution, logging the query and its id. Not the provider's run_query: that one also hands
        the SQL to common.sql's hook lineage, which parses it with sqlglot (0.3 s on a task's first query) to
        record that a check read the partition it checks."""
        query_id = self.get_conn().start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": database},
            ResultConfiguration={"OutputLocation": output_location}, WorkGroup=workgroup)["QueryExecutionId"]
        self.log.info("Athena query %s (workgroup %s, database %s):\n%s", query_id, workgroup, database, sql)
        return query_id

    def wait(self, query_id: str, max_seconds: float, max_delay: float) -> str | None:
        """The query's state once it is final, or its state after max_seconds."""
        delay = FIRST_POLL_SECONDS
        deadline = time.monotonic() + max_seconds
        while (state := self.check_query_status(query_id)) in RUNNING_STATES and time.monotonic() < deadline:
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * POLL_GROWTH, max_delay)
        return state

    def failure(self, query_id: str, sql: str) -> AirflowException:
        """The error of a query that did not succeed: its final state and Athena's reason, then the SQL.

        A user error (syntax, a table or column that is not there) fails the same way on every try, so it is not
        retried; system errors and queries cancelled or timed out keep the task's retries.
        """
        status = self.get_query_info(query_id, use_cache=False)["QueryExecution"]["Status"]
        category = (status.get("AthenaError") or {}).get("ErrorCategory")
        permanent = status["State"] == "FAILED" and category == ATHENA_USER_ERROR
        return failure(f"Athena query {query_id} ended {status['State']}: {status.get('StateChangeReason')}"
                       + (" (a user error: not retried)" if permanent else "") + f"\n{sql}", permanent)

    def rows(self, query_id: str) -> list[dict[str, str | None]]:
        """A finished query's rows as dicts of Athena's strings (NULL as None)."""
        rows: list[dict[str, str | None]] = []
        header: list[str] | None = None
        pages = self.get_query_results_paginator(query_id)
        if pages is None:  # the provider's answer for a query that has not succeeded
            raise AirflowException(f"Athena query {query_id} has no results to read: it has not succeeded")
        for page in pages:
            for row in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                if header is None:
                    header = [v or "" for v in values]
                    continue
                rows.append(dict(zip(header, values)))
        return rows

    def query_rows(self, sql: str, database: str, output_location: str, workgroup: str,
                   sleep_time: float = 1, max_seconds: float = 120) -> list[dict[str, str | None]]:
        """Start, wait in this process, read: for short queries where deferring would cost more than it saves."""
        query_id = self.start(sql, database, output_location, workgroup)
        if self.wait(query_id, max_seconds, sleep_time) != "SUCCEEDED":
            raise self.failure(query_id, sql)
        return self.rows(query_id)
