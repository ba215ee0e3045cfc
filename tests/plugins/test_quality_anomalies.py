"""Anomalies against history on the local stack: seven prior dates' reports written by write_report, read back by
one LIST and the GETs of the dates used, and the run date compared with them."""
from __future__ import annotations

import dataclasses
import datetime
import uuid

import pytest

from indata_ops.layout import validation_report_key
from indata_ops.quality.anomalies import anomalies_against_history, anomaly_results, read_history
from indata_ops.quality.model import AnomalySettings, CheckResult, PartitionMetrics, ValidationReport
from indata_ops.quality.report import write_report

DATASET = "ventas"
COLUMNS = {"id": "bigint", "importe": "double", "cliente": "string"}
# Seven prior dates: the median is 180 rows and a 2 % share of NULL importe.
PRIOR = {"2026-11-03": (170, 0.01), "2026-11-04": (175, 0.02), "2026-11-05": (180, 0.02),
         "2026-11-06": (185, 0.03), "2026-11-07": (190, 0.02), "2026-11-08": (180, 0.0), "2026-11-09": (200, 0.05)}
RUN_DATE = "2026-11-10"
NORMAL = PartitionMetrics(rows=181, null_shares={"id": 0.0, "importe": 0.03}, columns=COLUMNS)


def metrics(rows: int, share: float, columns: dict[str, str] = COLUMNS) -> PartitionMetrics:
    return PartitionMetrics(rows=rows, null_shares={"id": 0.0, "importe": share}, columns=columns)


def write_date(s3, bucket: str, run_date: str, partition: PartitionMetrics) -> None:
    """A date's report as validation writes it (one passed check: the metrics are what history reads)."""
    check = CheckResult("clean rows > 0", "accounting", "error", "> 0", str(partition.rows), partition.rows > 0)
    write_report(s3, bucket, ValidationReport(DATASET, run_date, f"clean.{DATASET}", (check,), partition))


@pytest.fixture(scope="module")
def bucket(aws) -> str:
    """Seven prior dates, written newest first (history goes by date, not by the order dates ran)."""
    name = f"anomalies-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    for run_date, (rows, share) in sorted(PRIOR.items(), reverse=True):
        write_date(s3, name, run_date, metrics(rows, share))
    return name


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def compare(aws, bucket: str, current: PartitionMetrics, settings: AnomalySettings | None = None,
            run_date: str = RUN_DATE) -> tuple[dict[str, CheckResult], list[str]]:
    results, notes = anomalies_against_history(aws("s3"), bucket, DATASET, run_date, current,
                                               settings or AnomalySettings())
    return by_name(results), notes


def test_a_normal_day_passes_every_comparison(aws, bucket):
    results, notes = compare(aws, bucket, NORMAL)

    assert set(results) == {"row count vs history", "null share of id vs history",
                            "null share of importe vs history", "schema drift vs previous date"}
    assert all(result.passed and result.result == "ok" for result in results.values())
    rows = results["row count vs history"]
    assert (rows.kind, rows.expected, rows.actual) == ("anomaly", "between 90 and 270 rows (median 180 of 7 dates)",
                                                      "181 rows")
    assert results["schema drift vs previous date"].expected == "the 3 columns of 2026-11-09"
    assert results["schema drift vs previous date"].actual == "the same 3 columns"
    assert notes == ["History: 7 prior dates, 2026-11-03 to 2026-11-09."]


def test_a_small_day_warns_with_what_was_expected(aws, bucket):
    results, _ = compare(aws, bucket, dataclasses.replace(NORMAL, rows=12))

    rows = results["row count vs history"]
    assert (rows.passed, rows.severity, rows.result) == (False, "warn", "WARN")
    assert rows.expected == "between 90 and 270 rows (median 180 of 7 dates)"
    assert rows.actual == "12 rows"
    assert results["null share of importe vs history"].passed  # the shares did not move


def test_the_band_edges_are_inside(aws, bucket):
    assert compare(aws, bucket, dataclasses.replace(NORMAL, rows=90))[0]["row count vs history"].passed
    assert compare(aws, bucket, dataclasses.replace(NORMAL, rows=270))[0]["row count vs history"].passed
    assert not compare(aws, bucket, dataclasses.replace(NORMAL, rows=271))[0]["row count vs history"].passed


def test_a_jump_in_a_columns_null_share_warns(aws, bucket):
    results, _ = compare(aws, bucket, metrics(180, 0.35))

    share = results["null share of importe vs history"]
    assert (share.passed, share.result) == (False, "WARN")
    assert share.expected == "null share between 0.0% and 12.0% (median 2.0% of 7 dates)"
    assert share.actual == "35.0%"
    assert results["null share of id vs history"].passed
    assert results["row count vs history"].passed


def test_severity_error_when_configured_fails_the_report(aws, bucket):
    settings = AnomalySettings(severity="error", row_count_band=0.1)
    results, _ = compare(aws, bucket, dataclasses.replace(NORMAL, rows=150), settings)

    rows = results["row count vs history"]
    assert (rows.severity, rows.result) == ("error", "FAILED")
    assert rows.expected == "between 162 and 198 rows (median 180 of 7 dates)"
    report = ValidationReport(DATASET, RUN_DATE, "clean.ventas", tuple(results.values()), NORMAL)
    assert not report.passed and report.failures == (rows,)


