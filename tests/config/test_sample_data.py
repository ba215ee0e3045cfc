"""The bundled sample data: generated deterministically, committed as generated, and counted truthfully.

``recount`` is an independent reading of the files under the shipped config, following the cleaning rules in
include/sample_data/README.md; the generator's counts are true by construction, and the two must agree.
"""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from indata_ops.config import DEFAULT_SOURCE_ROOT, ColumnSpec, Dataset, load_config

GENERATOR = DEFAULT_SOURCE_ROOT / "generate.py"
HAND_WRITTEN = {"README.md", "generate.py"}
EXPECTED_COUNTS = json.loads((DEFAULT_SOURCE_ROOT / "expected_counts.json").read_text(encoding="utf-8"))


def generate_into(folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(folder)], check=True, capture_output=True, text=True
    )
    return result.stdout


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in HAND_WRITTEN and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, bytes], str]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    stdout = generate_into(first)
    generate_into(second)
    return tree(first), tree(second), stdout


def test_generator_is_deterministic(generated) -> None:
    first, second, _ = generated

    assert first and first == second


def test_committed_files_are_the_generator_output(generated) -> None:
    first, _, _ = generated

    committed = tree(DEFAULT_SOURCE_ROOT)

    assert sorted(committed) == sorted(first), "stale or missing files: rerun include/sample_data/generate.py"
    assert [name for name in first if committed[name] != first[name]] == []


def test_readme_shows_the_counts_the_generator_prints(generated) -> None:
    _, _, stdout = generated
    readme = (DEFAULT_SOURCE_ROOT / "README.md").read_text(encoding="utf-8")

    table = stdout.strip().splitlines()

    assert len(table) == 2 + sum(len(per_date) for per_date in EXPECTED_COUNTS.values())
    assert "\n".join(table) in readme


def test_sample_files_stay_small() -> None:
    for path in DEFAULT_SOURCE_ROOT.rglob("*"):
        if path.is_file() and path.name not in HAND_WRITTEN:
            assert path.stat().st_size < 64 * 1024, path


def test_afternoon_file_repeats_a_morning_row() -> None:
    folder = DEFAULT_SOURCE_ROOT / "ventas" / "2026-11-02"
    morning = (folder / "ventas_2026-11-02.csv").read_bytes().split(b"\r\n")[1:]
    afternoon = (folder / "ventas_2026-11-02_tarde.csv").read_bytes().split(b"\r\n")[1:]

    assert {line for line in afternoon if line} & {line for line in morning if line}


# --- an independent recount -----------------------------------------------------------------------------------

SPARK_TO_REGEX = {"yyyy": r"(?P<year>\d{4})", "MM": r"(?P<month>\d{2})", "dd": r"(?P<day>\d{2})",
                  "HH": r"(?P<hour>\d{2})", "mm": r"(?P<minute>\d{2})", "ss": r"(?P<second>\d{2})"}


def spark_pattern_regex(pattern: str) -> re.Pattern[str]:
    """The handful of Spark pattern letters the shipped config uses, with Spark's fixed widths."""
    parts = []
    for token in re.finditer(r"'[^']*'|([A-Za-z])\1*|.", pattern):
        text = token.group(0)
        if text.startswith("'"):
            parts.append(re.escape(text.strip("'")))
        elif text[0].isalpha():
            parts.append(SPARK_TO_REGEX[text])  # a KeyError means the oracle needs the new letter
        else:
            parts.append(re.escape(text))
    return re.compile("".join(parts))


@dataclass
class Recount:
    rows_in: int = 0
    exact_duplicates: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    duplicate_keys: int = 0
    clean: int = 0
    rejected_keys: list[tuple[Any, ...]] = field(default_factory=list)
    normalised_duplicates: int = 0
    all_keys: Counter[tuple[Any, ...]] = field(default_factory=Counter)


def read_rows(dataset: Dataset, files: list[Path]) -> list[tuple[Any, dict[str, Any]]]:
    """(identity for exact-duplicate detection, value per source field) for every data row."""
    rows: list[tuple[Any, dict[str, Any]]] = []
    for path in files:
        if dataset.format == "csv":
            reader = dataset.reader
            with open(path, encoding=reader["encoding"], newline="") as handle:
                lines = csv.reader(handle, delimiter=reader["delimiter"], quotechar=reader["quote"],
                                   doublequote=reader["escape"] == reader["quote"])
                header = next(lines)
                rows.extend((tuple(line), dict(zip(header, line, strict=True))) for line in lines)
        else:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    obj = json.loads(line)
                    rows.append((json.dumps(obj, sort_keys=True), {c.source_field: lookup(obj, c.source_field)
                                                                   for c in dataset.schema}))
    return rows


def lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def normalise(value: Any, dataset: Dataset) -> str | None:
    if value is None:
        return None
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    text = text.strip()
    return None if text.casefold() in {t.strip().casefold() for t in dataset.null_tokens} else text


