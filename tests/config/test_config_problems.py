"""The config's validation messages: one broken field at a time, every problem at once, broken YAML."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.config.problems import problems_of

Mutation = Callable[[dict[str, Any]], None]


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
     "dataset 'ventas': field 'locale.miles': unknown key "
     "(known: decimal, thousands, true_values, false_values, language, symbols)"),
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
    ("hints next to a schema", dataset_field(0, "columns", {"importe": {"type": "double"}}),
     "dataset 'ventas': field 'columns': are hints for a dataset without a schema"),
    ("hint type", dataset_field(1, "columns", {"Edad": {"type": "integer"}}),
     "dataset 'clientes': field 'columns.Edad.type': must be one of string, int, bigint"),
    ("hint formats on a number", dataset_field(1, "columns", {"edad": {"type": "int", "formats": ["dd/MM/yyyy"]}}),
     "field 'columns.edad.formats': only date and timestamp columns take formats (this one is int)"),
    ("two hints, one column", dataset_field(1, "columns", {"Fecha Alta": {"type": "date"}, "fecha_alta": {}}),
     "dataset 'clientes': field 'columns': repeats the clean column name 'fecha_alta'"),
    ("key without a clean name", dataset_field(1, "keys", ["2024"]),
     "dataset 'clientes': field 'keys': '2024' gives no clean column name"),
    ("min_share", dataset_field(1, "inference", {"min_share": 1.5}),
     "dataset 'clientes': field 'inference.min_share'"),
    ("sample_rows", dataset_field(1, "inference", {"sample_rows": 10}),
     "dataset 'clientes': field 'inference.sample_rows': must be >= 100 (got 10)"),
    ("language", dataset_field(0, "locale", {"language": "fr"}),
     "dataset 'ventas': field 'locale.language': must be one of es, en (got 'fr')"),
    ("symbol with a digit", dataset_field(0, "locale", {"symbols": ["€", "1$"]}),
     "dataset 'ventas': field 'locale.symbols': must not be empty nor hold digits"),
    ("missing columns", dataset_field(0, "missing_columns", "skip"),
     "dataset 'ventas': field 'missing_columns': must be one of fail, null (got 'skip')"),
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
