"""The validation report's three forms: validation.json (and back), the self-contained validation.html, the task
log's table; and the objects write_report PUTs on the local stack."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from html.parser import HTMLParser

import pytest

from indata_ops.quality.model import CheckResult, PartitionMetrics, ValidationReport
from indata_ops.quality.report import (
    metrics_from_json,
    report_from_json,
    report_html,
    report_json,
    report_text,
    write_report,
)

HOSTILE = "<script>alert(1)</script>"
METRICS = PartitionMetrics(rows=3, null_shares={"importe": 0.3333, "id": 0.0},
                           columns={"id": "bigint", "importe": "double", "cliente": "string"})
REPORT = ValidationReport(
    dataset="ventas", run_date="2026-11-10", table="clean.ventas",
    results=(
        CheckResult("clean rows > 0", "accounting", "error", "> 0", "3", True),
        CheckResult("not_null(cliente)", "not_null", "error", "0 rows", "2 rows", False,
                    failing_rows=({"id": "7", "cliente": None}, {"id": "9", "cliente": None})),
        CheckResult("accepted_values(canal)", "accepted_values", "warn", "web, tienda", "1 row", False,
                    failing_rows=({"id": "8", "canal": HOSTILE},), detail='canal "x" & <y>'),
        CheckResult("row count vs history", "anomaly", "warn", "between 90 and 270 rows (median 180 of 7 dates)",
                    "3 rows", False),
    ),
    metrics=METRICS, counts={"input": 5, "clean": 3, "rejected": 1, "duplicates": 1},
    queries=2, bytes_scanned=3 * 1024 * 1024, extra_bytes_scanned=512, partition_bytes=2 * 1024 * 1024,
    notes=(f"a note with {HOSTILE}",))


def test_json_round_trips_and_keeps_the_column_order():
    document = json.loads(json.dumps(report_json(REPORT), sort_keys=True))  # as S3 and any JSON tool may reorder

    assert document["report_version"] == 1
    assert (document["passed"], document["summary"]) == (False, {"checks": 4, "passed": 1, "failed": 1,
                                                                  "warnings": 2})
    assert [r["result"] for r in document["results"]] == ["ok", "FAILED", "WARN", "WARN"]
    assert report_from_json(document) == REPORT
    assert metrics_from_json(document) == METRICS
    assert list(metrics_from_json(document).columns) == ["id", "importe", "cliente"]


@pytest.mark.parametrize(("change", "message"), [
    ({"report_version": 2}, r"s3://b/k: report_version 2 is not one this code reads \(\(1,\)\)"),
    ({"report_version": "1"}, r"s3://b/k: field 'report_version' is '1', not int"),
    ({"metrics": {"rows": True, "null_shares": {}, "columns": []}}, r"s3://b/k, metrics: field 'rows' is True"),
    ({"metrics": {"rows": 1, "null_shares": {"x": 1.5}, "columns": []}},
     r"s3://b/k, metrics: null share of 'x' is 1.5, not a number from 0 to 1"),
    ({"metrics": {"rows": 1, "null_shares": {}, "columns": [["id"]]}},
     r"s3://b/k, metrics: column \['id'\] is not a \[name, type\] pair"),
])
def test_a_damaged_report_is_refused_naming_where_and_what(change, message):
    with pytest.raises(ValueError, match=message):
        metrics_from_json({**report_json(REPORT), **change}, "s3://b/k")
    with pytest.raises(ValueError, match=r"s3://b/k, metrics: rows is -1, fewer than none"):
        metrics_from_json({**report_json(REPORT), "metrics": {"rows": -1, "null_shares": {}, "columns": []}},
                          "s3://b/k")
    document = report_json(REPORT)
    document["results"][1]["failing_rows"] = [{"id": 7}]
    with pytest.raises(ValueError, match=r"s3://b/k, result 2: failing row \{'id': 7\} is not an object of"):
        report_from_json(document, "s3://b/k")
    del document["metrics"]
    with pytest.raises(ValueError, match="s3://b/k: no field 'metrics'"):
        metrics_from_json(document, "s3://b/k")


class Page(HTMLParser):
    """What a browser test looks for: result rows by data-check, the tags used, the text of the failing rows."""

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, str] = {}
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.failing: dict[str, list[str]] = {}
        self._rows_of: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.add(tag)
        self.links += [value for name, value in attrs if name in ("src", "href") and value]
        if tag in ("h2", "p") or (tag == "tr" and "data-check" in attributes):
            self._rows_of = None  # past the failing rows
        if tag == "tr" and "data-check" in attributes:
            self.results[attributes["data-check"]] = attributes["data-result"]
        if tag == "tr" and "data-rows-of" in attributes:
            self._rows_of = attributes["data-rows-of"]
            self.failing[self._rows_of] = []

    def handle_data(self, data):
        if self._rows_of is not None and data.strip():
            self.failing[self._rows_of].append(data)


def test_html_is_one_page_with_every_value_escaped():
    page_text = report_html(REPORT)
    page = Page()
    page.feed(page_text)

    assert page.results == {"clean rows > 0": "ok", "not_null(cliente)": "FAILED",
                            "accepted_values(canal)": "WARN", "row count vs history": "WARN"}
    assert "script" not in page.tags and page.links == []  # nothing runs, nothing is fetched
    assert HOSTILE not in page_text
    assert page_text.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # the failing row and the note
    assert "canal &quot;x&quot; &amp; &lt;y&gt;" in page_text
    assert "<title>Validation of clean.ventas (ventas) dt=2026-11-10</title>" in page_text
    assert ("4 checks: 1 passed, 1 failed, 2 warnings; scanned 3.0 MiB (+ 512 B by other tables and failing rows) "
            "of a 2.0 MiB partition (1.50x); 2 queries") in page_text
    assert '<tr><th>rejected</th><td>1</td></tr>' in page_text


def test_html_shows_the_failing_rows_under_their_check():
    page = Page()
    page.feed(report_html(REPORT))

    assert page.failing["not_null(cliente)"] == ["Failing rows", "id", "cliente", "7", "NULL", "9", "NULL"]
    assert page.failing["accepted_values(canal)"] == ["Failing rows", "id", "canal", "8", HOSTILE]  # as text
    assert "clean rows > 0" not in page.failing and "row count vs history" not in page.failing


def test_at_most_five_failing_rows_are_shown():
    rows = tuple({"id": str(n)} for n in range(8))
    report = ValidationReport("v", "2026-11-10", "clean.v", (CheckResult("unique(id)", "unique", "error", "0", "8",
                                                                          False, failing_rows=rows),), METRICS)
    page = Page()
    page.feed(report_html(report))
    assert page.failing["unique(id)"][2:] == ["0", "1", "2", "3", "4", "... and 3 more (all in validation.json)"]
    assert "  4\n  ... and 3 more" in report_text(report)


def test_the_text_table_for_the_task_log():
    assert report_text(REPORT) == """\
