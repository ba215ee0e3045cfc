"""A validation report as people and the next dates read it: validation.json (the record, and the metrics the next
dates' anomaly checks compare with), validation.html (one self-contained page) and the fixed-width table of the task
log. All three show the same lines: check, expected, actual, severity, result.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from indata_ops.layout import s3_uri, validation_report_key
from indata_ops.quality.model import CheckResult, PartitionMetrics, ValidationReport

# Bumped when a field changes meaning or goes away; a reader refuses the versions it does not know rather than
# comparing today's partition with numbers it misreads.
REPORT_VERSION = 1
READABLE_VERSIONS = (1,)
COLUMNS = ("check", "expected", "actual", "severity", "result")
# Failing rows shown under a failed check in the page and the log; the JSON keeps all the check collected.
SHOWN_ROWS = 5


# --- JSON ----------------------------------------------------------------------------------------------------------
def _result_json(result: CheckResult) -> dict[str, Any]:
    return {"name": result.name, "kind": result.kind, "severity": result.severity, "expected": result.expected,
            "actual": result.actual, "passed": result.passed, "result": result.result,
            "failing_rows": [dict(row) for row in result.failing_rows], "detail": result.detail}


def _metrics_json(metrics: PartitionMetrics) -> dict[str, Any]:
    # Columns as [name, type] pairs: their order is the partition's, and a JSON object's order is not promised.
    return {"rows": metrics.rows, "null_shares": dict(metrics.null_shares),
            "columns": [[name, glue_type] for name, glue_type in metrics.columns.items()]}


def report_json(report: ValidationReport) -> dict[str, Any]:
    """The report as validation.json holds it (``report_version`` first; ``result`` and ``summary`` are derived,
    for readers that do not recompute them)."""
    return {"report_version": REPORT_VERSION, "dataset": report.dataset, "run_date": report.run_date,
            "table": report.table, "passed": report.passed, "summary": _summary_counts(report),
            "results": [_result_json(result) for result in report.results],
            "metrics": _metrics_json(report.metrics), "counts": dict(report.counts), "queries": report.queries,
            "bytes_scanned": report.bytes_scanned, "extra_bytes_scanned": report.extra_bytes_scanned,
            "partition_bytes": report.partition_bytes, "notes": list(report.notes)}


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in doc:
        raise ValueError(f"{where}: no field {name!r}")
    value = doc[name]
    # bool is an int in Python; a count of True is a damaged document, not 1.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}: field {name!r} is {value!r}, not {getattr(kind, '__name__', kind)}")
    return value


def _checked_version(doc: Any, where: str) -> None:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{where}: a validation report is a JSON object, not {type(doc).__name__}")
    version = _field(doc, "report_version", int, where)
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{where}: report_version {version} is not one this code reads ({READABLE_VERSIONS})")


def metrics_from_json(doc: Any, where: str = "validation.json") -> PartitionMetrics:
    """A prior date's metrics back from its validation.json; ``where`` (its S3 URI) names it in the errors."""
    _checked_version(doc, where)
    metrics = _field(doc, "metrics", Mapping, where)
    where = f"{where}, metrics"
    shares = _field(metrics, "null_shares", Mapping, where)
    for column, share in shares.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError(f"{where}: null share of {column!r} is {share!r}, not a number from 0 to 1")
    columns = _field(metrics, "columns", list, where)
    for pair in columns:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise ValueError(f"{where}: column {pair!r} is not a [name, type] pair")
    rows = _field(metrics, "rows", int, where)
    if rows < 0:
        raise ValueError(f"{where}: rows is {rows}, fewer than none")
    return PartitionMetrics(rows=rows,
                            null_shares={column: float(share) for column, share in shares.items()},
                            columns={name: glue_type for name, glue_type in columns})


