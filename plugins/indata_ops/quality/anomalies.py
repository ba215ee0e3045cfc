"""Anomalies of a clean partition against the dataset's history: its row count and each numeric column's share of
NULL rows against the median of the previous committed dates, and its columns against the previous date's.

A date's history is the validation.json reports of the dates before it (reports/<dataset>/dt=X/validation.json,
X < run date), the latest ``AnomalySettings.history`` of them by date: a rerun or a backfill of a date compares
with the same dates whatever ran since.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from indata_ops.layout import reports_root, s3_uri, validation_report_key
from indata_ops.quality.model import AnomalySettings, CheckResult, PartitionMetrics
from indata_ops.quality.report import metrics_from_json, plural, s3_client

REPORT_NAME = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/validation\.json")
# Band edges computed in floating point (180 * 1.1 = 198.00000000000003) are rounded this far before they are
# compared, so that a value exactly on an edge is inside it.
EDGE_DIGITS = 9


@dataclass(frozen=True)
class PriorDate:
    """A previous committed date of the dataset and the metrics its validation report kept."""

    run_date: str
    metrics: PartitionMetrics


def _checked_date(run_date: str) -> str:
    try:
        return datetime.date.fromisoformat(run_date).isoformat()
    except ValueError:
        raise ValueError(f"run_date {run_date!r} is not a YYYY-MM-DD date") from None


def prior_report_dates(client_or_hook: Any, bucket: str, dataset: str, run_date: str, history: int) -> list[str]:
    """The latest ``history`` dates before ``run_date`` that have a validation.json, oldest first; one paginated
    LIST of the dataset's reports."""
    run_date = _checked_date(run_date)
    prefix = f"{reports_root(dataset)}dt="
    dates = []
    paginator = s3_client(client_or_hook).get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            # validation.html and anything else under the prefix is not a date's record.
            match = REPORT_NAME.fullmatch(item["Key"], len(reports_root(dataset)))
            if match and match.group(1) < run_date:
                dates.append(match.group(1))
    return sorted(dates)[-history:] if history > 0 else []


def read_history(client_or_hook: Any, bucket: str, dataset: str, run_date: str,
                 history: int) -> list[PriorDate]:
    """The metrics of the latest ``history`` committed dates before ``run_date``, oldest first: one LIST, then one
    GET per date used. A report that cannot be read fails with its S3 URI (an unreadable history is not an empty
    one)."""
    client = s3_client(client_or_hook)
    prior = []
    for date in prior_report_dates(client, bucket, dataset, run_date, history):
        key = validation_report_key(dataset, date, "json")
        where = s3_uri(bucket, key)
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            document = json.loads(body)
        except ValueError as error:
            raise ValueError(f"{where}: not JSON ({error})") from None
        prior.append(PriorDate(date, metrics_from_json(document, where)))
    return prior


# --- comparisons ---------------------------------------------------------------------------------------------------
def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _row_count(current: PartitionMetrics, prior: Sequence[PartitionMetrics],
               settings: AnomalySettings) -> CheckResult:
    median = _median([metrics.rows for metrics in prior])
    # Row counts are whole: the band is shown, and checked, as the whole numbers inside it.
    low = max(0, math.ceil(round(median * (1 - settings.row_count_band), EDGE_DIGITS)))
    high = math.floor(round(median * (1 + settings.row_count_band), EDGE_DIGITS))
    return CheckResult(
        name="row count vs history", kind="anomaly", severity=settings.severity,
        expected=f"between {low} and {high} rows (median {_number(median)} of {plural(len(prior), 'date')})",
        actual=plural(current.rows, "row"), passed=low <= current.rows <= high,
        detail=f"band: median * (1 \u00b1 {settings.row_count_band:g})")


def _null_share(column: str, share: float, prior_shares: Sequence[float],
                settings: AnomalySettings) -> CheckResult:
    median = _median(prior_shares)
    low = max(0.0, median - settings.null_share_band)
    high = min(1.0, median + settings.null_share_band)
    inside = round(low, EDGE_DIGITS) <= round(share, EDGE_DIGITS) <= round(high, EDGE_DIGITS)
    return CheckResult(
        name=f"null share of {column} vs history", kind="anomaly", severity=settings.severity,
        expected=(f"null share between {_percent(low)} and {_percent(high)} "
                  f"(median {_percent(median)} of {plural(len(prior_shares), 'date')})"),
        actual=_percent(share), passed=inside,
        detail=f"band: median \u00b1 {_percent(settings.null_share_band)}")


