"""checks: and anomalies: of a dataset: what good declarations build, and the exact problem each bad one reports."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from indata_ops.config import ConfigDocument, load_config
from indata_ops.quality.model import AnomalySettings, DatasetQuality, DeclaredCheck
from tests.config.problems import problems_of

VENTAS_COLUMNS = "codigo, actualizado, cliente, importe, unidades, ratio, region, pagado, fecha"
CLIENTES_DECLARED = "id_cliente, fecha_alta, puntos"


@pytest.fixture
def quality_document(document: dict[str, Any]) -> dict[str, Any]:
    """ventas with a schema (sources for two columns), clientes without one (keys and column hints), regiones with
    a one-column schema whose column is read from another header."""
    ventas, clientes = document["datasets"]
    ventas["time_zone"] = "Europe/Madrid"
    ventas["schema"] += [
        {"name": "cliente", "type": "string", "source": "Cliente"},
        {"name": "importe", "type": "decimal(12,2)", "source": "Importe (€)"},
        {"name": "unidades", "type": "int"},
        {"name": "ratio", "type": "double"},
        {"name": "region", "type": "string"},
        {"name": "pagado", "type": "boolean"},
        {"name": "fecha", "type": "date"},
    ]
    clientes["keys"] = ["id_cliente"]
    clientes["columns"] = {"id_cliente": {"type": "string", "nullable": False}, "Fecha Alta": {"type": "date"},
                           "puntos": {}}
    document["datasets"].append({"name": "regiones", "source": "regiones/regiones.csv", "format": "csv",
                                 "schema": [{"name": "nombre_region", "source": "Nombre", "type": "string"}]})
    return document


def with_checks(document: dict[str, Any], checks: Any, dataset: int = 0) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["datasets"][dataset]["checks"] = checks
    return changed


def test_good_declarations_build_typed_checks(write_config, quality_document) -> None:
    checks = [
        {"not_null": ["Cliente", "importe"]},
        {"not_null": {"columns": "fecha", "severity": "warn", "name": "fecha_presente"}},
        {"unique": "codigo"},
        {"unique": ["cliente", "fecha"]},
        {"accepted_values": {"column": "region", "values": ["Norte", "Sur", "Este", "Oeste"], "severity": "warn"}},
        {"accepted_values": {"column": "pagado", "values": [True]}},
        {"range": {"column": "Importe (€)", "min": 0, "max": 100000.5}},
        {"range": {"column": "unidades", "max": 500}},
        {"range": {"column": "ratio", "min": 0}},
        {"range": {"column": "fecha", "min": date(2026, 1, 1), "max": "2026-12-31"}},
        {"range": {"column": "actualizado", "min": "2026-11-01 08:30:00", "max": "2026-11-30T23:00:00+00:00"}},
        {"relationship": {"column": "cliente", "to": "clientes.id_cliente"}},
        {"relationship": {"column": "region", "to": "regiones.Nombre", "dates": "any", "severity": "warn"}},
        {"row_count": {"min": 10, "max": 100000}},
        {"freshness": {"column": "actualizado", "max_age": "36h"}},
        {"freshness": {"column": "fecha", "max_age": "2d", "name": "fecha_reciente"}},
        {"sql": {"name": "negative_units", "severity": "warn",
                 "query": "  SELECT * FROM {table} WHERE dt = '{run_date}' AND unidades < 0\n"}},
    ]
    config = load_config(write_config(with_checks(quality_document, checks)), environ={})

    assert config.quality["ventas"].checks == (
        DeclaredCheck(kind="not_null", name="not_null(cliente, importe)", columns=("cliente", "importe")),
        DeclaredCheck(kind="not_null", name="fecha_presente", severity="warn", columns=("fecha",)),
        DeclaredCheck(kind="unique", name="unique(codigo)", columns=("codigo",)),
        DeclaredCheck(kind="unique", name="unique(cliente, fecha)", columns=("cliente", "fecha")),
        DeclaredCheck(kind="accepted_values", name="accepted_values(region)", severity="warn", columns=("region",),
                      values=("Norte", "Sur", "Este", "Oeste")),
        DeclaredCheck(kind="accepted_values", name="accepted_values(pagado)", columns=("pagado",), values=(True,)),
        DeclaredCheck(kind="range", name="range(importe)", columns=("importe",), min=Decimal("0"),
                      max=Decimal("100000.5")),
        DeclaredCheck(kind="range", name="range(unidades)", columns=("unidades",), max=500),
        DeclaredCheck(kind="range", name="range(ratio)", columns=("ratio",), min=0.0),
        DeclaredCheck(kind="range", name="range(fecha)", columns=("fecha",), min=date(2026, 1, 1),
                      max=date(2026, 12, 31)),
        # 08:30 in Madrid (the dataset's time_zone, CET in November) is 07:30 UTC; an offset is kept.
        DeclaredCheck(kind="range", name="range(actualizado)", columns=("actualizado",),
                      min=datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
                      max=datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
        DeclaredCheck(kind="relationship", name="relationship(cliente -> clientes.id_cliente)", columns=("cliente",),
                      to_dataset="clientes", to_column="id_cliente", same_date=True),
        DeclaredCheck(kind="relationship", name="relationship(region -> regiones.nombre_region)", severity="warn",
                      columns=("region",), to_dataset="regiones", to_column="nombre_region", same_date=False),
        DeclaredCheck(kind="row_count", name="row_count", min=10, max=100000),
        DeclaredCheck(kind="freshness", name="freshness(actualizado)", columns=("actualizado",),
                      max_age=timedelta(hours=36)),
        DeclaredCheck(kind="freshness", name="fecha_reciente", columns=("fecha",), max_age=timedelta(days=2)),
        DeclaredCheck(kind="sql", name="negative_units", severity="warn",
                      sql="SELECT * FROM {table} WHERE dt = '{run_date}' AND unidades < 0"),
    )
    typed = config.quality["ventas"].checks[6]
    assert type(typed.min) is Decimal and type(config.quality["ventas"].checks[8].min) is float


def test_a_dataset_without_a_schema_checks_its_declared_columns(write_config, quality_document) -> None:
    checks = [{"not_null": "Fecha Alta"}, {"range": {"column": "fecha_alta", "min": "2020-01-01"}},
              {"unique": "id_cliente"}]

    config = load_config(write_config(with_checks(quality_document, checks, dataset=1)), environ={})

    assert config.quality["clientes"].checks == (
        DeclaredCheck(kind="not_null", name="not_null(fecha_alta)", columns=("fecha_alta",)),
        DeclaredCheck(kind="range", name="range(fecha_alta)", columns=("fecha_alta",), min=date(2020, 1, 1)),
        DeclaredCheck(kind="unique", name="unique(id_cliente)", columns=("id_cliente",)),
    )


def test_every_dataset_has_its_quality_and_anomaly_settings(write_config, quality_document) -> None:
    quality_document["datasets"][1]["anomalies"] = {"history": 14, "min_history": 14, "row_count_band": 1,
                                                    "null_share_band": 0.05, "severity": "error"}

    config = load_config(write_config(quality_document), environ={})

    assert dict(config.quality) == {
        "ventas": DatasetQuality(),
        "clientes": DatasetQuality(anomalies=AnomalySettings(history=14, min_history=14, row_count_band=1.0,
                                                             null_share_band=0.05, severity="error")),
        "regiones": DatasetQuality(),
    }
    assert config.quality["ventas"].anomalies == AnomalySettings(7, 3, 0.5, 0.1, "warn")


def test_checks_stay_out_of_the_job_contract(write_config, quality_document) -> None:
    """The job's input fingerprint hashes its config: a check edit must not make an unchanged date clean again."""
    plain = load_config(write_config(quality_document), environ={})
    checked = load_config(write_config(with_checks(quality_document, [{"not_null": "cliente"}])), environ={})

    assert checked.quality["ventas"].checks and not plain.quality["ventas"].checks
    assert checked.dataset("ventas").job_config() == plain.dataset("ventas").job_config()
    assert checked.datasets == plain.datasets


