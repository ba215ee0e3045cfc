"""Athena's REST-JSON protocol, translated to the JSON protocol the stack's handlers and moto answer.

botocore 1.44 and later send Athena requests as REST-JSON (``GET /workgroups/{WorkGroup}``, ``POST
/query-executions``, ...); earlier ones, and the AWS CLI v1 with its own botocore, send JSON-protocol requests
(``POST /`` with ``X-Amz-Target: AmazonAthena.<Operation>``). Both carry the same operation input: REST-JSON only
moves some members into the path, the query string and headers. So a REST-JSON request is turned into the JSON
request of the same operation (its name from the method and path, its input from the body plus those members),
and one set of handlers answers both. The answers need no translation: no Athena output member is bound to a header
or the status code except GetQueryResultStream's, which the stack does not serve.

ROUTES is the newest botocore's Athena model (``botocore/data/athena/2017-05-18/service-2.json``, botocore 1.44.18):
``local_aws/tests/test_newest_sdk.py`` serializes every operation with that botocore and checks that it comes back
here as the same operation and input, so a bump of requirements/newest-sdk.txt that adds a route fails there.
"""
from __future__ import annotations

import io
import json
import re
import urllib.parse
from typing import Any

from local_aws.errors import AWSError, json_error_body

TARGET_PREFIX = "AmazonAthena"
# (method, request URI, operation): each {Label} is one path segment, percent-encoded by the client.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/application-dpu-sizes", "ListApplicationDPUSizes"),
    ("POST", "/batch-get-named-queries", "BatchGetNamedQuery"),
    ("POST", "/batch-get-query-executions", "BatchGetQueryExecution"),
    ("GET", "/calculations/{CalculationExecutionId}", "GetCalculationExecution"),
    ("GET", "/calculations/{CalculationExecutionId}/code", "GetCalculationExecutionCode"),
    ("GET", "/calculations/{CalculationExecutionId}/status", "GetCalculationExecutionStatus"),
    ("POST", "/calculations/{CalculationExecutionId}/stop", "StopCalculationExecution"),
    ("GET", "/capacity-reservations", "ListCapacityReservations"),
    ("POST", "/capacity-reservations", "CreateCapacityReservation"),
    ("GET", "/capacity-reservations/{CapacityReservationName}/assignment-configuration",
     "GetCapacityAssignmentConfiguration"),
    ("PUT", "/capacity-reservations/{CapacityReservationName}/assignment-configuration",
     "PutCapacityAssignmentConfiguration"),
    ("DELETE", "/capacity-reservations/{Name}", "DeleteCapacityReservation"),
    ("GET", "/capacity-reservations/{Name}", "GetCapacityReservation"),
    ("PATCH", "/capacity-reservations/{Name}", "UpdateCapacityReservation"),
    ("POST", "/capacity-reservations/{Name}/cancel", "CancelCapacityReservation"),
    ("GET", "/data-catalogs", "ListDataCatalogs"),
    ("POST", "/data-catalogs", "CreateDataCatalog"),
    ("GET", "/data-catalogs/{CatalogName}/databases", "ListDatabases"),
    ("GET", "/data-catalogs/{CatalogName}/databases/{DatabaseName}", "GetDatabase"),
    ("GET", "/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables", "ListTableMetadata"),
    ("GET", "/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables/{TableName}", "GetTableMetadata"),
    ("DELETE", "/data-catalogs/{Name}", "DeleteDataCatalog"),
    ("GET", "/data-catalogs/{Name}", "GetDataCatalog"),
    ("PATCH", "/data-catalogs/{Name}", "UpdateDataCatalog"),
    ("GET", "/engine-versions", "ListEngineVersions"),
    ("GET", "/named-queries", "ListNamedQueries"),
    ("POST", "/named-queries", "CreateNamedQuery"),
    ("DELETE", "/named-queries/{NamedQueryId}", "DeleteNamedQuery"),
    ("GET", "/named-queries/{NamedQueryId}", "GetNamedQuery"),
    ("PATCH", "/named-queries/{NamedQueryId}", "UpdateNamedQuery"),
    ("DELETE", "/notebooks/{NotebookId}", "DeleteNotebook"),
    ("PATCH", "/notebooks/{NotebookId}", "UpdateNotebook"),
    ("GET", "/notebooks/{NotebookId}/export", "ExportNotebook"),
    ("GET", "/notebooks/{NotebookId}/metadata", "GetNotebookMetadata"),
    ("PATCH", "/notebooks/{NotebookId}/metadata", "UpdateNotebookMetadata"),
    ("GET", "/notebooks/{NotebookId}/sessions", "ListNotebookSessions"),
    ("GET", "/query-executions", "ListQueryExecutions"),
    ("POST", "/query-executions", "StartQueryExecution"),
    ("GET", "/query-executions/{QueryExecutionId}", "GetQueryExecution"),
    ("GET", "/query-executions/{QueryExecutionId}/result-stream", "GetQueryResultStream"),
    ("GET", "/query-executions/{QueryExecutionId}/results", "GetQueryResults"),
    ("GET", "/query-executions/{QueryExecutionId}/runtime-statistics", "GetQueryRuntimeStatistics"),
    ("POST", "/query-executions/{QueryExecutionId}/stop", "StopQueryExecution"),
    ("GET", "/resource-dashboard/{ResourceARN}", "GetResourceDashboard"),
    ("GET", "/sessions/{SessionId}", "GetSession"),
    ("GET", "/sessions/{SessionId}/calculations", "ListCalculationExecutions"),
    ("POST", "/sessions/{SessionId}/calculations", "StartCalculationExecution"),
    ("GET", "/sessions/{SessionId}/endpoint", "GetSessionEndpoint"),
    ("GET", "/sessions/{SessionId}/executors", "ListExecutors"),
    ("POST", "/sessions/{SessionId}/presigned-notebook-url", "CreatePresignedNotebookUrl"),
    ("GET", "/sessions/{SessionId}/status", "GetSessionStatus"),
    ("POST", "/sessions/{SessionId}/terminate", "TerminateSession"),
    ("POST", "/system-tables/configurations", "CreateSystemTableConfiguration"),
    ("DELETE", "/system-tables/configurations/{TableName}", "DeleteSystemTableConfiguration"),
    ("GET", "/system-tables/configurations/{TableName}", "GetSystemTableConfiguration"),
    ("PATCH", "/system-tables/configurations/{TableName}", "UpdateSystemTableConfiguration"),
    ("GET", "/system-tables/statuses", "ListSystemTableStatuses"),
    ("DELETE", "/tags/{ResourceARN}", "UntagResource"),
    ("GET", "/tags/{ResourceARN}", "ListTagsForResource"),
    ("POST", "/tags/{ResourceARN}", "TagResource"),
    ("GET", "/workgroups", "ListWorkGroups"),
    ("POST", "/workgroups", "CreateWorkGroup"),
    ("DELETE", "/workgroups/{WorkGroup}", "DeleteWorkGroup"),
    ("GET", "/workgroups/{WorkGroup}", "GetWorkGroup"),
    ("PATCH", "/workgroups/{WorkGroup}", "UpdateWorkGroup"),
    ("POST", "/workgroups/{WorkGroup}/batch-get-prepared-statements", "BatchGetPreparedStatement"),
    ("POST", "/workgroups/{WorkGroup}/notebooks", "CreateNotebook"),
    ("POST", "/workgroups/{WorkGroup}/notebooks/import", "ImportNotebook"),
    ("POST", "/workgroups/{WorkGroup}/notebooks/list", "ListNotebookMetadata"),
    ("GET", "/workgroups/{WorkGroup}/prepared-statements", "ListPreparedStatements"),
    ("POST", "/workgroups/{WorkGroup}/prepared-statements", "CreatePreparedStatement"),
    ("DELETE", "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "DeletePreparedStatement"),
    ("GET", "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "GetPreparedStatement"),
    ("PATCH", "/workgroups/{WorkGroup}/prepared-statements/{StatementName}", "UpdatePreparedStatement"),
    ("GET", "/workgroups/{WorkGroup}/sessions", "ListSessions"),
    ("POST", "/workgroups/{WorkGroup}/sessions", "StartSession"),
)
# Query-string members that are not strings, by name (each name has one type across the model). Lists repeat the
# parameter (?TagKeys=a&TagKeys=b).
QUERY_TYPES = {"MaxResults": int, "DeleteCatalogOnly": bool, "RecursiveDeleteOption": bool,
               "AttributesToGet": list, "TagKeys": list}
# Header members, by the WSGI environ key they arrive in.
HEADER_MEMBERS = {"HTTP_RANGE": "Range"}


def _compile(template: str) -> tuple[re.Pattern[str], list[str]]:
    labels = re.findall(r"{(\w+)}", template)
    pattern = re.sub(r"{\w+}", "([^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(f"^{pattern}$"), labels


_COMPILED = [(method, *_compile(template), operation) for method, template, operation in ROUTES]


def _raw_path(environ: dict[str, Any]) -> str:
    """The path as the client encoded it: PATH_INFO is already decoded, and a label may hold an encoded '/'."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return urllib.parse.urlsplit(raw).path
    return urllib.parse.quote(environ.get("PATH_INFO", ""))


def _query_value(name: str, values: list[str]) -> Any:
    kind = QUERY_TYPES.get(name, str)
    if kind is list:
        return values
    value = values[-1]
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise AWSError("ValidationException", f"{name} must be an integer, not {value!r}") from None
    if kind is bool:
        return value.lower() == "true"
    return value


def operation_and_input(environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]]:
    """The Athena operation a REST-JSON request calls and its input, as a JSON-protocol request would carry it."""
    method, path = environ.get("REQUEST_METHOD", "GET"), _raw_path(environ)
    for route_method, pattern, labels, operation in _COMPILED:
        match = pattern.match(path) if route_method == method else None
        if match is None:
            continue
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            raise AWSError("SerializationException", f"{operation}: the request body is not JSON") from None
        if not isinstance(payload, dict):
            raise AWSError("SerializationException", f"{operation}: the request body is not a JSON object")
        payload.update({label: urllib.parse.unquote(value) for label, value in zip(labels, match.groups())})
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        payload.update({name: _query_value(name, values) for name, values in query.items()})
        payload.update({member: environ[key] for key, member in HEADER_MEMBERS.items() if key in environ})
        return operation, payload
    raise AWSError("UnknownOperationException", f"Athena has no operation at {method} {path}", 404)


def as_json_request(environ: dict[str, Any], operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON-protocol request of the same call (what the pinned botocore sends), for the handlers and moto."""
    body = json.dumps(payload).encode()
    translated = {key: value for key, value in environ.items() if key not in ("RAW_URI", "REQUEST_URI")}
    translated.update({
        "REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
        "HTTP_X_AMZ_TARGET": f"{TARGET_PREFIX}.{operation}", "CONTENT_TYPE": "application/x-amz-json-1.1",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
    return translated


def answer(app: Any, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Serve a REST-JSON request through ``app`` as its JSON twin; an error also names its code in the
    ``x-amzn-ErrorType`` header, where REST-JSON clients look first (the body keeps ``__type``)."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list, exc_info: Any = None):
        captured["status"], captured["headers"] = status, list(headers)
        return lambda data: None

    try:
        operation, payload = operation_and_input(environ, _read_all(environ))
        chunks = app(as_json_request(environ, operation, payload), capture)
    except AWSError as error:  # no such route, or an input that cannot be read
        body = json_error_body(error.code, error.message)
        start_response(f"{error.status} Error", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", error.code), ("x-amzn-RequestId", "local-aws")])
        return [body]
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    headers = captured["headers"]
    if int(captured["status"].split()[0]) >= 400:
        try:
            code = json.loads(body).get("__type")
        except (ValueError, AttributeError):
            code = None
        if code:
            headers.append(("x-amzn-ErrorType", code))
    start_response(captured["status"], headers)
    return [body]


def _read_all(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""
