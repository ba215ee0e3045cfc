"""Athena query executions that really answer, behind the Athena API.

A query moves QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED on a small worker pool; the SQL runs on the
embedded engine (local_aws.athena.engine). Results are written where Athena writes them
(<output>/<QueryExecutionId>.csv and .csv.metadata) and paged by GetQueryResults like Athena pages them.
Workgroups stay in moto; their output location is read from there.
"""
from __future__ import annotations

import copy
import datetime
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from moto.backends import get_backend

from local_aws import iam_enforcement
from local_aws.actions import action
from local_aws.errors import AWSError
from local_aws.hive import split_s3_folder
from local_aws.persistence import StateStore

log = logging.getLogger("local_aws.athena")

REGION = "us-east-1"
MAX_PAGE = 1000
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}


class AthenaService:
    """StartQueryExecution, GetQueryExecution, GetQueryResults, StopQueryExecution and friends."""

    def __init__(self, endpoint: str, store: StateStore | None, cache_dir: Path, workers: int = 2):
        self.endpoint = endpoint
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.executions: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}  # id -> {"columns": [...], "rows": [...]}
        self._cancel: dict[str, threading.Event] = {}
        # With IAM enforced: who started each query; the engine reads and writes S3 and Glue with its credentials.
        self._callers: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="athena")
        self._engine = None
        self._engine_lock = threading.Lock()

    def client(self, service: str):
        # Signs as the query's caller, if any, and says the request comes through Athena (aws:CalledVia).
        return iam_enforcement.client(service, self.endpoint, REGION, called_via=iam_enforcement.ATHENA_SERVICE)

    @property
    def engine_loaded(self) -> bool:
        return self._engine is not None

    @property
    def engine(self):
        with self._engine_lock:
            if self._engine is None:  # DuckDB and sqlglot load on the first query (or warm_up), not at start-up
                from local_aws.athena.engine import AthenaEngine

                self._engine = AthenaEngine(self.client("glue"), self.client("s3"), self.cache_dir)
            return self._engine

    def warm_up(self) -> threading.Thread:
        """Loads the engine in a background thread, so that the first query after a start costs what later ones
        do (cold, it costs about 0.6 s more: imports, sqlglot's dialects, DuckDB's Arrow bridge, the clients)."""
        thread = threading.Thread(target=self._warm, name="athena-warm-up", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        started = time.monotonic()
        try:
            self.engine.warm_up()
        except Exception:  # the first query then pays the load itself, and fails with the reason if it is real
            log.warning("Athena engine warm-up failed", exc_info=True)
            return
        log.info("Athena engine loaded in %.2f s", time.monotonic() - started)

    def resume(self) -> None:
        if self.store is None:
            return
        for doc in self.store.load_docs("athena-queries"):
            execution = doc["execution"]
            if execution["Status"]["State"] not in TERMINAL:
                execution["Status"].update(State="FAILED", StateChangeReason="Query interrupted by a restart",
                                           CompletionDateTime=time.time())
            self.executions[execution["QueryExecutionId"]] = execution
            if doc.get("result") is not None:
                self.results[execution["QueryExecutionId"]] = doc["result"]

    def shutdown(self) -> None:
        for event in self._cancel.values():
            event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _save(self, query_id: str) -> None:
        if self.store is not None:
            self.store.save_doc("athena-queries", query_id, {"execution": self.executions[query_id],
                                                             "result": self.results.get(query_id)})

    @staticmethod
    def _workgroups():
        return get_backend("athena")["123456789012"][REGION]

    def _output_location(self, payload: dict[str, Any], workgroup: str) -> str:
        group = self._workgroups().work_groups.get(workgroup)
        if group is None:  # Athena refuses an unknown workgroup even when the request names an output location
            raise AWSError("InvalidRequestException", f"WorkGroup {workgroup} is not found.")
        location = (payload.get("ResultConfiguration") or {}).get("OutputLocation")
        if location:
            return location
        configuration = group.configuration or {}
        location = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
        if not location:
            raise AWSError("InvalidRequestException",
                           "Unable to verify/create output bucket. No output location provided. An output location "
                           "is required either through the Workgroup result configuration setting or as an API input.")
        return location

    # --- API -------------------------------------------------------------------------------------------------
    @action
    def GetWorkGroup(self, payload: dict[str, Any]) -> dict[str, Any]:
        """moto answers an unknown workgroup with ``{"WorkGroup": null}``; Athena refuses it."""
        name = payload.get("WorkGroup") or ""
        group = self._workgroups().get_work_group(name)
        if group is None:
            raise AWSError("InvalidRequestException", f"WorkGroup {name} is not found.")
        return {"WorkGroup": group}

    @action
    def StartQueryExecution(self, payload: dict[str, Any]) -> dict[str, Any]:
        sql = payload.get("QueryString") or ""
        if not sql.strip():
            raise AWSError("InvalidRequestException", "QueryString must not be empty")
        workgroup = payload.get("WorkGroup") or "primary"
        output = self._output_location(payload, workgroup)
        query_id = str(uuid.uuid4())
        context = payload.get("QueryExecutionContext") or {}
        execution = {
            "QueryExecutionId": query_id, "Query": sql, "StatementType": "DML",
            "ResultConfiguration": {"OutputLocation": f"{output.rstrip('/')}/{query_id}.csv"},
            "QueryExecutionContext": context, "WorkGroup": workgroup, "EngineVersion": ENGINE_VERSION,
            "Status": {"State": "QUEUED", "SubmissionDateTime": time.time()},
            "Statistics": {"EngineExecutionTimeInMillis": 0, "DataScannedInBytes": 0, "TotalExecutionTimeInMillis": 0,
                           "QueryQueueTimeInMillis": 0, "ServiceProcessingTimeInMillis": 0},
        }
        with self._lock:
            self.executions[query_id] = execution
            self._cancel[query_id] = threading.Event()
            caller = iam_enforcement.current_caller()
            if caller is not None:
                self._callers[query_id] = caller.credentials
            self._save(query_id)
        self._pool.submit(self._run, query_id, output)
        return {"QueryExecutionId": query_id}

    def _run(self, query_id: str, output: str) -> None:
        from local_aws.athena.engine import AthenaQueryError

        with self._lock:
            execution = self.executions[query_id]
            cancel = self._cancel[query_id]
            if cancel.is_set():
                return
            queued_ms = int((time.time() - execution["Status"]["SubmissionDateTime"]) * 1000)
            execution["Status"]["State"] = "RUNNING"
            self._save(query_id)
        started = time.monotonic()
        context = execution["QueryExecutionContext"]
        state, reason, error_type = "SUCCEEDED", None, None
        try:
            with iam_enforcement.acting_as(self._callers.pop(query_id, None)):
                outcome = self.engine.execute(execution["Query"], context.get("Database"),
                                              context.get("Catalog") or "AwsDataCatalog", cancelled=cancel)
                self._write_results(query_id, output, outcome)
        except AthenaQueryError as exc:
            state = "CANCELLED" if exc.error_type == "CANCELLED" or cancel.is_set() else "FAILED"
            reason, error_type, outcome = str(exc), exc.error_type, None
        except Exception as exc:  # the query fails with Athena's generic reason; the stack keeps serving
            log.exception("Query %s failed inside the engine", query_id)
            state, error_type, outcome = "FAILED", "GENERIC_INTERNAL_ERROR", None
            reason = f"GENERIC_INTERNAL_ERROR: {exc}"
        engine_ms = int((time.monotonic() - started) * 1000)
        with self._lock:
            status = execution["Status"]
            if status["State"] == "CANCELLED":
                return
            status.update(State=state, CompletionDateTime=time.time())
            if reason:
                status["StateChangeReason"] = reason
                status["AthenaError"] = {"ErrorCategory": 2,
                                         "ErrorType": 1000 if error_type != "SYNTAX_ERROR" else 1001,
                                         "Retryable": False, "ErrorMessage": reason}
            if outcome is not None:
                execution["StatementType"] = outcome.statement_type
                execution["Statistics"].update(DataScannedInBytes=outcome.data_scanned_bytes)
            execution["Statistics"].update(EngineExecutionTimeInMillis=engine_ms, QueryQueueTimeInMillis=queued_ms,
                                           TotalExecutionTimeInMillis=engine_ms + queued_ms)
            self._save(query_id)

    def _write_results(self, query_id: str, output: str, outcome) -> None:
        bucket, prefix = split_s3_folder(output)
        s3 = self.client("s3")
        if outcome.statement_type == "DML":
            s3.put_object(Bucket=bucket, Key=f"{prefix}{query_id}.csv", Body=self.engine.to_csv(outcome))
            metadata = {"ColumnInfo": [column.to_api() for column in outcome.columns]}
            s3.put_object(Bucket=bucket, Key=f"{prefix}{query_id}.csv.metadata", Body=json.dumps(metadata).encode())
        else:  # Athena writes DDL output as text
            s3.put_object(Bucket=bucket, Key=f"{prefix}{query_id}.txt",
                          Body="\n".join("\t".join(v or "" for v in row) for row in outcome.rows).encode())
            with self._lock:
                self.executions[query_id]["ResultConfiguration"]["OutputLocation"] = (
                    f"{output.rstrip('/')}/{query_id}.txt")
        with self._lock:
            self.results[query_id] = {"columns": [column.to_api() for column in outcome.columns],
                                      "rows": outcome.rows}

    def _execution(self, query_id: str) -> dict[str, Any]:
        execution = self.executions.get(query_id)
        if execution is None:
            raise AWSError("InvalidRequestException", f"QueryExecution {query_id} was not found")
        return execution

    @action
    def GetQueryExecution(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"QueryExecution": copy.deepcopy(self._execution(payload.get("QueryExecutionId", "")))}

    @action
    def BatchGetQueryExecution(self, payload: dict[str, Any]) -> dict[str, Any]:
        ids = payload.get("QueryExecutionIds", [])
        with self._lock:
            found = [copy.deepcopy(self.executions[i]) for i in ids if i in self.executions]
        missing = [{"QueryExecutionId": i, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
                   for i in ids if i not in self.executions]
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    @action
    def ListQueryExecutions(self, payload: dict[str, Any]) -> dict[str, Any]:
        workgroup = payload.get("WorkGroup") or "primary"
        with self._lock:
            ids = [e["QueryExecutionId"] for e in sorted(self.executions.values(),
                   key=lambda e: e["Status"]["SubmissionDateTime"], reverse=True) if e["WorkGroup"] == workgroup]
        start = int(payload.get("NextToken") or 0)
        size = int(payload.get("MaxResults") or 50)
        page = ids[start:start + size]
        return {"QueryExecutionIds": page, **({"NextToken": str(start + size)} if start + size < len(ids) else {})}

    @action
    def GetQueryResults(self, payload: dict[str, Any]) -> dict[str, Any]:
        query_id = payload.get("QueryExecutionId", "")
        with self._lock:
            execution = self._execution(query_id)
            status = execution["Status"]
            if status["State"] == "FAILED":
                raise AWSError("InvalidRequestException", status.get("StateChangeReason", "Query failed"))
            if status["State"] != "SUCCEEDED":
                raise AWSError("InvalidRequestException",
                               f"Query has not yet finished. Current state: {status['State']}")
            result = self.results.get(query_id, {"columns": [], "rows": []})
        size = min(int(payload.get("MaxResults") or MAX_PAGE), MAX_PAGE)
        start = int(payload.get("NextToken") or 0)
        # Like Athena, the first page of a query's (DML) result starts with the header row, and that row counts
        # toward MaxResults; SHOW / DESCRIBE (UTILITY) results have no header row.
        header = [[c["Name"] for c in result["columns"]]] if result["columns"] and (
            execution["StatementType"] == "DML") else []
        rows = header + result["rows"]
        page = rows[start:start + size]
        response: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
                          "ResultSetMetadata": {"ColumnInfo": result["columns"]}},
        }
        if start + size < len(rows):
            response["NextToken"] = str(start + size)
        return response

    @action
    def GetTableMetadata(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A table of the Glue Data Catalog as Athena describes it (moto has no such action), read with the
        caller's credentials as Athena reads the catalog."""
        catalog = payload.get("CatalogName") or ""
        if catalog.lower() != "awsdatacatalog":
            raise AWSError("MetadataException", f"Catalog {catalog} does not exist")
        glue = self.client("glue")
        database, name = payload.get("DatabaseName") or "", payload.get("TableName") or ""
        caller = iam_enforcement.current_caller()
        try:
            with iam_enforcement.acting_as(caller.credentials if caller is not None else None):
                table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException as error:
            raise AWSError("MetadataException", error.response["Error"]["Message"]) from error
        except glue.exceptions.AccessDeniedException as error:  # the caller may not read that table in Glue
            raise AWSError("AccessDeniedException", error.response["Error"]["Message"]) from error
        return {"TableMetadata": table_metadata(table)}

    @action
    def StopQueryExecution(self, payload: dict[str, Any]) -> dict[str, Any]:
        query_id = payload.get("QueryExecutionId", "")
        with self._lock:
            execution = self._execution(query_id)
            if execution["Status"]["State"] not in TERMINAL:
                self._cancel[query_id].set()
                execution["Status"].update(State="CANCELLED", CompletionDateTime=time.time(),
                                           StateChangeReason="Query cancelled by user")
                self._save(query_id)
        return {}


def table_metadata(table: dict[str, Any]) -> dict[str, Any]:
    """Glue's Table as Athena's TableMetadata: columns and partition keys with their types, the parameters."""
    def columns(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{key: column[key] for key in ("Name", "Type", "Comment") if key in column} for column in entries]

    metadata = {"Name": table["Name"], "TableType": table.get("TableType", "EXTERNAL_TABLE"),
                "Columns": columns((table.get("StorageDescriptor") or {}).get("Columns") or []),
                "PartitionKeys": columns(table.get("PartitionKeys") or []),
                "Parameters": dict(table.get("Parameters") or {})}
    for name in ("CreateTime", "LastAccessTime"):
        if isinstance(table.get(name), datetime.datetime):
            metadata[name] = table[name].timestamp()
    location = (table.get("StorageDescriptor") or {}).get("Location")
    if location:
        metadata["Parameters"].setdefault("location", location)
    return metadata
