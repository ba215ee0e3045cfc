"""The published JSON Schema of datasets.yaml: current with the models, and a real constraint on the file.

The schema is checked with the jsonschema library (the validator editors use), not with our own loader, so it is
evidence that an editor accepts the shipped file and flags the mistakes the loader refuses.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from indata_ops.config import DEFAULT_CONFIG_PATH, load_config
from scripts import config_schema

SCHEMA = json.loads(config_schema.SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_the_schema_and_the_reference_page_are_what_the_models_generate(capsys) -> None:
    assert config_schema.main(["--check"]) == 0, capsys.readouterr().err


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_shipped_config_follows_the_schema() -> None:
    document = shipped()
    # YAML reads the unquoted start_date as a date; an editor's YAML server sees its text, as here.
    document["settings"]["start_date"] = str(document["settings"]["start_date"])

    assert [error.message for error in VALIDATOR.iter_errors(document)] == []


def test_the_yaml_file_names_its_schema_for_editors() -> None:
    first_line = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()[0]

    assert first_line == f"# yaml-language-server: $schema={config_schema.SCHEMA_PATH.name}"


def _broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(shipped())
    document["settings"]["start_date"] = str(document["settings"]["start_date"])
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(("path", "value"), [
    (("settings", "buckett"), "x"),  # a misspelt key
    (("datasets", 0, "format"), "xls"),
    (("datasets", 0, "reader", "delimeter"), ";"),
    (("datasets", 0, "schema", 0, "type"), "datetime"),
    (("datasets", 0, "locale", "decimal"), ",,"),
    (("settings", "glue_number_of_workers"), 1),
    (("settings", "glue_version"), 5.0),
    (("datasets", 0, "rules"), {"importe": {"maximum": 3}}),
    (("datasets", 0, "checks"), [{"not_nul": "cliente"}]),
    (("datasets", 0, "checks"), [{"not_null": "cliente", "unique": "cliente"}]),
    (("datasets", 0, "checks"), [{"sql": {"query": "SELECT * FROM {table} WHERE dt = '{run_date}'"}}]),
    (("datasets", 0, "checks"), [{"range": {"column": "importe", "minimum": 0}}]),
    (("datasets", 0, "anomalies"), {"history": 0}),
])
def test_the_schema_flags_what_the_loader_refuses(path: tuple[Any, ...], value: Any) -> None:
    assert list(VALIDATOR.iter_errors(_broken(path, value))), f"{path} = {value!r} passed the schema"


def test_the_schema_accepts_every_check_kind(write_config) -> None:
    """The documented example of checks: and anomalies: (datasets.yaml's header) passes an editor's validation, and
    the loader's against the sample ventas and clientes."""
    checks = yaml.safe_load("""
    - not_null: [cliente, importe]
    - not_null: cliente
    - unique: {columns: [codigo_venta], severity: warn, name: codigo_unico}
    - accepted_values: {column: region, values: [Norte, Sur, Este, Oeste], severity: warn}
    - accepted_values: {column: pagado, values: [true]}
    - range: {column: importe, min: 0, max: 100000.5}
    - range: {column: fecha, min: "2026-01-01"}
    - relationship: {column: cliente, to: clientes.id_cliente, dates: same}
    - row_count: {min: 10, max: 100000}
    - freshness: {column: actualizado, max_age: 2d}
    - sql: {name: negative_units, query: "SELECT * FROM {table} WHERE dt = '{run_date}' AND unidades < 0"}
    """)
    document = _broken(("datasets", 0, "checks"), checks)
    document["datasets"][0]["anomalies"] = {"history": 7, "min_history": 3, "row_count_band": 0.5,
                                            "null_share_band": 0.1, "severity": "warn"}

    assert [error.message for error in VALIDATOR.iter_errors(document)] == []
    assert len(load_config(write_config(document), environ={}).quality["ventas"].checks) == len(checks)
