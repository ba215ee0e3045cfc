"""The config model: the shipped file, environment overrides, validation messages, and the Dataset helpers."""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

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
from tests.config.problems import problems_of

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_COUNTS = json.loads((DEFAULT_SOURCE_ROOT / "expected_counts.json").read_text(encoding="utf-8"))
SAMPLE_DATES = sorted({run_date for per_date in EXPECTED_COUNTS.values() for run_date in per_date})

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
                               "schema_evolution", "flatten_separator", "time_zone", "rounding", "inference",
                               "columns", "missing_columns", "on_empty"}
    assert job_config["schema"][3] == {
        "name": "importe", "source": "Importe (€)", "type": "decimal(12,2)", "nullable": True, "formats": [],
    }
    assert job_config["locale"] == {
        "decimal": ",", "thousands": ".", "true_values": ["sí", "si"], "false_values": ["no"], "language": "es",
        "symbols": [],
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


def test_keys_order_by_and_rules_may_name_source_headers(write_config, document) -> None:
    document["datasets"][0]["schema"][0]["source"] = "Código"
    document["datasets"][0].update(keys=["Código"], rules={"Código": {"regex": "V-\\d+"}})
    document["datasets"][1].update(keys=["studyName"], order_by="Fecha Alta", rules={"Edad": {"min": 0}},
                                   columns={"Fecha Alta": {"formats": ["dd/MM/yyyy"]}, "edad": {"type": "int"}})

    ventas, clientes = load_config(write_config(document), environ={}).datasets

    assert ventas.keys == ("codigo",) and [rule.column for rule in ventas.rules] == ["codigo"]
    assert (clientes.keys, clientes.order_by) == (("study_name",), "fecha_alta")
    assert [(h.name, h.type, h.formats) for h in clientes.columns] == [
        ("fecha_alta", None, ("dd/MM/yyyy",)), ("edad", "int", ())]
    assert clientes.job_config()["rules"] == {"edad": {"min": 0}}


def test_a_rule_is_checked_against_a_hinted_type(write_config, document) -> None:
    document["datasets"][1].update(columns={"edad": {"type": "int"}}, rules={"edad": {"max": 1.5}})

    with pytest.raises(ConfigError, match="field 'rules.edad.max': must be a whole number for the int column"):
        load_config(write_config(document), environ={})


def test_null_tokens_default_to_the_common_spellings(write_config, document) -> None:
    document["datasets"][0]["null_tokens"] = []

    ventas, clientes = load_config(write_config(document), environ={}).datasets

    assert ventas.null_tokens == ()
    assert {"", "NA", "N/A", "NULL", "NaN", "-", "#N/A", "None"} == set(clientes.null_tokens)


def test_inference_locale_and_missing_columns_reach_the_job(write_config, document) -> None:
    document["datasets"][0].update(missing_columns="null", locale={"language": "en", "symbols": ["€", "%"]},
                                   inference={"min_share": 0.95, "sample_rows": 5000})

    job_config = load_config(write_config(document), environ={}).dataset("ventas").job_config()

    assert (job_config["missing_columns"], job_config["inference"]) == ("null", {"min_share": 0.95,
                                                                                  "sample_rows": 5000})
    assert (job_config["locale"]["language"], job_config["locale"]["symbols"]) == ("en", ["€", "%"])