def report_from_json(doc: Any, where: str = "validation.json") -> ValidationReport:
    """The whole report back from validation.json (the inverse of report_json)."""
    _checked_version(doc, where)
    results = []
    for number, item in enumerate(_field(doc, "results", list, where), start=1):
        at = f"{where}, result {number}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{at}: not a JSON object")
        severity = _field(item, "severity", str, at)
        if severity not in ("error", "warn"):
            raise ValueError(f"{at}: severity {severity!r} is neither 'error' nor 'warn'")
        rows = _field(item, "failing_rows", list, at)
        for row in rows:
            if not (isinstance(row, Mapping) and all(v is None or isinstance(v, str) for v in row.values())):
                raise ValueError(f"{at}: failing row {row!r} is not an object of strings and nulls")
        results.append(CheckResult(
            name=_field(item, "name", str, at), kind=_field(item, "kind", str, at), severity=severity,
            expected=_field(item, "expected", str, at), actual=_field(item, "actual", str, at),
            passed=_field(item, "passed", bool, at), failing_rows=tuple(dict(row) for row in rows),
            detail=_field(item, "detail", str, at)))
    notes = _field(doc, "notes", list, where)
    if not all(isinstance(note, str) for note in notes):
        raise ValueError(f"{where}: notes {notes!r} are not all text")
    return ValidationReport(
        dataset=_field(doc, "dataset", str, where), run_date=_field(doc, "run_date", str, where),
        table=_field(doc, "table", str, where), results=tuple(results), metrics=metrics_from_json(doc, where),
        counts=dict(_field(doc, "counts", Mapping, where)), queries=_field(doc, "queries", int, where),
        bytes_scanned=_field(doc, "bytes_scanned", int, where),
        extra_bytes_scanned=_field(doc, "extra_bytes_scanned", int, where),
        partition_bytes=_field(doc, "partition_bytes", int, where),
        notes=tuple(notes))


# --- what every form says ------------------------------------------------------------------------------------------
def _summary_counts(report: ValidationReport) -> dict[str, int]:
    return {"checks": len(report.results), "passed": sum(result.passed for result in report.results),
            "failed": len(report.failures), "warnings": len(report.warnings)}


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'; bytes below 1 KiB as they are."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str, words: str = "") -> str:
    """'1 check', '2 checks'; ``words`` for an irregular plural."""
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def summary_line(report: ValidationReport) -> str:
    """'12 checks: 10 passed, 1 failed, 1 warning; scanned 1.2 MiB (+ 300 B by other tables and failing rows) of a
    1.1 MiB partition (1.09x); 3 queries'."""
    counts = _summary_counts(report)
    line = (f"{plural(counts['checks'], 'check')}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{plural(counts['warnings'], 'warning')}; scanned {human_bytes(report.bytes_scanned)}")
    if report.extra_bytes_scanned:
        line += f" (+ {human_bytes(report.extra_bytes_scanned)} by other tables and failing rows)"
    line += f" of a {human_bytes(report.partition_bytes)} partition"
    if report.partition_bytes:
        line += f" ({report.bytes_scanned / report.partition_bytes:.2f}x)"
    return f"{line}; {plural(report.queries, 'query', 'queries')}"


def title(report: ValidationReport) -> str:
    return f"Validation of {report.table} ({report.dataset}) dt={report.run_date}"


def _cells(result: CheckResult) -> tuple[str, ...]:
    return result.name, result.expected, result.actual, result.severity, result.result


def _row_columns(rows: Sequence[Mapping[str, str | None]]) -> list[str]:
    """The columns of a few failing rows, in the order they first appear."""
    return list(dict.fromkeys(column for row in rows for column in row))


