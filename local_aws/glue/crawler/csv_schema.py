"""CSV samples: the delimiter, the cell types and AWS's header heuristics."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter

from local_aws.glue.crawler.model import CsvLayout, HiveType, Schema, merge_types

CSV_DELIMITERS = (",", "|", "\t", ";", "\x01")  # AWS's list; the order breaks ties
CSV_MIN_CONSISTENCY = 0.9
MAX_HEADER_CELL = 150
_BIGINT = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")



def sniff_csv(text: str, complete: bool) -> CsvLayout | None:
    best: tuple[float, int] | None = None
    layout = None
    for delimiter in CSV_DELIMITERS:
        rows = _parse_csv(text, delimiter, complete)
        score = _csv_consistency(rows) if rows else None
        if score and (best is None or score > best):
            best = score
            quoted = re.search(f'(?:^|{re.escape(delimiter)})"', text, re.MULTILINE) is not None
            layout = CsvLayout(delimiter, quoted, rows)
    return layout


def _parse_csv(text: str, delimiter: str, complete: bool) -> list[list[str]] | None:
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    except csv.Error:
        return None  # NUL bytes, runaway quotes: not this delimiter (or not CSV)
    return rows if complete else rows[:-1]


def _csv_consistency(rows: list[list[str]]) -> tuple[float, int] | None:
    """(share of rows with the usual width, that width), when it looks like a table."""
    width, count = Counter(len(row) for row in rows).most_common(1)[0]
    share = count / len(rows)
    if len(rows) < 2 or width < 2 or share < CSV_MIN_CONSISTENCY:
        return None
    return share, width


def _csv_cell_type(cell: str) -> str | None:
    value = cell.strip()
    if not value:
        return None
    if _BIGINT.fullmatch(value):
        return "bigint" if -(2**63) <= int(value) < 2**63 else "string"
    if _DOUBLE.fullmatch(value):
        return "double"
    if value.lower() in ("true", "false"):
        return "boolean"
    return "string"


def _csv_column_types(rows: list[list[str]]) -> list[HiveType | None]:
    types: list[HiveType | None] = []
    for row in rows:
        types.extend([None] * (len(row) - len(types)))
        for i, cell in enumerate(row):
            types[i] = merge_types(types[i], _csv_cell_type(cell))
    return types


def _looks_like_header(row: list[str]) -> bool:
    names = [cell.strip().lower() for cell in row]
    named = names[:-1] if names and not names[-1] else names  # a trailing delimiter is allowed
    return (
        all(name and len(name) < MAX_HEADER_CELL and _csv_cell_type(name) == "string" for name in named)
        and len(set(named)) == len(named)
    )


def csv_has_header(layouts: list[CsvLayout]) -> bool:
    if not all(_looks_like_header(layout.rows[0]) for layout in layouts):
        return False
    data_types = (t for layout in layouts for t in _csv_column_types(layout.rows[1:]))
    return any(t not in (None, "string") for t in data_types)


def csv_schema(layout: CsvLayout, has_header: bool) -> Schema:
    data = layout.rows[1:] if has_header else layout.rows
    types = _csv_column_types(data)
    header = [cell.strip().lower() for cell in layout.rows[0]] if has_header else []
    width = max(len(types), len(header))
    types.extend([None] * (width - len(types)))
    names = [header[i] if i < len(header) and header[i] else f"col{i}" for i in range(width)]
    return dict(zip(names, types))
