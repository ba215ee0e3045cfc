"""The bench-spark input: messy ``ventas`` rows made deterministically, with the counts the cleaning must give.

Rows are made by include/sample_data/generate.py's ``VentasMaker`` (seeded ``random.Random``, no clock) as two
Windows-1252 ";" CSV files of one run date; what happens to each row is planned, so the expected counts are known by
construction. scripts/bench_spark.py describes the rows.
"""
from __future__ import annotations

import csv
import heapq
from collections import Counter
from pathlib import Path
from random import Random
from typing import Any

from scripts.common import REPO, load_file_module

DATASET = "ventas"
RUN_DATE = "2026-11-01"
SEED = 20261101
# The day's rows: the morning export, then the afternoon re-export (which repeats some morning rows).
FILE_SHARES = (("ventas_{day}.csv", 0.6), ("ventas_{day}_tarde.csv", 0.4))
# What becomes of each new sale, besides being written once: an exact copy written a little later, or a newer
# version (same key, later Actualizado). Disjoint, so each key group holds at most two rows.
EXACT_COPY_RATE, NEWER_VERSION_RATE = 0.03, 0.03
# A row with one defect (and a key of its own) follows a sale this often.
DEFECT_RATE = 0.012
COPY_DELAY = 200  # a copy or newer version lands within this many rows of its original
# (column, value, reason): every value fails exactly the check its reason names; reason "clean": an odd spelling the
# cleaning reads, so the row is clean.
DEFECTS = (
    ("codigo_venta", "", "missing"),
    ("codigo_venta", " N/A ", "missing"),
    ("fecha", "pendiente", "unparseable"),
    ("fecha", "31/11/2026", "unparseable"),
    ("fecha", "-", "missing"),
    ("importe", "doce", "unparseable"),
    ("importe", "12,50,3", "unparseable"),
    # "." is the locale's thousands mark, but not followed by a group of three it can only be the decimal mark.
    ("importe", "1234.56", "clean"),
    ("unidades", "tres", "unparseable"),
    ("unidades", "2,5", "unparseable"),
    ("pagado", "quizás", "unparseable"),
    ("actualizado", "ayer", "unparseable"),
    ("actualizado", "null", "missing"),
)


def generate(folder: Path, rows: int, seed: int = SEED) -> dict[str, Any]:
    """Write ``rows`` data rows of ventas for RUN_DATE under ``folder``; return the counts the cleaning must give."""
    generator = load_file_module("sample_generator", REPO / "include" / "sample_data" / "generate.py")
    VENTAS_ENCODING, VENTAS_HEADERS = generator.VENTAS_ENCODING, generator.VENTAS_HEADERS
    Defect, VentasMaker = generator.Defect, generator.VentasMaker

    rng = Random(seed)
    maker = VentasMaker(RUN_DATE)
    pending: list[tuple[int, int, list[str], str]] = []  # (due row, tie-break, row, what it is)
    planned: Counter[str] = Counter()
    folder.mkdir(parents=True, exist_ok=True)
    boundaries = []
    written = 0
    for share_name, share in FILE_SHARES:
        written += round(rows * share)
        boundaries.append((share_name.format(day=RUN_DATE), min(written, rows)))
    boundaries[-1] = (boundaries[-1][0], rows)

    emitted = 0
    sequence = 0  # orders equal due rows in the heap without comparing rows
    for name, end in boundaries:
        with open(folder / name, "w", encoding=VENTAS_ENCODING, newline="") as handle:
            writer = csv.writer(handle, delimiter=";", quotechar='"', lineterminator="\r\n")
            writer.writerow(VENTAS_HEADERS.values())
            while emitted < end:
                if pending and pending[0][0] <= emitted:
                    _, _, row, kind = heapq.heappop(pending)
                    writer.writerow(row)
                    planned[kind] += 1
                    emitted += 1
                    continue
                sale = maker.new_row(rng)
                draw = rng.random()
                if draw < NEWER_VERSION_RATE:
                    newer = maker.updated(rng, sale)
                    if rng.random() < 1 / 3:  # the newer version written first: "keep the last row" would be wrong
                        sale, newer = newer, sale
                    writer.writerow(sale)
                    planned["clean"] += 1
                    emitted += 1
                    sequence += 1
                    heapq.heappush(pending, (emitted + rng.randint(0, COPY_DELAY), sequence, newer, "key_duplicates"))
                else:
                    writer.writerow(sale)
                    planned["clean"] += 1
                    emitted += 1
                    if draw < NEWER_VERSION_RATE + EXACT_COPY_RATE:
                        sequence += 1
                        copy = list(sale)
                        due = emitted + rng.randint(0, COPY_DELAY)
                        heapq.heappush(pending, (due, sequence, copy, "exact_duplicates"))
                if emitted < end and rng.random() < DEFECT_RATE:
                    column, value, reason = rng.choice(DEFECTS)
                    writer.writerow(maker.with_defect(maker.new_row(rng), Defect(column, value, reason)))
                    planned["clean" if reason == "clean" else f"{reason}:{column}"] += 1
                    emitted += 1
    # Copies still pending when the rows ran out are simply not written; nothing counted them yet.
    by_reason = {k: v for k, v in planned.items() if ":" in k}
    counts: dict[str, Any] = {
        "input": rows,
        "clean": planned["clean"],
        "rejected": sum(by_reason.values()),
        "exact_duplicates": planned["exact_duplicates"],
        "key_duplicates": planned["key_duplicates"],
        "rejects_by_reason": dict(sorted(by_reason.items())),
    }
    counts["duplicates"] = counts["exact_duplicates"] + counts["key_duplicates"]
    assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"], counts
    return counts


def ventas_job_config() -> dict[str, Any]:
    """The ventas dataset's job config from the shipped include/config/datasets.yaml, as the DAG passes it."""
    from indata_ops.config import load_config

    return load_config(REPO / "include" / "config" / "datasets.yaml", environ={}).dataset(DATASET).job_config()