def _null_shares(current: PartitionMetrics, prior: Sequence[PartitionMetrics],
                 settings: AnomalySettings) -> tuple[list[CheckResult], list[str]]:
    if current.rows == 0:
        return [], ["Null shares not compared with history: the partition has no rows."]
    results, notes = [], []
    for column, share in current.null_shares.items():
        # Dates with no rows have no shares, and a column new since then has none for the dates before it.
        prior_shares = [metrics.null_shares[column] for metrics in prior if column in metrics.null_shares]
        if len(prior_shares) < settings.min_history:
            notes.append(f"Null share of {column} not compared with history: {_needed(settings, len(prior_shares))}.")
        else:
            results.append(_null_share(column, share, prior_shares, settings))
    return results, notes


def _needed(settings: AnomalySettings, found: int) -> str:
    return f"{plural(settings.min_history, 'prior date')} needed, {found} found"


def _schema_drift(current: PartitionMetrics, previous: PartitionMetrics, settings: AnomalySettings,
                  since: str | None) -> CheckResult:
    before, now = dict(previous.columns), dict(current.columns)
    changes: list[dict[str, str | None]] = []
    changes += [{"column": c, "change": "added", "previous type": None, "type": t}
                for c, t in now.items() if c not in before]
    changes += [{"column": c, "change": "removed", "previous type": t, "type": None}
                for c, t in before.items() if c not in now]
    changes += [{"column": c, "change": "retyped", "previous type": before[c], "type": t}
                for c, t in now.items() if c in before and before[c] != t]
    parts = [", ".join(f"{c['column']} {c['type']}" for c in changes if c["change"] == "added"),
             ", ".join(str(c["column"]) for c in changes if c["change"] == "removed"),
             ", ".join(f"{c['column']} {c['previous type']} -> {c['type']}" for c in changes
                       if c["change"] == "retyped")]
    actual = "; ".join(f"{label} {part}" for label, part in zip(("added", "removed", "retyped"), parts) if part)
    previous_date = f"of {since}" if since else "of the previous date"
    return CheckResult(
        name="schema drift vs previous date", kind="schema_drift", severity=settings.severity,
        expected=f"the {plural(len(before), 'column')} {previous_date}",
        actual=actual or f"the same {plural(len(now), 'column')}", passed=not changes,
        failing_rows=tuple(changes))


def anomaly_results(current: PartitionMetrics, history: Sequence[PartitionMetrics], settings: AnomalySettings,
                    since: str | None = None) -> tuple[list[CheckResult], list[str]]:
    """The partition's anomaly checks against ``history`` (the previous committed dates' metrics, oldest first;
    only the latest ``settings.history`` are used) and notes on what was not compared and why. ``since``: the
    date of the latest of them, named in the schema drift check.

    Row count and null shares need ``settings.min_history`` dates; schema drift needs one.
    """
    prior = list(history)[-settings.history:] if settings.history > 0 else []
    results: list[CheckResult] = []
    notes: list[str] = []
    if len(prior) < settings.min_history:
        notes.append(f"Row count and null shares not compared with history: {_needed(settings, len(prior))}.")
    else:
        results.append(_row_count(current, prior, settings))
        shares, share_notes = _null_shares(current, prior, settings)
        results += shares
        notes += share_notes
    if not prior:
        notes.append("Schema drift not checked: no prior date has a validation report.")
    elif not prior[-1].columns or not current.columns:
        notes.append("Schema drift not checked: the columns of this date or of the previous one are unknown.")
    else:
        results.append(_schema_drift(current, prior[-1], settings, since))
    return results, notes


def anomalies_against_history(client_or_hook: Any, bucket: str, dataset: str, run_date: str,
                              current: PartitionMetrics,
                              settings: AnomalySettings) -> tuple[list[CheckResult], list[str]]:
    """Reads the dataset's history from S3 (read_history) and compares the run date's metrics with it
    (anomaly_results): what validation calls."""
    prior = read_history(client_or_hook, bucket, dataset, run_date, settings.history)
    results, notes = anomaly_results(current, [p.metrics for p in prior], settings,
                                     since=prior[-1].run_date if prior else None)
    if prior:
        notes.append(f"History: {plural(len(prior), 'prior date')}, {prior[0].run_date} to {prior[-1].run_date}.")
    return results, notes