def test_the_document_resolves_relationships_without_a_context(quality_document) -> None:
    """ConfigDocument alone (no loader context) resolves the target column as load_config does."""
    document = with_checks(quality_document, [{"relationship": {"column": "region", "to": "regiones.Nombre"}}])

    parsed = ConfigDocument.model_validate(document)

    assert parsed.datasets[0].to_quality().checks[0].to_column == "nombre_region"


Checks = list[Any]
BAD: list[tuple[str, Checks, int, str]] = [
    # (case, checks, dataset index, the one problem after "<file>: ")
    ("unknown column", [{"not_null": ["cliente", "clinete"]}], 0,
     f"dataset 'ventas': field 'checks[1] (not_null)': 'clinete' is not a schema column (columns: {VENTAS_COLUMNS})"),
    ("unknown column in a mapping", [{"not_null": "cliente"}, {"unique": {"columns": ["codigo", "id"]}}], 0,
     f"dataset 'ventas': field 'checks[2] (unique).columns': 'id' is not a schema column (columns: {VENTAS_COLUMNS})"),
    ("repeated column", [{"unique": ["codigo", "codigo"]}], 0,
     "dataset 'ventas': field 'checks[1] (unique)': repeats the column 'codigo'"),
    ("undeclared column without a schema", [{"not_null": "email"}], 1,
     "dataset 'clientes': field 'checks[1] (not_null)': 'email' is not declared: a dataset without a schema "
     f"declares the columns its checks name in columns: or keys (declared: {CLIENTES_DECLARED})"),
    ("range of a column without a type", [{"range": {"column": "puntos", "min": 0}}], 1,
     "dataset 'clientes': field 'checks[1] (range).column': needs the type of 'puntos': declare it in columns: "
     "(puntos: {type: ...})"),
    ("range on a string", [{"range": {"column": "cliente", "min": "A"}}], 0,
     "dataset 'ventas': field 'checks[1] (range).min': min and max apply to number, date and timestamp columns "
     "(this one is string)"),
    ("range on a boolean", [{"range": {"column": "pagado", "max": True}}], 0,
     "dataset 'ventas': field 'checks[1] (range).max': min and max apply to number, date and timestamp columns "
     "(this one is boolean)"),
    ("text bound of a decimal", [{"range": {"column": "importe", "max": "100"}}], 0,
     "dataset 'ventas': field 'checks[1] (range).max': must be a number for a decimal(12,2) column (got '100')"),
    ("bound beyond the scale", [{"range": {"column": "importe", "min": 0.001}}], 0,
     "dataset 'ventas': field 'checks[1] (range).min': has more decimals than a decimal(12,2) column holds "
     "(got 0.001)"),
    ("bound beyond the precision", [{"range": {"column": "importe", "max": 10 ** 10}}], 0,
     "dataset 'ventas': field 'checks[1] (range).max': is beyond what a decimal(12,2) column holds "
     "(got 10000000000)"),
    ("fraction for an int", [{"range": {"column": "unidades", "min": 0.5}}], 0,
     "dataset 'ventas': field 'checks[1] (range).min': must be a whole number for the int column (got 0.5)"),
    ("beyond an int", [{"range": {"column": "unidades", "max": 2 ** 31}}], 0,
     "dataset 'ventas': field 'checks[1] (range).max': is beyond the range of the int column (got 2147483648)"),
    ("not a date", [{"range": {"column": "fecha", "min": "01/01/2026"}}], 0,
     "dataset 'ventas': field 'checks[1] (range).min': must be an ISO date such as 2026-11-01 (got '01/01/2026')"),
    ("min above max", [{"range": {"column": "unidades", "min": 10, "max": 1}}], 0,
     "dataset 'ventas': field 'checks[1] (range).max': must not be less than min (10)"),
    ("range without bounds", [{"range": {"column": "unidades"}}], 0,
     "dataset 'ventas': field 'checks[1] (range)': needs min, max or both"),
    ("accepted value of another type", [{"accepted_values": {"column": "region", "values": ["Norte", 1]}}], 0,
     "dataset 'ventas': field 'checks[1] (accepted_values).values': must be a string for a string column "
     "(quote it in YAML; got 1)"),
    ("no accepted values", [{"accepted_values": {"column": "region", "values": []}}], 0,
     "dataset 'ventas': field 'checks[1] (accepted_values).values': must list at least one value"),
    ("relationship to an unknown dataset", [{"relationship": {"column": "cliente", "to": "proveedores.id"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': no dataset 'proveedores' in this file "
     "(datasets: ventas, clientes, regiones)"),
    ("relationship to an undeclared column", [{"relationship": {"column": "cliente", "to": "clientes.nombre"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': clientes: 'nombre' is not declared: a dataset without "
     f"a schema declares the columns its checks name in columns: or keys (declared: {CLIENTES_DECLARED})"),
    ("relationship to an unknown column", [{"relationship": {"column": "region", "to": "regiones.region"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': regiones: 'region' is not a schema column "
     "(columns: nombre_region)"),
    ("relationship between types", [{"relationship": {"column": "importe", "to": "clientes.id_cliente"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': importe (decimal(12,2)) cannot be compared with "
     "clientes.id_cliente (string)"),
    ("relationship to itself", [{"relationship": {"column": "cliente", "to": "ventas.codigo"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': must name another dataset"),
    ("relationship target shape", [{"relationship": {"column": "cliente", "to": "clientes"}}], 0,
     "dataset 'ventas': field 'checks[1] (relationship).to': must be <dataset>.<column> such as "
     "clientes.id_cliente (got 'clientes')"),
    ("relationship dates", [{"relationship": {"column": "cliente", "to": "clientes.id_cliente", "dates": "all"}}],
     0, "dataset 'ventas': field 'checks[1] (relationship).dates': must be one of same, any (got 'all')"),
    ("max_age", [{"freshness": {"column": "actualizado", "max_age": "2 days"}}], 0,
     "dataset 'ventas': field 'checks[1] (freshness).max_age': must be a duration in hours or days such as 36h or "
     "2d (got '2 days')"),
    ("max_age in minutes", [{"freshness": {"column": "actualizado", "max_age": "90m"}}], 0,
     "dataset 'ventas': field 'checks[1] (freshness).max_age': must be a duration in hours or days such as 36h or "
     "2d (got '90m')"),
    ("freshness of a number", [{"freshness": {"column": "importe", "max_age": "1d"}}], 0,
     "dataset 'ventas': field 'checks[1] (freshness).column': needs a date or timestamp column "
     "('importe' is decimal(12,2))"),
    ("severity", [{"not_null": {"columns": "cliente", "severity": "fatal"}}], 0,
     "dataset 'ventas': field 'checks[1] (not_null).severity': must be one of error, warn (got 'fatal')"),
    ("sql without {table}", [{"sql": {"name": "x", "query": "SELECT * FROM ventas WHERE dt = '{run_date}'"}}], 0,
     "dataset 'ventas': field 'checks[1] (x).query': must use {table}: it queries {table} and filters the run's "
     "partition (dt = '{run_date}')"),
    ("sql without {run_date}", [{"sql": {"name": "x", "query": "SELECT * FROM {table}"}}], 0,
     "dataset 'ventas': field 'checks[1] (x).query': must use {run_date}: it queries {table} and filters the run's "
     "partition (dt = '{run_date}')"),
    ("sql that is no select", [{"sql": {"name": "x", "query": "DELETE FROM {table} WHERE dt = '{run_date}'"}}], 0,
     "dataset 'ventas': field 'checks[1] (x).query': must be a SELECT (or WITH ... SELECT) returning the failing "
     "rows (it starts with 'DELETE')"),
    ("two statements", [{"sql": {"name": "x", "query": "SELECT 1 FROM {table} WHERE dt = '{run_date}'; DROP"}}], 0,
     "dataset 'ventas': field 'checks[1] (x).query': must be one statement, without ';'"),
    ("other placeholder", [{"sql": {"name": "x", "query": "SELECT 1 FROM {table} WHERE dt = '{ds}'"}}], 0,
     "dataset 'ventas': field 'checks[1] (x).query': the only placeholders are {table} and {run_date}, and braces "
     "are for them alone (got {ds})"),
    ("sql without a name", [{"sql": {"query": "SELECT 1 FROM {table} WHERE dt = '{run_date}'"}}], 0,
     "dataset 'ventas': field 'checks[1] (sql).name': is required"),
    ("name shape", [{"not_null": {"columns": "cliente", "name": "Cliente OK"}}], 0,
     "dataset 'ventas': field 'checks[1] (Cliente OK).name': must be lowercase letters, digits and _, starting "
     "with a letter (got 'Cliente OK')"),
    ("duplicate derived names", [{"not_null": "cliente"}, {"not_null": {"columns": ["Cliente"], "severity": "warn"}}],
     0, "dataset 'ventas': field 'checks[2] (not_null)': duplicate name 'not_null(cliente)': checks[1] has the same "
        "name (give one of them another name)"),
    ("duplicate given names",
     [{"row_count": {"min": 1, "name": "filas"}}, {"sql": {"name": "filas", "query": "SELECT 1 FROM {table} "
                                                                                    "WHERE dt = '{run_date}'"}}],
     0, "dataset 'ventas': field 'checks[2] (filas)': duplicate name 'filas': checks[1] has the same name "
        "(give one of them another name)"),
    ("unknown key", [{"range": {"column": "importe", "minimum": 0}}], 0,
     "dataset 'ventas': field 'checks[1] (range).minimum': unknown key (known: column, min, max, severity, name)"),
    ("unknown kind", [{"not_empty": "cliente"}], 0,
     "dataset 'ventas': field 'checks[1] (not_empty)': unknown check kind 'not_empty' (known: not_null, unique, "
     "accepted_values, range, relationship, row_count, freshness, sql)"),
    ("two kinds in one item", [{"not_null": "cliente", "unique": "codigo"}], 0,
     "dataset 'ventas': field 'checks[1]': has 2 keys (not_null, unique): one check kind per item"),
    ("not a mapping", ["cliente"], 0,
     "dataset 'ventas': field 'checks[1]': must be a mapping with one check kind (not_null, unique, "
     "accepted_values, range, relationship, row_count, freshness, sql) (got 'cliente')"),
    ("kind without its mapping", [{"range": "importe"}], 0,
     "dataset 'ventas': field 'checks[1] (range)': must be a mapping (column, min, max, severity, name) "
     "(got 'importe')"),
    ("column list of numbers", [{"not_null": [2024]}], 0,
     "dataset 'ventas': field 'checks[1] (not_null)': must be a column name (got 2024)"),
    ("negative row count", [{"row_count": {"min": -1}}], 0,
     "dataset 'ventas': field 'checks[1] (row_count).min': must be >= 0 (got -1)"),
    ("row count as a boolean", [{"row_count": {"max": True}}], 0,
     "dataset 'ventas': field 'checks[1] (row_count).max': must be an integer (got True)"),
    ("row count bounds", [{"row_count": {"min": 10, "max": 5}}], 0,
     "dataset 'ventas': field 'checks[1] (row_count).max': must not be less than min (10)"),
    ("checks not a list", {"not_null": "cliente"}, 0,  # type: ignore[list-item]
     "dataset 'ventas': field 'checks': must be a list (got {'not_null': 'cliente'})"),
]


@pytest.mark.parametrize(("checks", "dataset", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_each_bad_check_names_dataset_check_and_field(write_config, quality_document, checks: Checks, dataset: int,
                                                      expected: str) -> None:
    path = write_config(with_checks(quality_document, checks, dataset))

    assert problems_of(path) == [f"{path}: {expected}"]


BAD_ANOMALIES: list[tuple[dict[str, Any], str]] = [
    ({"history": 0}, "field 'anomalies.history': must be >= 1 (got 0)"),
    ({"history": 3, "min_history": 5}, "field 'anomalies.min_history': must not exceed history (3)"),
    ({"min_history": 0}, "field 'anomalies.min_history': must be >= 1 (got 0)"),
    ({"row_count_band": 0}, "field 'anomalies.row_count_band': must be > 0 (got 0)"),
    ({"null_share_band": 1.5}, "field 'anomalies.null_share_band': must be <= 1 (got 1.5)"),
    ({"severity": "info"}, "field 'anomalies.severity': must be one of error, warn (got 'info')"),
    ({"window": 7}, "field 'anomalies.window': unknown key "
                    "(known: history, min_history, row_count_band, null_share_band, severity)"),
]


@pytest.mark.parametrize(("anomalies", "expected"), BAD_ANOMALIES,
                         ids=[case[1].split(":")[0] for case in BAD_ANOMALIES])
def test_bad_anomaly_settings_name_the_field(write_config, quality_document, anomalies: dict[str, Any],
                                             expected: str) -> None:
    quality_document["datasets"][0]["anomalies"] = anomalies
    path = write_config(quality_document)

    assert problems_of(path) == [f"{path}: dataset 'ventas': {expected}"]


def test_check_problems_come_with_every_other_problem(write_config, quality_document) -> None:
    """A relationship is judged across datasets, yet its problem is reported with the others, in one load."""
    document = with_checks(quality_document, [{"range": {"column": "cliente", "min": 1}},
                                              {"relationship": {"column": "cliente", "to": "clientes.nombre"}}])
    document["datasets"][0]["format"] = "xls"
    document["datasets"][1]["on_empty"] = "ignore"
    document["datasets"][1]["checks"] = [{"relationship": {"column": "id_cliente", "to": "nadie.id"}}]
    document["settings"]["max_active_runs"] = 0
    path = write_config(document)

    problems = problems_of(path)

    assert [problem.removeprefix(f"{path}: ").split(": ", 2)[:2] for problem in problems] == [
        ["settings", "field 'max_active_runs'"],
        ["dataset 'ventas'", "field 'format'"],
        ["dataset 'ventas'", "field 'checks[1] (range).min'"],
        ["dataset 'ventas'", "field 'checks[2] (relationship).to'"],
        ["dataset 'clientes'", "field 'on_empty'"],
        ["dataset 'clientes'", "field 'checks[1] (relationship).to'"],
    ]


def test_a_renamed_relationship_may_not_collide(write_config, quality_document) -> None:
    """Two spellings of one target (clean name and source header) resolve to the same derived name."""
    checks = [{"relationship": {"column": "region", "to": "regiones.nombre_region"}},
              {"relationship": {"column": "region", "to": "regiones.Nombre", "dates": "any"}}]
    path = write_config(with_checks(quality_document, checks))

    assert problems_of(path) == [
        f"{path}: dataset 'ventas': field 'checks[2] (relationship)': duplicate name "
        "'relationship(region -> regiones.nombre_region)': checks[1] has the same name (give one of them another name)"]


def test_the_shipped_file_declares_the_sample_datasets_checks() -> None:
    """The checks the sample datasets declare (they pass on every sample date: tests/test_end_to_end.py)."""
    config = load_config(environ={})

    assert set(config.quality) == {dataset.name for dataset in config.datasets}
    assert {name: [(c.kind, c.name, c.severity) for c in quality.checks] for name, quality in config.quality.items()} \
        == {"ventas": [("accepted_values", "accepted_values(region)", "error"), ("range", "range(importe)", "error"),
                       ("range", "range(unidades)", "error"), ("row_count", "row_count", "error"),
                       ("freshness", "freshness(actualizado)", "error")],
            "clientes": [("row_count", "row_count", "error"), ("freshness", "freshness(actualizado)", "error"),
                         ("sql", "email_without_at", "warn")]}
    assert all(quality.anomalies == AnomalySettings() for quality in config.quality.values())


def test_yaml_dates_and_timestamps_are_literals(write_config: Callable[[Any], Path], quality_document) -> None:
    """Unquoted YAML dates and timestamps (YAML reads them as date and datetime objects) are literals too."""
    quality_document["datasets"][0]["checks"] = "CHECKS"
    text = yaml.safe_dump(quality_document, allow_unicode=True, sort_keys=False).replace(
        "checks: CHECKS", "checks:\n  - range: {column: fecha, min: 2026-01-01}\n"
        "  - range: {column: actualizado, max: 2026-11-01 08:30:00+01:00}")

    config = load_config(write_config(text), environ={})

    assert [(check.min, check.max) for check in config.quality["ventas"].checks] == [
        (date(2026, 1, 1), None), (None, datetime(2026, 11, 1, 7, 30, tzinfo=UTC))]
