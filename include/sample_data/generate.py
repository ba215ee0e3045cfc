"""Generate the bundled messy sample data and its expected cleaning counts.

    python include/sample_data/generate.py [--out DIR]

Deterministic: every (dataset, date) draws from its own seeded ``random.Random`` and nothing reads the clock, so
two runs write byte-identical files. The committed files under include/sample_data/ are this script's output;
tests/config checks that, and recounts every number below independently from the files and the shipped config.

Each defect is planned (``PLANS``), never random, so the expected counts are true by construction: every
planned dirty row has exactly one problem, dirty rows never share a key with another row, and duplicates are
only ever made of clean rows. The random part is only the noise every cleaner must tolerate without dropping a
row: null tokens in nullable columns, stray spaces, mixed date formats, mixed boolean spellings.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

HERE = Path(__file__).resolve().parent

# Null tokens as an export writes them; the config's null_tokens match them after trimming, ignoring case.
NULL_SPELLINGS = ("", "N/A", "n/a", "null", "NULL", "-", " N/A ")

# Clean column name -> CSV header, as the ERP writes it (Windows-1252: the "€" has no Latin-1 code).
VENTAS_HEADERS = {
    "codigo_venta": "Código Venta",
    "fecha": "Fecha",
    "cliente": "Cliente",
    "importe": "Importe (€)",
    "unidades": "Unidades",
    "region": "Región",
    "pagado": "Pagado",
    "actualizado": "Actualizado",
}
VENTAS_ENCODING = "windows-1252"
REGIONES = (
    "Andalucía", "Aragón", "Cataluña", "Castilla y León", "Comunitat Valenciana", "Galicia", "Madrid",
    "País Vasco", "Región de Murcia",
)
PAGADO_SPELLINGS = ("sí", "no", "Sí", "NO", "si", " sí ", "No")

NOMBRES = ("Ana", "José", "María", "Íñigo", "Lucía", "Raúl", "Begoña", "Ángel", "Nuria", "Sergio", "Elena")
APELLIDOS = ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Ruiz", "Muñoz", "Núñez")
# Postcodes starting with 0 are the ones a spreadsheet turns into numbers, losing the zero.
CIUDADES = (
    ("Madrid", "28001"), ("Barcelona", "08001"), ("Sevilla", "41001"), ("Bilbao", "48001"),
    ("Girona", "17001"), ("Valencia", "46001"), ("Ávila", "05001"), ("A Coruña", "15001"),
)
ACTIVO_SPELLINGS: tuple[Any, ...] = ("sí", "no", True, False, "SI", "No", "true")


@dataclass(frozen=True)
class Defect:
    """One dirty row: a clean row whose ``column`` is overwritten with ``value`` (None: JSON null)."""

    column: str
    value: str | None
    reason: str  # "unparseable" (a value that does not parse) or "missing" (null in a non-nullable column)


@dataclass(frozen=True)
class Plan:
    file_rows: tuple[tuple[str, int], ...]  # file name -> clean rows it starts with
    exact_duplicates: int  # byte-identical copies of earlier clean rows
    key_updates: int  # newer versions of clean rows (same key, later "actualizado", other values)
    defects: tuple[Defect, ...] = ()


PLANS: dict[str, dict[str, Plan]] = {
    "ventas": {
        "2026-11-01": Plan(
            (("ventas_2026-11-01.csv", 40),), exact_duplicates=2, key_updates=2,
            defects=(
                Defect("fecha", "pendiente", "unparseable"),
                Defect("importe", "doce", "unparseable"),
                Defect("codigo_venta", "", "missing"),
            ),
        ),
        # The ERP re-exported in the afternoon: a second file that repeats one row of the first.
        "2026-11-02": Plan(
            (("ventas_2026-11-02.csv", 35), ("ventas_2026-11-02_tarde.csv", 20)),
            exact_duplicates=3,
            key_updates=2,
            defects=(
                Defect("fecha", "31/11/2026", "unparseable"),
                Defect("unidades", "tres", "unparseable"),
                Defect("importe", "12,50,3", "unparseable"),
                Defect("fecha", "N/A", "missing"),
            ),
        ),
        "2026-11-03": Plan(
            (("ventas_2026-11-03.csv", 45),), exact_duplicates=1, key_updates=3,
            defects=(
                Defect("fecha", "sin fecha", "unparseable"),
                Defect("pagado", "quizás", "unparseable"),
                Defect("actualizado", "ayer", "unparseable"),
            ),
        ),
    },
    "clientes": {
        "2026-11-01": Plan(
            (("clientes.json", 25),), exact_duplicates=1, key_updates=1,
            defects=(Defect("fecha_alta", "desconocida", "unparseable"),),
        ),
        "2026-11-02": Plan(
            (("clientes.json", 18),), exact_duplicates=1, key_updates=2,
            defects=(Defect("activo", "quizás", "unparseable"), Defect("id", None, "missing")),
        ),
        "2026-11-03": Plan(
            (("clientes.json", 22),), exact_duplicates=2, key_updates=0,
            defects=(Defect("actualizado", "N/A", "missing"), Defect("fecha_alta", "30/02/2025", "unparseable")),
        ),
    },
}


# --- shared helpers -------------------------------------------------------------------------------------------


def maybe(rng: Random, probability: float) -> bool:
    return rng.random() < probability


def null_spelling(rng: Random) -> str:
    return rng.choice(NULL_SPELLINGS)


def pad(rng: Random, text: str) -> str:
    """Stray spaces, as hand-edited exports have them."""
    return rng.choice((f" {text}", f"{text} ", f"  {text}  "))


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def time_of_day(rng: Random, after: str | None = None) -> str:
    """A working-hours time, or one strictly later than ``after`` (HH:MM:SS) for a newer version of a row."""
    if after is None:
        return clock(rng.randint(6 * 3600, 20 * 3600))
    hours, minutes, seconds = map(int, after.split(":"))
    return clock(hours * 3600 + minutes * 60 + seconds + rng.randint(300, 3 * 3600))


def any_date_format(rng: Random, day: date) -> str:
    return day.strftime("%d/%m/%Y") if maybe(rng, 0.5) else day.isoformat()


@dataclass
class Rows:
    """The rows of one (dataset, date), per file, in file order; ``clean`` are the planned clean rows."""

    files: list[list[Any]]
    clean: list[tuple[int, Any]]  # (file index, row)

    def position(self, file_index: int, row: Any) -> int:
        # Identity, not equality: an exact duplicate equals its original.
        return next(i for i, r in enumerate(self.files[file_index]) if r is row)

    def insert_after(self, rng: Random, file_index: int, original: Any, row: Any) -> None:
        rows = self.files[file_index]
        rows.insert(rng.randint(self.position(file_index, original) + 1, len(rows)), row)


def apply_plan(
    rng: Random,
    plan: Plan,
    make_row: Callable[[Random], Any],
    update_row: Callable[[Random, Any], Any],
    set_value: Callable[[Any, Defect], Any],
) -> Rows:
    """Lay out clean rows, then add the planned duplicates, key updates and defects among them."""
    rows = Rows(files=[], clean=[])
    for file_index, (_, count) in enumerate(plan.file_rows):
        made = [make_row(rng) for _ in range(count)]
        rows.files.append(made)
        rows.clean.extend((file_index, row) for row in made)

    picked = rng.sample(rows.clean, plan.exact_duplicates + plan.key_updates)
    duplicated, updated = picked[: plan.exact_duplicates], picked[plan.exact_duplicates:]
    crosses_files = len(rows.files) > 1 and bool(duplicated)
    if crosses_files:  # a re-export repeats a row of the first file in the last one
        duplicated[0] = rng.choice([entry for entry in rows.clean if entry[0] == 0 and entry not in picked])
    for n, (file_index, row) in enumerate(duplicated):
        copy = list(row) if isinstance(row, list) else dict(row)
        if n == 0 and crosses_files:
            last = rows.files[-1]
            last.insert(rng.randint(0, len(last)), copy)
        else:
            rows.insert_after(rng, file_index, row, copy)
    for n, (file_index, row) in enumerate(updated):
        newer = update_row(rng, row)
        if n == 0:  # the newer version first in the file: "keep the last row" would keep the stale one
            rows.files[file_index].insert(rows.position(file_index, row), newer)
        else:
            rows.insert_after(rng, file_index, row, newer)
    for defect in plan.defects:
        row = set_value(make_row(rng), defect)
        target = rng.randrange(len(rows.files))
        rows.files[target].insert(rng.randint(0, len(rows.files[target])), row)
    return rows


# --- ventas ---------------------------------------------------------------------------------------------------


def spanish_amount(amount: Decimal) -> str:
    """1234.5 -> '1.234,50'."""
    return f"{amount:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


class VentasMaker:
    def __init__(self, run_date: str) -> None:
        self.day = date.fromisoformat(run_date)
        self.sequence = 0

    def new_row(self, rng: Random) -> list[str]:
        self.sequence += 1
        code = f"V{self.day:%Y%m%d}-{self.sequence:04d}"
        return [
            pad(rng, code) if maybe(rng, 0.1) else code,
            any_date_format(rng, self.day - timedelta(days=rng.choice((0, 0, 1)))),
            null_spelling(rng) if maybe(rng, 0.08) else f"C{rng.randint(1, 60):04d}",
            null_spelling(rng) if maybe(rng, 0.06) else self.amount(rng),
            null_spelling(rng) if maybe(rng, 0.04) else self.units(rng),
            null_spelling(rng) if maybe(rng, 0.08) else self.region(rng),
            null_spelling(rng) if maybe(rng, 0.06) else rng.choice(PAGADO_SPELLINGS),
            f"{self.day.isoformat()} {time_of_day(rng)}",
        ]

    @staticmethod
    def amount(rng: Random) -> str:
        cents = rng.randint(500, 500_000) * (-1 if maybe(rng, 0.05) else 1)  # negatives are refunds
        return spanish_amount(Decimal(cents) / 100)

    @staticmethod
    def units(rng: Random) -> str:
        units = str(rng.randint(1, 20))
        return pad(rng, units) if maybe(rng, 0.1) else units

    @staticmethod
    def region(rng: Random) -> str:
        region = rng.choice(REGIONES)
        return pad(rng, region) if maybe(rng, 0.1) else region

    def updated(self, rng: Random, row: list[str]) -> list[str]:
        """The same sale corrected later that day: new amount and payment state, strictly later timestamp."""
        newer = list(row)
        newer[3] = self.amount(rng)
        newer[6] = rng.choice(PAGADO_SPELLINGS)
        newer[7] = f"{self.day.isoformat()} {time_of_day(rng, after=row[7][11:])}"
        return newer

    @staticmethod
    def with_defect(row: list[str], defect: Defect) -> list[str]:
        row[list(VENTAS_HEADERS).index(defect.column)] = defect.value or ""
        return row


def write_ventas(folder: Path, run_date: str, plan: Plan) -> None:
    rng = Random(f"ventas/{run_date}")
    maker = VentasMaker(run_date)
    rows = apply_plan(rng, plan, maker.new_row, maker.updated, maker.with_defect)
    folder.mkdir(parents=True, exist_ok=True)
    for (name, _), file_rows in zip(plan.file_rows, rows.files, strict=True):
        # newline="" and an explicit CRLF: the bytes are the same on every OS, as Windows Excel writes them.
        with open(folder / name, "w", encoding=VENTAS_ENCODING, newline="") as handle:
            writer = csv.writer(handle, delimiter=";", quotechar='"', lineterminator="\r\n")
            writer.writerow(VENTAS_HEADERS.values())
            writer.writerows(file_rows)


# --- clientes -------------------------------------------------------------------------------------------------


def ascii_slug(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class ClientesMaker:
    def __init__(self, run_date: str, ids: list[str]) -> None:
        self.day = date.fromisoformat(run_date)
        self.ids = iter(ids)

    def new_row(self, rng: Random) -> dict[str, Any]:
        first, last = rng.choice(NOMBRES), rng.choice(APELLIDOS)
        customer_id = next(self.ids)
        row: dict[str, Any] = {
            "id": pad(rng, customer_id) if maybe(rng, 0.1) else customer_id,
            "nombre": self.noisy(rng, f"{first} {last}", spaces=0.15, nulls=0.05),
            "email": self.email(rng, first, last),
        }
        if not maybe(rng, 0.05):  # sometimes the CRM leaves the address out altogether
            row["direccion"] = None if maybe(rng, 0.05) else self.address(rng)
        row["activo"] = null_spelling(rng) if maybe(rng, 0.05) else rng.choice(ACTIVO_SPELLINGS)
        joined = date(2019, 1, 1) + timedelta(days=rng.randint(0, 2500))
        row["fecha_alta"] = null_spelling(rng) if maybe(rng, 0.05) else any_date_format(rng, joined)
        row["actualizado"] = f"{self.day.isoformat()}T{time_of_day(rng)}"
        return row

    @staticmethod
    def noisy(rng: Random, text: str, spaces: float, nulls: float) -> str | None:
        if maybe(rng, nulls):
            return None if maybe(rng, 0.5) else null_spelling(rng)
        return pad(rng, text) if maybe(rng, spaces) else text

    def email(self, rng: Random, first: str, last: str) -> str | None:
        return self.noisy(rng, f"{ascii_slug(first)}.{ascii_slug(last)}@example.es", spaces=0.05, nulls=0.1)

    @staticmethod
    def address(rng: Random) -> dict[str, Any]:
        city, postcode = rng.choice(CIUDADES)
        lost_zero = postcode.startswith("0") and maybe(rng, 0.5)
        return {
            "ciudad": pad(rng, city) if maybe(rng, 0.1) else city,
            "cp": int(postcode) if lost_zero else postcode,
        }

    def updated(self, rng: Random, row: dict[str, Any]) -> dict[str, Any]:
        """The same customer edited again later that day: new e-mail and state, strictly later timestamp."""
        newer = dict(row)
        newer["email"] = f"{ascii_slug(rng.choice(NOMBRES))}{rng.randint(1, 99)}@example.es"
        newer["activo"] = rng.choice(ACTIVO_SPELLINGS)
        newer["actualizado"] = f"{self.day.isoformat()}T{time_of_day(rng, after=row['actualizado'][11:])}"
        return newer

    @staticmethod
    def with_defect(row: dict[str, Any], defect: Defect) -> dict[str, Any]:
        row[defect.column] = defect.value
        return row


def write_clientes(folder: Path, run_date: str, plan: Plan) -> None:
    rng = Random(f"clientes/{run_date}")
    ids = [f"C{n:04d}" for n in rng.sample(range(1, 61), sum(c for _, c in plan.file_rows) + len(plan.defects))]
    maker = ClientesMaker(run_date, ids)
    rows = apply_plan(rng, plan, maker.new_row, maker.updated, maker.with_defect)
    folder.mkdir(parents=True, exist_ok=True)
    for (name, _), file_rows in zip(plan.file_rows, rows.files, strict=True):
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in file_rows)
        (folder / name).write_text("".join(lines), encoding="utf-8", newline="")


# --- counts ---------------------------------------------------------------------------------------------------


def expected_counts(plan: Plan) -> dict[str, Any]:
    """What a cleaning job following README.md must report for one (dataset, date)."""
    clean = sum(count for _, count in plan.file_rows)
    rejected: dict[str, int] = {}
    for defect in plan.defects:
        column = "id_cliente" if defect.column == "id" else defect.column
        reason = f"{defect.reason}:{column}"
        rejected[reason] = rejected.get(reason, 0) + 1
    return {
        "files": [name for name, _ in plan.file_rows],
        "rows_in": clean + plan.exact_duplicates + plan.key_updates + len(plan.defects),
        "exact_duplicates": plan.exact_duplicates,
        "rejected": len(plan.defects),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "duplicate_keys": plan.key_updates,
        "clean": clean,
    }


def counts_table(counts: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| dataset | date | files | rows in | exact duplicates | rejected | duplicate keys | clean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, per_date in counts.items():
        for run_date, c in per_date.items():
            lines.append(
                f"| {dataset} | {run_date} | {len(c['files'])} | {c['rows_in']} | {c['exact_duplicates']} "
                f"| {c['rejected']} | {c['duplicate_keys']} | {c['clean']} |"
            )
    return "\n".join(lines)


WRITERS = {"ventas": write_ventas, "clientes": write_clientes}


def generate(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    counts: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, plans in PLANS.items():
        shutil.rmtree(out / dataset, ignore_errors=True)  # files from an older plan must not linger
        counts[dataset] = {}
        for run_date, plan in plans.items():
            WRITERS[dataset](out / dataset / run_date, run_date, plan)
            counts[dataset][run_date] = expected_counts(plan)
    text = json.dumps(counts, indent=2, ensure_ascii=False) + "\n"
    (out / "expected_counts.json").write_text(text, encoding="utf-8")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    args = parser.parse_args()
    print(counts_table(generate(args.out)))


if __name__ == "__main__":
    main()