Validation of clean.ventas (ventas) dt=2026-11-10
check                  | expected                                        | actual | severity | result
-----------------------+-------------------------------------------------+--------+----------+-------
clean rows > 0         | > 0                                             | 3      | error    | ok
not_null(cliente)      | 0 rows                                          | 2 rows | error    | FAILED
accepted_values(canal) | web, tienda                                     | 1 row  | warn     | WARN
row count vs history   | between 90 and 270 rows (median 180 of 7 dates) | 3 rows | warn     | WARN

Failing rows of not_null(cliente):
  id | cliente
  ---+--------
  7  | NULL
  9  | NULL

Failing rows of accepted_values(canal):
  id | canal
  ---+--------------------------
  8  | <script>alert(1)</script>

4 checks: 1 passed, 1 failed, 2 warnings; scanned 3.0 MiB (+ 512 B by other tables and failing rows) of a 2.0 MiB \
partition (1.50x); 2 queries

Notes:
- a note with <script>alert(1)</script>"""


def test_written_objects_have_their_content_types_and_checksums(aws):
    bucket = f"report-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)

    keys = write_report(s3, bucket, REPORT)

    assert keys == {"json": "reports/ventas/dt=2026-11-10/validation.json",
                    "html": "reports/ventas/dt=2026-11-10/validation.html",
                    "json_uri": f"s3://{bucket}/reports/ventas/dt=2026-11-10/validation.json",
                    "html_uri": f"s3://{bucket}/reports/ventas/dt=2026-11-10/validation.html"}
    for extension, content_type in (("json", "application/json"), ("html", "text/html; charset=utf-8")):
        stored = s3.get_object(Bucket=bucket, Key=keys[extension], ChecksumMode="ENABLED")
        body = stored["Body"].read()
        assert stored["ContentType"] == content_type
        assert stored["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert report_from_json(json.loads(s3.get_object(Bucket=bucket, Key=keys["json"])["Body"].read())) == REPORT
    html_body = s3.get_object(Bucket=bucket, Key=keys["html"])["Body"].read().decode("utf-8")
    assert html_body == report_html(REPORT)


def test_written_through_the_backup_hook(aws, aws_connection):
    from indata_ops.hooks.backup import BackupHook

    bucket = f"report-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=bucket)
    keys = write_report(BackupHook(aws_conn_id=aws_connection), bucket, REPORT)
    head = aws("s3").head_object(Bucket=bucket, Key=keys["json"], ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/json" and head["ChecksumSHA256"]