def test_schema_drift_names_added_removed_and_retyped_columns(aws, bucket):
    drifted = {"id": "string", "importe": "double", "canal": "string"}  # id retyped, cliente removed, canal added
    results, _ = compare(aws, bucket, PartitionMetrics(180, {"importe": 0.02}, drifted))

    drift = results["schema drift vs previous date"]
    assert (drift.kind, drift.passed, drift.result) == ("schema_drift", False, "WARN")
    assert drift.expected == "the 3 columns of 2026-11-09"
    assert drift.actual == "added canal string; removed cliente; retyped id bigint -> string"
    assert list(drift.failing_rows) == [
        {"column": "canal", "change": "added", "previous type": None, "type": "string"},
        {"column": "cliente", "change": "removed", "previous type": "string", "type": None},
        {"column": "id", "change": "retyped", "previous type": "bigint", "type": "string"}]
    error = compare(aws, bucket, PartitionMetrics(180, {}, drifted), AnomalySettings(severity="error"))[0]
    assert error["schema drift vs previous date"].result == "FAILED"


def test_too_little_history_compares_nothing_and_says_so(aws):
    name = f"anomalies-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    write_date(s3, name, "2026-11-09", metrics(180, 0.02))

    results, notes = compare(aws, name, dataclasses.replace(NORMAL, rows=1))

    # Schema drift needs one prior date; the medians need min_history.
    assert list(results) == ["schema drift vs previous date"]
    assert notes[0] == "Row count and null shares not compared with history: 3 prior dates needed, 1 found."
    none = anomaly_results(NORMAL, [], AnomalySettings(min_history=1))
    assert none == ([], ["Row count and null shares not compared with history: 1 prior date needed, 0 found.",
                         "Schema drift not checked: no prior date has a validation report."])


def test_a_column_with_too_little_history_is_named_in_a_note():
    prior = [metrics(180, 0.02)] * 4 + [PartitionMetrics(180, {"id": 0.0, "importe": 0.02, "nuevo": 0.5},
                                                         {**COLUMNS, "nuevo": "int"})]
    current = PartitionMetrics(180, {"id": 0.0, "importe": 0.02, "nuevo": 0.9}, {**COLUMNS, "nuevo": "int"})

    results, notes = anomaly_results(current, prior, AnomalySettings())

    assert "null share of nuevo vs history" not in by_name(results)
    assert notes == ["Null share of nuevo not compared with history: 3 prior dates needed, 1 found."]
    assert by_name(results)["null share of importe vs history"].expected.endswith("(median 2.0% of 5 dates)")


def test_history_is_the_latest_dates_before_the_run_date_with_one_list(aws):
    """A backfill of 2026-11-10 after later dates ran: the same seven dates as on the day, one LIST, seven GETs."""
    name = f"anomalies-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    day = datetime.date(2026, 10, 25)
    for offset in range(25):  # 2026-10-25 .. 2026-11-18, the later ones far off the band
        run_date = (day + datetime.timedelta(days=offset)).isoformat()
        rows, share = PRIOR.get(run_date, (5000, 0.9))
        if run_date != RUN_DATE:
            write_date(s3, name, run_date, metrics(rows, share))
    s3.put_object(Bucket=name, Key=f"reports/{DATASET}/dt=2026-11-09/notes.txt", Body=b"not a report")
    s3.put_object(Bucket=name, Key=f"reports/{DATASET}x/dt=2026-11-09/validation.json", Body=b"other dataset")
    client = aws("s3")
    calls: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))

    prior = read_history(client, name, DATASET, RUN_DATE, 7)

    assert [p.run_date for p in prior] == sorted(PRIOR)
    assert [p.metrics.rows for p in prior] == [rows for _, (rows, _) in sorted(PRIOR.items())]
    assert calls == ["ListObjectsV2"] + ["GetObject"] * 7
    results, _ = compare(aws, name, NORMAL)
    assert results["row count vs history"].expected == "between 90 and 270 rows (median 180 of 7 dates)"


def test_history_through_the_backup_hook(aws, bucket, aws_connection):
    from indata_ops.hooks.backup import BackupHook

    hook = BackupHook(aws_conn_id=aws_connection)
    prior = read_history(hook, bucket, DATASET, "2026-11-06", 7)
    assert [(p.run_date, p.metrics) for p in prior] == [
        (run_date, metrics(*PRIOR[run_date])) for run_date in ("2026-11-03", "2026-11-04", "2026-11-05")]


def test_an_unreadable_prior_report_fails_naming_it(aws):
    name = f"anomalies-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    key = validation_report_key(DATASET, "2026-11-09", "json")
    s3.put_object(Bucket=name, Key=key, Body=b'{"report_version": 99}')
    with pytest.raises(ValueError, match=rf"s3://{name}/{key}: report_version 99 is not one this code reads"):
        read_history(s3, name, DATASET, RUN_DATE, 7)
    s3.put_object(Bucket=name, Key=key, Body=b"<html>")
    with pytest.raises(ValueError, match=rf"s3://{name}/{key}: not JSON"):
        read_history(s3, name, DATASET, RUN_DATE, 7)
    with pytest.raises(ValueError, match="run_date '2026-13-01' is not a YYYY-MM-DD date"):
        read_history(s3, name, DATASET, "2026-13-01", 7)
