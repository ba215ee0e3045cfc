"""The config model: the shipped file, environment overrides, validation messages, and the Dataset helpers."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from indata_ops.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_RESTORE_ROOT,
    DEFAULT_SOURCE_ROOT,
    ColumnSpec,
    ConfigError,
    Dataset,
    Settings,
    load_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_COUNTS = json.loads((DEFAULT_SOURCE_ROOT / "expected_counts.json").read_text(encoding="utf-8"))
SAMPLE_DATES = sorted({run_date for per_date in EXPECTED_COUNTS.values() for run_date in per_date})

Mutation = Callable[[dict[str, Any]], None]


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


# --- the shipped config -----------------------------------------------------------------------------------------


def test_shipped_config_is_the_local_default() -> None:
    config = load_config(environ={})

    assert config.settings == Settings(
        bucket="indata-backup",
        raw_database="indata_raw",
        clean_database="indata_clean",
        glue_job_role="arn:aws:iam::123456789012:role/indata-glue-job",
        glue_job_name_prefix="indata-backup",
        glue_worker_type="G.1X",
        glue_number_of_workers=2,
        glue_version="5.0",
        athena_workgroup="primary",
        athena_output="s3://indata-backup/athena-results/",
        max_active_runs=3,
        aws_conn_id="aws_default",
        region="us-east-1",
        source_root=REPO_ROOT / "include" / "sample_data",
    )
    assert [d.name for d in config.datasets] == ["ventas", "clientes"]
    assert DEFAULT_CONFIG_PATH == REPO_ROOT / "include" / "config" / "datasets.yaml"


def test_shipped_datasets_describe_the_sample_data() -> None:
    config = load_config(environ={})
    ventas, clientes = config.dataset("ventas"), config.dataset("clientes")

    assert (ventas.format, ventas.reader["delimiter"], ventas.reader["encoding"]) == ("csv", ";", "windows-1252")
    assert (ventas.locale.decimal, ventas.locale.thousands) == (",", ".")
    assert ventas.keys == ("codigo_venta",) and ventas.order_by == "actualizado"
    assert ventas.schema[0] == ColumnSpec("codigo_venta", "string", nullable=False, source="Código Venta")
    assert [c.type for c in ventas.schema if c.name == "importe"] == ["decimal(12,2)"]
    assert clientes.format == "json" and clientes.reader == {"layout": "lines"}
    assert {c.name: c.source_field for c in clientes.schema}["codigo_postal"] == "direccion.cp"


@pytest.mark.parametrize("dataset_name", ["ventas", "clientes"])
@pytest.mark.parametrize("run_date", SAMPLE_DATES)
def test_every_sample_date_has_files_for_every_dataset(dataset_name: str, run_date: str) -> None:
    config = load_config(environ={})
    dataset = config.dataset(dataset_name)

    matched = sorted(config.settings.source_root.glob(dataset.source_glob(run_date)))

    assert len(matched) >= 1
    assert [p.name for p in matched] == sorted(EXPECTED_COUNTS[dataset_name][run_date]["files"])


def test_yaml_header_documents_every_environment_variable() -> None:
    header = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").split("\nsettings:")[0]
    for variable in ["BACKUP_CONFIG"] + [Settings.env_variable(name) for name in Settings.model_fields]:
        assert re.search(rf"^#\s+{variable}\s", header, re.MULTILINE), variable


def test_every_setting_has_its_own_variable() -> None:
    variables = [Settings.env_variable(name) for name in Settings.model_fields]

    assert len(set(variables)) == len(variables) and all(v.startswith("BACKUP_") for v in variables)
    assert (Settings.env_variable("glue_job_role"), Settings.env_variable("bucket")) == (
        "BACKUP_GLUE_ROLE", "BACKUP_BUCKET")


# --- where the config comes from ------------------------------------------------------------------------------


def test_backup_config_variable_picks_the_file(write_config, document) -> None:
    path = write_config(document)

    config = load_config(environ={"BACKUP_CONFIG": str(path)})

    assert config.settings.bucket == "test-bucket"


def test_explicit_path_wins_over_backup_config(write_config, document) -> None:
    path = write_config(document)

    config = load_config(path, environ={"BACKUP_CONFIG": "/nonexistent/datasets.yaml"})

    assert config.settings.bucket == "test-bucket"


FOLDERS = pytest.mark.parametrize(("name", "variable"), [("source_root", "BACKUP_SOURCE_ROOT"),
                                                          ("restore_root", "BACKUP_RESTORE_ROOT")])


def test_folders_default_to_the_sample_data_and_the_local_restores(write_config, document) -> None:
    settings = load_config(write_config(document), environ={}).settings

    assert settings.source_root == DEFAULT_SOURCE_ROOT == REPO_ROOT / "include" / "sample_data"
    assert settings.restore_root == DEFAULT_RESTORE_ROOT == REPO_ROOT / ".local" / "restores"


@FOLDERS
def test_a_relative_folder_is_relative_to_the_config_file(write_config, document, name, variable) -> None:
    document["settings"][name] = "../exports"
    path = write_config(document)

    assert getattr(load_config(path, environ={}).settings, name) == path.parent.parent / "exports"


@FOLDERS
def test_the_folder_variable_wins_over_the_file(write_config, document, tmp_path, name, variable) -> None:
    document["settings"][name] = "/srv/from-file"
    path = write_config(document)

    config = load_config(path, environ={variable: str(tmp_path / "server")})

    assert getattr(config.settings, name) == tmp_path / "server"


# --- environment overrides ------------------------------------------------------------------------------------

ALL_OVERRIDES = {
    "BACKUP_BUCKET": "prod-indata-backup",
    "BACKUP_RAW_DATABASE": "prod_raw",
    "BACKUP_CLEAN_DATABASE": "prod_clean",
    "BACKUP_GLUE_ROLE": "arn:aws:iam::210987654321:role/prod-glue",
    "BACKUP_GLUE_JOB_PREFIX": "prod-indata",
    "BACKUP_GLUE_WORKER_TYPE": "G.2X",
    "BACKUP_GLUE_WORKERS": "10",
    "BACKUP_GLUE_VERSION": "4.0",
    "BACKUP_GLUE_EXECUTION_CLASS": "FLEX",
    "BACKUP_ATHENA_WORKGROUP": "analytics",
    "BACKUP_ATHENA_OUTPUT": "s3://prod-athena/results/",
    "BACKUP_MAX_ACTIVE_RUNS": "5",
    "BACKUP_START_DATE": "2024-01-01",
    "BACKUP_AWS_CONN_ID": "aws_prod",
    "BACKUP_REGION": "eu-south-2",
}


def test_environment_overrides_every_setting() -> None:
    settings = load_config(environ=ALL_OVERRIDES).settings

    assert settings.model_copy(update={"source_root": DEFAULT_SOURCE_ROOT}) == Settings(
        bucket="prod-indata-backup",
        raw_database="prod_raw",
        clean_database="prod_clean",
        glue_job_role="arn:aws:iam::210987654321:role/prod-glue",
        glue_job_name_prefix="prod-indata",
        glue_worker_type="G.2X",
        glue_number_of_workers=10,
        glue_version="4.0",
        glue_execution_class="FLEX",
        athena_workgroup="analytics",
        athena_output="s3://prod-athena/results/",
        max_active_runs=5,
        start_date="2024-01-01",
        aws_conn_id="aws_prod",
        region="eu-south-2",
    )


def test_athena_output_follows_an_overridden_bucket() -> None:
    settings = load_config(environ={"BACKUP_BUCKET": "other-bucket"}).settings

    assert settings.athena_output == "s3://other-bucket/athena-results/"


def test_empty_variables_count_as_unset() -> None:
    settings = load_config(environ={"BACKUP_BUCKET": "", "BACKUP_GLUE_WORKERS": "", "BACKUP_CONFIG": ""}).settings

    assert (settings.bucket, settings.glue_number_of_workers) == ("indata-backup", 2)


def test_bad_environment_values_name_the_variable() -> None:
    problems = problems_of(
        DEFAULT_CONFIG_PATH,
        {"BACKUP_GLUE_WORKERS": "two", "BACKUP_MAX_ACTIVE_RUNS": "0", "BACKUP_BUCKET": "Bad_Bucket"},
    )

    assert len(problems) == 3
    assert any(
        "settings: field 'glue_number_of_workers' (from environment variable BACKUP_GLUE_WORKERS): "
        "must be an integer (got 'two')" in p
        for p in problems
    )
    assert any("(from environment variable BACKUP_MAX_ACTIVE_RUNS): must be >= 1 (got 0)" in p for p in problems)
    assert any("(from environment variable BACKUP_BUCKET): must be a valid S3 bucket name" in p for p in problems)
    assert all(p.startswith("include/config/datasets.yaml: settings: field ") for p in problems)


# --- validation: one broken field at a time -------------------------------------------------------------------


def setting(key: str, value: Any) -> Mutation:
    return lambda doc: doc["settings"].__setitem__(key, value)


def without_setting(key: str) -> Mutation:
    return lambda doc: doc["settings"].pop(key)


def dataset_field(index: int, key: str, value: Any) -> Mutation:
    return lambda doc: doc["datasets"][index].__setitem__(key, value)


def without_dataset_field(index: int, key: str) -> Mutation:
    return lambda doc: doc["datasets"][index].pop(key)


def column_field(column: int, key: str, value: Any) -> Mutation:
    """Changes a column of the first dataset (ventas: codigo, actualizado)."""
    return lambda doc: doc["datasets"][0]["schema"][column].__setitem__(key, value)


def both(*mutations: Mutation) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return apply


SINGLE_PROBLEMS: list[tuple[str, Mutation, str]] = [
    # (case, mutation, text the one problem line must contain after "<file>: ")
    ("format", dataset_field(0, "format", "xls"),
     "dataset 'ventas': field 'format': must be one of csv, json, parquet (got 'xls')"),
    ("unknown top-level key", lambda doc: doc.update(extra=1), "top level: field 'extra': unknown key"),
    ("unknown settings key", setting("buckett", "x"), "settings: field 'buckett': unknown key (known: bucket,"),
    ("unknown dataset key", dataset_field(0, "descripcion", "x"), "dataset 'ventas': field 'descripcion': unknown key"),
    ("unknown reader key", dataset_field(0, "reader", {"delimeter": ";"}),
     "dataset 'ventas': field 'reader.delimeter': unknown key "
     "(csv options: delimiter, quote, escape, encoding, header, skip_rows)"),
    ("negative skip_rows", dataset_field(0, "reader", {"skip_rows": -1}),
     "dataset 'ventas': field 'reader.skip_rows': must be >= 0 (got -1)"),
    ("skip_rows as text", dataset_field(0, "reader", {"skip_rows": "1"}),
     "dataset 'ventas': field 'reader.skip_rows': must be an integer (got '1')"),
    ("skip_rows without a header", dataset_field(0, "reader", {"skip_rows": 2, "header": False}),
     "dataset 'ventas': field 'reader.skip_rows': skips the lines before the header: it needs header: true"),
    ("skip_rows on json", dataset_field(1, "reader", {"skip_rows": 1}),
     "dataset 'clientes': field 'reader.skip_rows': not a json reader option (csv only; json options: layout)"),
    ("csv option on json", dataset_field(1, "reader", {"delimiter": ";"}),
     "dataset 'clientes': field 'reader.delimiter': not a json reader option (csv only; json options: layout)"),
    ("json option on parquet",
     both(dataset_field(1, "format", "parquet"), dataset_field(1, "reader", {"layout": "lines"})),
     "dataset 'clientes': field 'reader.layout': not a parquet reader option (json only; parquet options: none)"),
    ("json layout", dataset_field(1, "reader", {"layout": "ndjson"}),
     "dataset 'clientes': field 'reader.layout': must be one of auto, lines, array (got 'ndjson')"),
    ("json multiline", dataset_field(1, "reader", {"multiline": True}),
     "dataset 'clientes': field 'reader.multiline': replaced by reader.layout: lines (one record per line), array"),
    ("schema evolution", dataset_field(0, "schema_evolution", "merge"),
     "dataset 'ventas': field 'schema_evolution': must be one of add, ignore, fail (got 'merge')"),
    ("flatten separator", dataset_field(1, "flatten_separator", "."),
     "dataset 'clientes': field 'flatten_separator': must be 1 to 8 of a-z, 0-9, _ (got '.')"),
    ("flatten a csv", dataset_field(0, "flatten_separator", "__"),
     "dataset 'ventas': field 'flatten_separator': only json and parquet datasets have nested fields to flatten"),
    ("time zone", dataset_field(0, "time_zone", "Madrid"),
     "dataset 'ventas': field 'time_zone': must be a time zone such as UTC or Europe/Madrid (got 'Madrid')"),
    ("time zone type", dataset_field(0, "time_zone", 1), "dataset 'ventas': field 'time_zone': must be a string"),
    ("rounding", dataset_field(0, "rounding", "half_even"),
     "dataset 'ventas': field 'rounding': must be one of reject, half_up (got 'half_even')"),
    ("rules shape", dataset_field(0, "rules", ["codigo"]), "dataset 'ventas': field 'rules': must be a mapping"),
    ("rule on no column", dataset_field(0, "rules", {"importe": {"min": 0}}),
     "dataset 'ventas': field 'rules.importe': 'importe' is not a schema column (columns: codigo, actualizado)"),
    ("empty rule", dataset_field(0, "rules", {"codigo": {}}),
     "dataset 'ventas': field 'rules.codigo': must set one of required, min, max, allowed, regex"),
    ("unknown rule", dataset_field(0, "rules", {"codigo": {"maximum": 3}}),
     "dataset 'ventas': field 'rules.codigo.maximum': unknown key (known: required, min, max, allowed, regex)"),
    ("required type", dataset_field(0, "rules", {"codigo": {"required": "yes"}}),
     "dataset 'ventas': field 'rules.codigo.required': must be true or false (got 'yes')"),
    ("range on a string", dataset_field(0, "rules", {"codigo": {"min": "A"}}),
     "field 'rules.codigo.min': min and max apply to number, date and timestamp columns (this one is string)"),
    ("bad timestamp bound", dataset_field(0, "rules", {"actualizado": {"max": "31/12/2026"}}),
     "field 'rules.actualizado.max': must be an ISO timestamp such as 2026-11-01 08:30:00 (got '31/12/2026')"),
    ("min above max", dataset_field(0, "rules", {"actualizado": {"min": "2026-12-31", "max": "2026-01-01"}}),
     "dataset 'ventas': field 'rules.actualizado.max': must not be less than min ('2026-12-31')"),
    ("fraction for an integer",
     both(lambda doc: doc["datasets"][0]["schema"].append({"name": "unidades", "type": "int"}),
          dataset_field(0, "rules", {"unidades": {"allowed": [1, 2.5]}})),
     "field 'rules.unidades.allowed': must be a whole number for the int column (got 2.5)"),
    ("text for a decimal",
     both(lambda doc: doc["datasets"][0]["schema"].append({"name": "importe", "type": "decimal(8,2)"}),
          dataset_field(0, "rules", {"importe": {"max": "100"}})),
     "field 'rules.importe.max': must be a number for a decimal(8,2) column (got '100')"),
    ("allowed list", dataset_field(0, "rules", {"codigo": {"allowed": []}}),
     "dataset 'ventas': field 'rules.codigo.allowed': must list at least one value"),
    ("allowed of a string column", dataset_field(0, "rules", {"codigo": {"allowed": ["A", 1]}}),
     "field 'rules.codigo.allowed': must be a string for a string column (quote it in YAML; got 1)"),
    ("regex on a timestamp", dataset_field(0, "rules", {"actualizado": {"regex": "2026.*"}}),
     "field 'rules.actualizado.regex': applies to string columns (this one is timestamp)"),
    ("broken regex", dataset_field(0, "rules", {"codigo": {"regex": "V(\\d+"}}),
     "field 'rules.codigo.regex': is not a regular expression: missing ), unterminated subpattern"),
    ("delimiter length", dataset_field(0, "reader", {"delimiter": ";;"}),
     "dataset 'ventas': field 'reader.delimiter': must be one character (got ';;')"),
    ("encoding", dataset_field(0, "reader", {"encoding": "latin-9000"}),
     "dataset 'ventas': field 'reader.encoding': must be a known text encoding"),
    ("header type", dataset_field(0, "reader", {"header": "yes"}),
     "dataset 'ventas': field 'reader.header': must be true or false (got 'yes')"),
    ("unknown column key", column_field(0, "nulable", False),
     "dataset 'ventas': field 'schema.codigo.nulable': unknown key"),
    ("unknown locale key", dataset_field(0, "locale", {"decimal": ",", "miles": "."}),
     "dataset 'ventas': field 'locale.miles': unknown key (known: decimal, thousands, true_values, false_values)"),
    ("missing setting", without_setting("bucket"),
     "settings: field 'bucket': is required (set it here or in BACKUP_BUCKET)"),
    ("missing source", without_dataset_field(1, "source"), "dataset 'clientes': field 'source': is required"),
    ("missing name", without_dataset_field(1, "name"), "dataset #2: field 'name': is required"),
    ("not a mapping", lambda doc: doc["datasets"].append("ventas"), "dataset #3: must be a mapping (got 'ventas')"),
    ("integer setting", setting("glue_number_of_workers", "two"),
     "settings: field 'glue_number_of_workers': must be an integer (got 'two')"),
    ("boolean is no integer", setting("max_active_runs", True),
     "settings: field 'max_active_runs': must be an integer"),
    ("unquoted version", setting("glue_version", 5.0),
     "settings: field 'glue_version': must be a string (quote it in YAML) (got 5.0)"),
    ("YAML null token", dataset_field(0, "null_tokens", ["N/A", None]),
     "dataset 'ventas': field 'null_tokens': must be a list of strings "
     "(quote YAML words like null, no, yes; got [None])"),
    ("dataset name", dataset_field(1, "name", "Clientes-2"),
     "dataset 'Clientes-2': field 'name': must match ^[a-z][a-z0-9_]{0,62}$ (got 'Clientes-2')"),
    ("dataset name too long", dataset_field(1, "name", "c" * 64), "field 'name': must match ^[a-z][a-z0-9_]{0,62}$"),
    ("duplicate dataset", dataset_field(1, "name", "ventas"),
     "dataset 'ventas': field 'name': duplicate: dataset #1 has the same name"),
    ("absolute source", dataset_field(0, "source", "/srv/ventas/*.csv"),
     "dataset 'ventas': field 'source': must be relative to the source root, not absolute"),
    ("drive source", dataset_field(0, "source", "C:/exports/*.csv"),
     "field 'source': must be relative to the source root"),
    ("parent source", dataset_field(0, "source", "ventas/../../etc/*.csv"),
     "dataset 'ventas': field 'source': must not contain '..'"),
    ("placeholder", dataset_field(0, "source", "ventas/{date}/*.csv"),
     "dataset 'ventas': field 'source': the only placeholder is {ds}"),
    ("folder source", dataset_field(0, "source", "ventas/{ds}/"), "dataset 'ventas': field 'source': must name files"),
    ("column type", column_field(1, "type", "datetime"),
     "dataset 'ventas': field 'schema.actualizado.type': must be one of string, int, bigint, double, boolean, date, "
     "timestamp, decimal(p,s) (got 'datetime')"),
    ("decimal precision", column_field(1, "type", "decimal(40,2)"),
     "field 'schema.actualizado.type': decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p (got 'decimal(40,2)')"),
    ("decimal scale", column_field(1, "type", "decimal(5,6)"), "field 'schema.actualizado.type': decimal(p,s) needs"),
    ("formats on a string", column_field(0, "formats", ["dd/MM/yyyy"]),
     "dataset 'ventas': field 'schema.codigo.formats': "
     "only date and timestamp columns take formats (this one is string)"),
    ("week-based year", column_field(1, "formats", ["DD/MM/YYYY"]),
     "field 'schema.actualizado.formats': pattern 'DD/MM/YYYY' uses Y, not a Spark datetime pattern letter"),
    ("minutes for month", column_field(1, "formats", ["dd/mm/yyyy"]),
     "field 'schema.actualizado.formats': pattern 'dd/mm/yyyy' has minutes ('mm') but no month ('MM')"),
    ("nullable type", column_field(1, "nullable", "no"),
     "dataset 'ventas': field 'schema.actualizado.nullable': must be true or false (got 'no')"),
    ("column name", column_field(1, "name", "Actualizado"),
     "dataset 'ventas': field 'schema.Actualizado.name': must be lowercase letters, digits and _"),
    ("missing column type", lambda doc: doc["datasets"][0]["schema"][1].pop("type"),
     "dataset 'ventas': field 'schema.actualizado.type': is required"),
    ("repeated column", lambda doc: doc["datasets"][0]["schema"].append({"name": "codigo", "type": "int"}),
     "dataset 'ventas': field 'schema': repeats the column name 'codigo'"),
    ("repeated source",
     lambda doc: doc["datasets"][0]["schema"].append({"name": "otro", "type": "int", "source": "codigo"}),
     "dataset 'ventas': field 'schema': repeats the column source 'codigo'"),
    ("key outside schema", dataset_field(0, "keys", ["id"]),
     "dataset 'ventas': field 'keys': 'id' is not a schema column (columns: codigo, actualizado)"),
    ("nullable key", column_field(0, "nullable", True),
     "dataset 'ventas': field 'keys': key column 'codigo' must be declared nullable: false"),
    ("order_by outside schema", dataset_field(0, "order_by", "fecha"),
     "dataset 'ventas': field 'order_by': 'fecha' is not a schema column"),
    ("order_by without keys", dataset_field(1, "order_by", "actualizado"),
     "dataset 'clientes': field 'order_by': needs keys"),
    ("repeated key", dataset_field(0, "keys", ["codigo", "codigo"]), "dataset 'ventas': field 'keys': must not repeat"),
    ("athena output", setting("athena_output", "https://example.com/results/"),
     "settings: field 'athena_output': must be an s3:// URI (got 'https://example.com/results/')"),
    ("athena output bucket", setting("athena_output", "s3://Bad_Bucket/x/"),
     "settings: field 'athena_output': must be an s3:// URI with a valid bucket"),
    ("one worker", setting("glue_number_of_workers", 1),
     "settings: field 'glue_number_of_workers': must be >= 2 (got 1)"),
    ("no runs", setting("max_active_runs", 0), "settings: field 'max_active_runs': must be >= 1 (got 0)"),
    ("one database", setting("clean_database", "test_raw"),
     "settings: field 'clean_database': must differ from raw_database"),
    ("database name", setting("raw_database", "Raw-DB"),
     "settings: field 'raw_database': must be a Glue database name"),
    ("role", setting("glue_job_role", "indata-glue-job"), "settings: field 'glue_job_role': must be an IAM role ARN"),
    ("region", setting("region", "US-EAST-1"), "settings: field 'region': must be an AWS region"),
    ("execution class", setting("glue_execution_class", "flex"),
     "settings: field 'glue_execution_class': must be one of STANDARD, FLEX (got 'flex')"),
    ("flex on an old glue", both(setting("glue_execution_class", "FLEX"), setting("glue_version", "2.0")),
     "settings: field 'glue_execution_class': FLEX needs glue_version 3.0 or later (got '2.0')"),
    ("flex on a big worker", both(setting("glue_execution_class", "FLEX"), setting("glue_worker_type", "G.4X")),
     "settings: field 'glue_execution_class': FLEX needs glue_worker_type G.1X or G.2X (got 'G.4X')"),
    ("worker type", setting("glue_worker_type", "g1x"),
     "settings: field 'glue_worker_type': must be a Glue worker type"),
    ("source root type", setting("source_root", 5), "settings: field 'source_root': must be a string"),
    ("restore root type", setting("restore_root", ["/srv"]), "settings: field 'restore_root': must be a string"),
    ("empty restore root", setting("restore_root", ""), "settings: field 'restore_root': must not be empty"),
    ("same separators", dataset_field(0, "locale", {"decimal": ".", "thousands": "."}),
     "dataset 'ventas': field 'locale.thousands': must differ from locale.decimal"),
    ("true and false", dataset_field(0, "locale", {"true_values": ["sí"], "false_values": ["SÍ", "no"]}),
     "dataset 'ventas': field 'locale.false_values': shares 'sí' with locale.true_values"),
    ("null and true",
     both(dataset_field(0, "null_tokens", ["N/A"]), dataset_field(0, "locale", {"true_values": ["n/a"]})),
     "dataset 'ventas': field 'locale.true_values': shares 'n/a' with null_tokens"),
    ("on_empty", dataset_field(0, "on_empty", "ignore"),
     "dataset 'ventas': field 'on_empty': must be one of fail, skip (got 'ignore')"),
    ("sse mode", setting("sse", "aes256"), "settings: field 'sse': must be one of sse-s3, sse-kms (got 'aes256')"),
    ("kms without key", setting("sse", "sse-kms"), "settings: field 'sse_kms_key_id': is required with sse: sse-kms"),
    ("kms key with sse-s3", setting("sse_kms_key_id", "alias/x"),
     "settings: field 'sse_kms_key_id': is only used with sse: sse-kms"),
    ("bucket key type", setting("sse_bucket_key", "yes"), "settings: field 'sse_bucket_key': must be true or false"),
    ("abort days", setting("abort_multipart_days", 0), "settings: field 'abort_multipart_days': must be >= 1 (got 0)"),
    ("storage class", setting("transition_storage_class", "COLD"),
     "settings: field 'transition_storage_class': must be one of STANDARD_IA, ONEZONE_IA"),
    ("transition after expiry", both(setting("expire_after_days", 30), setting("transition_after_days", 30)),
     "settings: field 'transition_after_days': must be less than expire_after_days (30)"),
    ("start date not a date", setting("start_date", "2026-02-30"),
     "settings: field 'start_date': must be a date as YYYY-MM-DD (got '2026-02-30')"),
    ("settings shape", lambda doc: doc.update(settings=["x"]), "top level: field 'settings': must be a mapping"),
    ("no datasets", lambda doc: doc.update(datasets=[]), "top level: field 'datasets': must be a non-empty list"),
]


@pytest.mark.parametrize(
    ("mutation", "expected"), [case[1:] for case in SINGLE_PROBLEMS], ids=[case[0] for case in SINGLE_PROBLEMS]
)
def test_each_problem_names_file_dataset_and_field(write_config, document, mutation: Mutation, expected: str) -> None:
    mutation(document)
    path = write_config(document)

    problems = problems_of(path)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: "), problems[0]
    assert expected in problems[0]


@pytest.mark.parametrize(
    "bucket", ["ab", "My_Bucket", "-indata", "192.168.1.1", "indata..backup", "xn--indata", "indata-s3alias", "a" * 64]
)
def test_bucket_names_follow_s3_rules(write_config, document, bucket: str) -> None:
    document["settings"]["bucket"] = bucket

    (problem,) = problems_of(write_config(document))

    assert "settings: field 'bucket': must be a valid S3 bucket name" in problem and repr(bucket) in problem


def test_all_problems_are_reported_together(write_config, document) -> None:
    document["settings"]["bucket"] = "Bad_Bucket"
    document["settings"]["glue_number_of_workers"] = 1
    document["datasets"][0]["format"] = "xls"
    document["datasets"][0]["keys"] = ["id"]
    document["datasets"][1]["reader"] = {"delimiter": ";"}
    document["datasets"][1]["source"] = "/abs/*.json"

    problems = problems_of(write_config(document))

    assert [re.sub(r"^.*?: ((settings|dataset '\w+'): field '[\w.]+').*$", r"\1", p) for p in problems] == [
        "settings: field 'bucket'",
        "settings: field 'glue_number_of_workers'",
        "dataset 'ventas': field 'format'",
        "dataset 'ventas': field 'keys'",
        "dataset 'clientes': field 'source'",
        "dataset 'clientes': field 'reader.delimiter'",
    ]


def test_duplicate_yaml_keys_are_refused(write_config) -> None:
    path = write_config("settings:\n  bucket: one-bucket\n  bucket: other-bucket\ndatasets: []\n")

    (problem,) = problems_of(path)

    assert problem.startswith(f"{path}: invalid YAML at line 3") and "duplicate key 'bucket'" in problem


def test_broken_yaml_names_the_line(write_config) -> None:
    path = write_config("settings:\n  bucket: [unclosed\n")

    (problem,) = problems_of(path)

    assert problem.startswith(f"{path}: invalid YAML at line ")


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- list\n"])
def test_document_must_be_a_mapping(write_config, text: str) -> None:
    path = write_config(text)

    (problem,) = problems_of(path)

    assert problem.startswith(f"{path}: top level: must be a mapping with settings and datasets")


def test_missing_file_is_a_config_error(tmp_path) -> None:
    (problem,) = problems_of(tmp_path / "absent.yaml")

    assert problem.startswith(f"{tmp_path / 'absent.yaml'}: cannot read the config file")


# --- defaults and normalisation -------------------------------------------------------------------------------


def test_defaults_fill_settings_and_csv_reader(write_config, document) -> None:
    config = load_config(write_config(document), environ={})

    assert config.settings.athena_output == "s3://test-bucket/athena-results/"
    assert (config.settings.glue_worker_type, config.settings.glue_number_of_workers) == ("G.1X", 2)
    assert (config.settings.max_active_runs, config.settings.aws_conn_id) == (1, "aws_default")
    assert dict(config.dataset("ventas").reader) == {
        "delimiter": ",", "quote": '"', "escape": '"', "encoding": "UTF-8", "header": True, "skip_rows": 0,
    }
    assert config.dataset("clientes").schema == () and config.dataset("clientes").keys == ()


def test_storage_safety_defaults_to_sse_s3_and_a_week_for_unfinished_uploads(write_config, document) -> None:
    config = load_config(write_config(document), environ={})

    settings = config.settings
    assert settings.encryption_args() == {"ServerSideEncryption": "AES256"}
    lifecycle = (settings.abort_multipart_days, settings.expire_after_days, settings.transition_after_days)
    assert lifecycle == (7, None, None)
    assert config.dataset("ventas").on_empty == "fail"


def test_sse_kms_and_lifecycle_come_from_the_environment(write_config, document) -> None:
    environ = {"BACKUP_SSE": "sse-kms", "BACKUP_SSE_KMS_KEY_ID": "alias/indata", "BACKUP_SSE_BUCKET_KEY": "False",
               "BACKUP_EXPIRE_AFTER_DAYS": "365", "BACKUP_TRANSITION_AFTER_DAYS": "30"}
    settings = load_config(write_config(document), environ=environ).settings

    assert settings.encryption_args() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/indata",
                                          "BucketKeyEnabled": False}
    assert (settings.expire_after_days, settings.transition_after_days) == (365, 30)


def test_a_dataset_may_skip_dates_without_files(write_config, document) -> None:
    document["datasets"][1]["on_empty"] = "skip"

    assert load_config(write_config(document), environ={}).dataset("clientes").on_empty == "skip"


def test_decimal_types_are_written_canonically(write_config, document) -> None:
    document["datasets"][0]["schema"].append({"name": "importe", "type": "DECIMAL( 12 , 2 )"})

    dataset = load_config(write_config(document), environ={}).dataset("ventas")

    assert dataset.schema[-1].type == "decimal(12,2)"


def test_dataset_lookup_lists_known_names() -> None:
    config = load_config(environ={})

    with pytest.raises(KeyError, match="no dataset 'pedidos' in the config \\(known: ventas, clientes\\)"):
        config.dataset("pedidos")


def test_models_are_frozen() -> None:
    config = load_config(environ={})

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.settings.bucket = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.dataset("ventas").reader["delimiter"] = ","  # type: ignore[index]
    assert hash(config.dataset("ventas")) == hash(config.dataset("ventas"))


# --- Dataset helpers ------------------------------------------------------------------------------------------


def make_dataset(source: str) -> Dataset:
    return Dataset(name="ventas", source=source, format="csv")


def test_source_glob_substitutes_the_run_date() -> None:
    dataset = make_dataset("ventas/{ds}/ventas_{ds}*.csv")

    assert dataset.source_glob("2026-11-02") == "ventas/2026-11-02/ventas_2026-11-02*.csv"
    assert not dataset.is_snapshot


def test_a_source_without_run_date_is_a_snapshot() -> None:
    dataset = make_dataset("maestros/productos.parquet")

    assert dataset.is_snapshot
    assert dataset.source_glob("2026-11-02") == "maestros/productos.parquet"


@pytest.mark.parametrize("run_date", ["2026-11-1", "20261101", "2026-13-01", "2026-02-30", "2026-11-01T00:00:00", ""])
def test_source_glob_refuses_malformed_run_dates(run_date: str) -> None:
    with pytest.raises(ValueError, match="run_date must be a date as YYYY-MM-DD"):
        make_dataset("ventas/{ds}/*.csv").source_glob(run_date)


@pytest.mark.parametrize(
    ("source", "folder"),
    [
        ("ventas/{ds}/*.csv", "ventas/2026-11-01"),
        ("clientes/{ds}/clientes.json", "clientes/2026-11-01"),
        ("exports/**/{ds}.json", "exports"),
        ("export_{ds}.csv", ""),
        ("maestros/productos.parquet", "maestros"),
    ],
)
def test_source_folder_is_the_fixed_part_of_the_pattern(source: str, folder: str) -> None:
    assert make_dataset(source).source_folder("2026-11-01") == folder


def test_job_config_round_trips_through_json() -> None:
    ventas = load_config(environ={}).dataset("ventas")

    job_config = ventas.job_config()

    assert json.loads(json.dumps(job_config)) == job_config
    assert set(job_config) == {"format", "reader", "null_tokens", "keys", "schema", "locale", "order_by", "rules",
                               "schema_evolution", "flatten_separator", "time_zone", "rounding"}
    assert job_config["schema"][3] == {
        "name": "importe", "source": "Importe (€)", "type": "decimal(12,2)", "nullable": True, "formats": [],
    }
    assert job_config["locale"] == {
        "decimal": ",", "thousands": ".", "true_values": ["sí", "si"], "false_values": ["no"],
    }
    assert (job_config["keys"], job_config["order_by"]) == (["codigo_venta"], "actualizado")


def test_job_config_names_the_source_field_even_when_it_is_the_column_name() -> None:
    clientes = load_config(environ={}).dataset("clientes")

    sources = {c["name"]: c["source"] for c in clientes.job_config()["schema"]}

    assert sources["nombre"] == "nombre" and sources["ciudad"] == "direccion.ciudad"


def test_cleaning_fields_reach_the_job_config(write_config, document) -> None:
    document["datasets"][0].update(
        schema=[
            {"name": "codigo", "type": "string", "nullable": False},
            {"name": "actualizado", "type": "timestamp"},
            {"name": "importe", "type": "decimal(12,2)"},
            {"name": "fecha", "type": "date"},
        ],
        rules={
            "codigo": {"regex": "V-\\d+", "required": True},
            "importe": {"min": 0, "max": 99999.99},
            # YAML reads unquoted dates as dates: the job receives ISO text.
            "fecha": {"min": date(2020, 1, 1), "allowed": [date(2026, 11, 1), "2026-11-02"]},
            "actualizado": {"max": datetime(2026, 12, 31, 23, 59)},
        },
        schema_evolution="ignore",
        time_zone="Europe/Madrid",
        rounding="half_up",
    )
    document["datasets"][1].update(flatten_separator="__", reader={"layout": "array"})

    ventas, clientes = load_config(write_config(document), environ={}).datasets

    job_config = json.loads(json.dumps(ventas.job_config()))
    assert job_config["rules"] == {
        "codigo": {"required": True, "regex": "V-\\d+"},
        "importe": {"min": 0, "max": 99999.99},
        "fecha": {"min": "2020-01-01", "allowed": ["2026-11-01", "2026-11-02"]},
        "actualizado": {"max": "2026-12-31 23:59:00"},
    }
    assert (job_config["schema_evolution"], job_config["time_zone"], job_config["flatten_separator"]) == (
        "ignore", "Europe/Madrid", "_")
    assert (job_config["rounding"], clientes.job_config()["rounding"]) == ("half_up", "reject")
    assert clientes.job_config()["flatten_separator"] == "__"
    assert clientes.job_config()["reader"] == {"layout": "array"}
    assert clientes.schema_evolution == "add" and clientes.time_zone == "UTC" and clientes.rules == ()


def test_rules_without_a_schema_are_checked_by_shape_only(write_config, document) -> None:
    document["datasets"][1]["rules"] = {"importe": {"min": 0}, "estado": {"allowed": ["A", "B"]}}

    clientes = load_config(write_config(document), environ={}).dataset("clientes")

    assert clientes.job_config()["rules"] == {"importe": {"min": 0}, "estado": {"allowed": ["A", "B"]}}


def test_booleans_default_to_spanish_and_english_spellings(write_config, document) -> None:
    # A null token that is also a default boolean spelling is no conflict: null tokens apply first.
    document["datasets"][1]["null_tokens"] = ["-", "n"]

    locale = load_config(write_config(document), environ={}).dataset("clientes").locale

    assert {"sí", "si", "s", "yes", "true", "1"} <= set(locale.true_values)
    assert {"no", "n", "false", "0"} <= set(locale.false_values)


def test_an_unquoted_yaml_start_date_is_read_as_its_iso_text(write_config, document) -> None:
    document["settings"]["start_date"] = date(2025, 6, 1)  # what YAML makes of an unquoted 2025-06-01
    assert load_config(write_config(document), environ={}).settings.start_date == "2025-06-01"