# --- text ----------------------------------------------------------------------------------------------------------
def _one_line(value: str) -> str:
    # A line break inside a cell would break the table; it is shown, not dropped.
    return value.replace("\r", "\\r").replace("\n", "\\n")


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Fixed-width lines: the header, a rule, then the rows, each column as wide as its widest value."""
    table = [[_one_line(value) for value in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [indent + " | ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
             for row in table]
    lines.insert(1, indent + "-+-".join("-" * width for width in widths))
    return lines


def _shown_rows(result: CheckResult) -> tuple[list[str], list[list[str]], int]:
    rows = result.failing_rows[:SHOWN_ROWS]
    columns = _row_columns(rows)
    cells = [["NULL" if row.get(column) is None else str(row.get(column)) for column in columns] for row in rows]
    return columns, cells, len(result.failing_rows) - len(rows)


def report_text(report: ValidationReport) -> str:
    """The task log's table (check, expected, actual, severity, result), a few failing rows under each failed
    check, the summary line and the notes."""
    lines = [title(report), *text_table(COLUMNS, [_cells(result) for result in report.results])]
    for result in report.results:
        if result.passed or not result.failing_rows:
            continue
        columns, cells, more = _shown_rows(result)
        lines += ["", f"Failing rows of {result.name}:", *text_table(columns, cells, indent="  ")]
        if more:
            lines.append(f"  ... and {more} more")
    lines += ["", summary_line(report)]
    if report.notes:
        lines += ["", "Notes:", *(f"- {_one_line(note)}" for note in report.notes)]
    return "\n".join(lines)


# --- HTML ----------------------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; }
.status { font-weight: bold; padding: .2em .6em; border-radius: .3em; }
.status.passed { background: #d8f5d0; } .status.failed { background: #f9d0d0; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr[data-result="FAILED"] td.result { background: #f9d0d0; font-weight: bold; }
tr[data-result="WARN"] td.result { background: #fdf0c0; font-weight: bold; }
tr[data-result="ok"] td.result { color: #2a7a2a; }
tr.failing-rows > td { border-top: none; padding-left: 2em; }
table.rows { font-size: .9em; margin: .2em 0; } table.rows td { font-family: monospace; }
.null { color: #888; font-style: italic; } .detail { color: #555; font-size: .9em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_rows(result: CheckResult) -> str:
    columns, _, more = _shown_rows(result)
    head = "".join(f"<th>{_e(column)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join('<td class="null">NULL</td>' if row.get(column) is None else f"<td>{_e(row[column])}</td>"
                         for column in columns) + "</tr>"
        for row in result.failing_rows[:SHOWN_ROWS])
    extra = f"<div>... and {more} more (all in validation.json)</div>" if more else ""
    return (f'<tr class="failing-rows" data-rows-of="{_e(result.name)}"><td colspan="{len(COLUMNS)}">'
            f'Failing rows<table class="rows"><tr>{head}</tr>{body}</table>{extra}</td></tr>')


def _html_result(result: CheckResult) -> str:
    detail = f'<div class="detail">{_e(result.detail)}</div>' if result.detail else ""
    row = (f'<tr data-check="{_e(result.name)}" data-kind="{_e(result.kind)}" data-result="{_e(result.result)}">'
           f"<td>{_e(result.name)}{detail}</td><td>{_e(result.expected)}</td><td>{_e(result.actual)}</td>"
           f'<td>{_e(result.severity)}</td><td class="result">{_e(result.result)}</td></tr>')
    if not result.passed and result.failing_rows:
        row += _html_rows(result)
    return row


def _count_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def report_html(report: ValidationReport) -> str:
    """One self-contained page: inline CSS, no script, no external resource; every value escaped."""
    status = "passed" if report.passed else "failed"
    results = "".join(_html_result(result) for result in report.results)
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    counts = "".join(f"<tr><th>{_e(name)}</th><td>{_e(_count_value(value))}</td></tr>"
                     for name, value in report.counts.items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title(report))}</title><style>{STYLE}</style></head>\n<body>"
        f'<h1>{_e(title(report))} <span class="status {status}" data-status="{status}">{status.upper()}</span>'
        f'</h1>\n<p class="summary">{_e(summary_line(report))}</p>\n'
        f'<table class="results"><tr>{"".join(f"<th>{_e(c)}</th>" for c in COLUMNS)}</tr>{results}</table>\n'
        + (f'<h2>Notes</h2><ul class="notes">{notes}</ul>\n' if notes else "")
        + (f'<h2>The job\'s counts</h2><table class="counts">{counts}</table>\n' if counts else "")
        + f'<p class="detail">{_e(report.metrics.rows)} rows, {_e(len(report.metrics.columns))} columns; '
        f"report version {REPORT_VERSION}</p>\n</body></html>\n")


# --- S3 ------------------------------------------------------------------------------------------------------------
def s3_client(client_or_hook: Any) -> Any:
    """The boto3 S3 client itself, or the one of an S3Hook (BackupHook)."""
    get_conn = getattr(client_or_hook, "get_conn", None)
    return get_conn() if callable(get_conn) else client_or_hook


def _put(client: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    # With its SHA-256, as the backup's PUTs: S3 refuses a body that arrives different and stores the checksum.
    # Computed here rather than through BackupHook so that this module needs no Airflow.
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, ChecksumAlgorithm="SHA256",
                      ChecksumSHA256=checksum)


def write_report(client_or_hook: Any, bucket: str, report: ValidationReport) -> dict[str, str]:
    """PUTs validation.html, then validation.json (last: the next dates' anomaly checks read a date's metrics from
    it, so a date has a report only once both are written); returns their keys and URIs."""
    client = s3_client(client_or_hook)
    keys = {extension: validation_report_key(report.dataset, report.run_date, extension)
            for extension in ("json", "html")}
    _put(client, bucket, keys["html"], report_html(report).encode(), "text/html; charset=utf-8")
    body = json.dumps(report_json(report), indent=2, ensure_ascii=False).encode()
    _put(client, bucket, keys["json"], body, "application/json")
    return {**keys, "json_uri": s3_uri(bucket, keys["json"]), "html_uri": s3_uri(bucket, keys["html"])}