def parse(text: str, column: ColumnSpec, dataset: Dataset) -> tuple[bool, Any]:
    locale = dataset.locale
    if column.type == "string":
        return True, text
    if column.type in ("int", "bigint") or column.type.startswith("decimal") or column.type == "double":
        number = text.replace(locale.thousands, "") if locale.thousands else text
        number = number.replace(locale.decimal, ".")
        integral = column.type in ("int", "bigint")
        ok = re.fullmatch(r"-?\d+" if integral else r"-?\d+(\.\d+)?", number) is not None
        return ok, (int(number) if integral else Decimal(number)) if ok else None
    if column.type == "boolean":
        folded = text.casefold()
        if folded in {t.casefold() for t in locale.true_values}:
            return True, True
        return (True, False) if folded in {t.casefold() for t in locale.false_values} else (False, None)
    for pattern in column.formats:
        match = spark_pattern_regex(pattern).fullmatch(text)
        if match:
            try:
                return True, datetime(**{k: int(v) for k, v in match.groupdict().items()})
            except ValueError:  # 31/11: the shape fits, the day does not exist
                continue
    return False, None


def recount(dataset: Dataset, files: list[Path]) -> Recount:
    result = Recount()
    rows = read_rows(dataset, files)
    result.rows_in = len(rows)
    seen_raw, seen_normalised = set(), set()
    valid: list[dict[str, Any]] = []
    for identity, raw in rows:
        values = {c.name: normalise(raw[c.source_field], dataset) for c in dataset.schema}
        result.normalised_duplicates += tuple(values.values()) in seen_normalised
        seen_normalised.add(tuple(values.values()))
        if identity in seen_raw:
            result.exact_duplicates += 1
            continue
        seen_raw.add(identity)
        key = tuple(values[k] for k in dataset.keys)
        result.all_keys[key] += 1
        reasons, parsed = classify(values, dataset)
        assert len(reasons) <= 1, f"a planned dirty row has more than one problem: {raw}"
        if reasons:
            result.rejected_by_reason[reasons[0]] += 1
            result.rejected_keys.append(key)
        else:
            valid.append(parsed)
    by_key: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for row in valid:
        by_key[tuple(row[k] for k in dataset.keys)].append(row[dataset.order_by])
    for versions in by_key.values():
        assert len(set(versions)) == len(versions), "a tie on order_by makes 'the latest' undefined"
    result.duplicate_keys = len(valid) - len(by_key)
    result.clean = len(by_key)
    return result


def classify(values: dict[str, str | None], dataset: Dataset) -> tuple[list[str], dict[str, Any]]:
    reasons: list[str] = []
    parsed: dict[str, Any] = {}
    for column in dataset.schema:
        text = values[column.name]
        if text is None:
            if not column.nullable:
                reasons.append(f"missing:{column.name}")
            parsed[column.name] = None
            continue
        ok, parsed[column.name] = parse(text, column, dataset)
        if not ok:
            reasons.append(f"unparseable:{column.name}")
    return reasons, parsed


CASES = [(name, run_date) for name, per_date in EXPECTED_COUNTS.items() for run_date in per_date]


@pytest.fixture(scope="module")
def shipped():
    return load_config(environ={})


@pytest.mark.parametrize(("dataset_name", "run_date"), CASES)
def test_expected_counts_are_true(shipped, dataset_name: str, run_date: str) -> None:
    dataset = shipped.dataset(dataset_name)
    files = sorted(shipped.settings.source_root.glob(dataset.source_glob(run_date)))
    expected = EXPECTED_COUNTS[dataset_name][run_date]

    counted = recount(dataset, files)

    assert [f.name for f in files] == sorted(expected["files"])
    assert counted.rows_in == expected["rows_in"]
    assert counted.exact_duplicates == expected["exact_duplicates"]
    assert dict(counted.rejected_by_reason) == expected["rejected_by_reason"]
    assert sum(counted.rejected_by_reason.values()) == expected["rejected"]
    assert counted.duplicate_keys == expected["duplicate_keys"]
    assert counted.clean == expected["clean"]
    assert expected["rows_in"] == (
        expected["exact_duplicates"] + expected["rejected"] + expected["duplicate_keys"] + expected["clean"]
    )


@pytest.mark.parametrize(("dataset_name", "run_date"), CASES)
def test_counts_do_not_depend_on_the_order_of_cleaning_steps(shipped, dataset_name: str, run_date: str) -> None:
    dataset = shipped.dataset(dataset_name)
    files = sorted(shipped.settings.source_root.glob(dataset.source_glob(run_date)))

    counted = recount(dataset, files)

    # Deduplicating before or after normalising finds the same rows...
    assert counted.normalised_duplicates == counted.exact_duplicates
    # ...and rejected rows share no key, so key deduplication before rejection drops nothing else.
    assert all(key == (None,) or counted.all_keys[key] == 1 for key in counted.rejected_keys)
