"""Athena side of validation: run a query, wait, return its rows (as Athena's strings)."""
from __future__ import annotations

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.sdk.exceptions import AirflowException


class ValidationQueryHook(AthenaHook):
    """AthenaHook that runs one query to the end and returns its rows, or fails with Athena's reason."""

    def query_rows(self, sql: str, database: str, output_location: str, workgroup: str,
                   sleep_time: int = 1) -> list[dict[str, str | None]]:
        query_id = self.run_query(sql, query_context={"Database": database},
                                  result_configuration={"OutputLocation": output_location}, workgroup=workgroup)
        state = self.poll_query_status(query_id, sleep_time=sleep_time)
        if state != "SUCCEEDED":
            reason = self.get_state_change_reason(query_id)
            raise AirflowException(f"Athena query {query_id} ended {state}: {reason}\n{sql}")
        rows: list[dict[str, str | None]] = []
        header: list[str] | None = None
        for page in self.get_query_results_paginator(query_id):
            for row in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                if header is None:
                    header = [v or "" for v in values]
                    continue
                rows.append(dict(zip(header, values)))
        return rows
