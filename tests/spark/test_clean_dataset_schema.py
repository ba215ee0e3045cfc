"""The cleaning transforms that decide the clean table's columns, on small in-memory DataFrames, with exact expected
values: names and sources, CSV headers and JSON layouts, nested fields, inference, schema evolution and the job's
config and arguments."""
from __future__ import annotations

import json
import unicodedata

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job
from clean_dataset import ColumnSpec, DatasetConfig, Locale
from indata_contract import DEFAULT_NULL_TOKENS
from tests.spark.frames import COMMA_LOCALE, config, raw_frame

# --- names ----------------------------------------------------------------------------------------------------


def test_normalize_names_strips_accents_symbols_and_dedupes() -> None:
    names = [
        "Código Venta",
        "Importe (€)",
        "Región",
        "codigo_venta",
        "2024 Total",
        "",
        "Región",
        "clienteNombre",
        "Nº Factura",
    ]
    assert job.normalize_names(names) == [
        "codigo_venta",
        "importe",
        "region",
        "codigo_venta_2",
        "col_2024_total",
        "col_6",
        "region_2",
        "cliente_nombre",
        "no_factura",
    ]


def test_normalize_names_suffix_never_takes_an_existing_name() -> None:
    assert job.normalize_names(["a", "A", "a_2"]) == ["a", "a_3", "a_2"]


def test_name_columns_without_schema_normalizes_data_columns_only(spark: SparkSession) -> None:
    df = raw_frame(spark, ["Importe.Total", "Fecha  Venta "], [("1", "2")])
    assert job.name_columns(df, config()).columns == ["importe_total", "fecha_venta", job.SOURCE_FILE, job.ROW_ID]


def test_csv_sources_are_headers_as_written_and_absent_sources_match_normalized_names(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["Código Venta", "Importe (€)", "Total.Neto", "Región", "id_venta", "Notas"],
        [("V1", "1,00", "2,00", "Lugo", "x", "n")],
    )
    cfg = config(
        schema=(
            ColumnSpec("id_venta", "string", source="Código Venta"),
            ColumnSpec("importe", "string", source="Importe (€)"),
            ColumnSpec("neto", "string", source="Total.Neto"),  # a CSV header: the dot is not a path
            ColumnSpec("region", "string"),  # no source: the header whose normalized name is "region"
            ColumnSpec("notas", "string", source="notas"),  # source equal to name: the same as no source
        )
    )
    named = job.name_columns(df, cfg)
    # The raw "id_venta" column is not the schema's id_venta: it passes through under a name of its own.
    assert named.columns == [
        "id_venta", "importe", "neto", "region", "id_venta_2", "notas", job.SOURCE_FILE, job.ROW_ID
    ]
    assert named.select(*job.data_columns(named)).first() == ("V1", "1,00", "2,00", "Lugo", "x", "n")


def test_json_sources_are_dotted_paths_and_exact_keys_win(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(" C1 ", ("Vigo", "36201"), "k", "Ana")],
        "id string, direccion struct<ciudad: string, cp: string>, `direccion.cp` string, nombre string",
    )
    json_config = DatasetConfig(
        format="json",
        schema=(
            ColumnSpec("id_cliente", "string", source="id"),
            ColumnSpec("ciudad", "string", source="direccion.ciudad"),
            ColumnSpec("codigo_postal", "string", source="direccion.cp"),  # the key named "direccion.cp" wins
            ColumnSpec("nombre", "string"),
        ),
    )
    assertDataFrameEqual(
        job.name_columns(df, json_config),
        [Row(id_cliente=" C1 ", ciudad="Vigo", direccion_cp="36201", codigo_postal="k", nombre="Ana")],
    )


def test_headers_that_differ_only_invisibly_still_match(spark: SparkSession) -> None:
    decomposed = unicodedata.normalize("NFD", "Región")
    df = raw_frame(spark, ["\ufeffCódigo", f" {decomposed} "], [("1", "Lugo")])
    cfg = config(schema=(ColumnSpec("codigo", "int", source="Código"), ColumnSpec("zona", "string", source="Región")))
    assert job.name_columns(df, cfg).columns[:2] == ["codigo", "zona"]


def test_schema_source_missing_from_data_names_what_the_data_has(spark: SparkSession) -> None:
    df = raw_frame(spark, ["Código Venta", "Importe (EUR)"], [("1", "2")])
    cfg = config(
        schema=(
            ColumnSpec("codigo_venta", "string"),
            # An explicit source must be found as written, not guessed from the name.
            ColumnSpec("importe", "string", source="Importe (€)"),
            ColumnSpec("fecha", "date"),
        )
    )
    with pytest.raises(
        ValueError,
        match=r"not found in the data: importe \(source 'Importe \(€\)'\), fecha \(source 'fecha'\); "
        r"the data has 'Código Venta', 'Importe \(EUR\)'$",
    ):
        job.name_columns(df, cfg)


def test_name_columns_flattens_structs_naming_leaves_with_underscores(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, ("Ana", ("Vigo", "36201")), [1, 2])],
        "id int, Cliente struct<nombre: string, dir: struct<ciudad: string, cp: string>>, tags array<int>",
    )
    assertDataFrameEqual(
        job.name_columns(df, DatasetConfig(format="json")),
        [Row(id=1, cliente_nombre="Ana", cliente_dir_ciudad="Vigo", cliente_dir_cp="36201", tags=[1, 2])],
    )


# --- inference ------------------------------------------------------------------------------------------------


def test_inference_is_conservative(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["n", "d", "b", "f", "m", "e", "mixed"],
        [
            ("1", "1,5", "sí", "2026-11-01", "2026-11", None, "1"),
            ("2", "2", "NO", "2026-11-02", "x", None, "a"),
            (None, None, None, None, None, None, None),
        ],
    )
    assert job.infer_schema(df, COMMA_LOCALE, keys=("n",)) == [
        ColumnSpec("n", "bigint", nullable=False),
        ColumnSpec("d", "double"),
        ColumnSpec("b", "boolean"),
        ColumnSpec("f", "date"),
        ColumnSpec("m", "string"),
        ColumnSpec("e", "string"),
        ColumnSpec("mixed", "string"),
    ]


def test_config_from_json_validates_types_keys_and_format() -> None:
    with pytest.raises(ValueError, match="Unsupported column type 'decimal\\(40,2\\)'"):
        DatasetConfig.from_json('{"format": "csv", "schema": [{"name": "a", "type": "decimal(40,2)"}]}')
    with pytest.raises(ValueError, match=r"keys/order_by \['id'\] are not in the dataset_config schema"):
        DatasetConfig.from_json('{"format": "csv", "keys": ["id"], "schema": [{"name": "a", "type": "int"}]}')
    with pytest.raises(ValueError, match="format must be csv, json or parquet, got 'xlsx'"):
        DatasetConfig.from_json('{"format": "xlsx"}')
    with pytest.raises(ValueError, match=r"true_values and false_values share \['no'\]"):
        DatasetConfig.from_json('{"format": "csv", "locale": {"true_values": ["No"], "false_values": ["no "]}}')
    with pytest.raises(ValueError, match=r"schema repeats the column sources \['Fecha'\]"):
        DatasetConfig.from_json(
            '{"format": "csv", "schema": [{"name": "a", "type": "date", "source": "Fecha"},'
            ' {"name": "b", "type": "date", "source": "Fecha"}]}'
        )
    parsed = DatasetConfig.from_json(
        '{"format": "csv", "keys": ["a"], "locale": {"decimal": ",", "thousands": "."},'
        ' "schema": [{"name": "a", "type": "decimal(12, 2)", "nullable": false, "formats": []}]}'
    )
    assert parsed.schema == (ColumnSpec("a", "decimal(12, 2)", nullable=False),)
    assert job.spark_type(parsed.schema[0].type) == T.DecimalType(12, 2)
    assert parsed.locale == COMMA_LOCALE and parsed.null_tokens == DEFAULT_NULL_TOKENS
    assert parsed.locale.true_values == job.TRUE_TOKENS and parsed.locale.false_values == job.FALSE_TOKENS


def test_config_from_json_reads_sources_and_the_config_models_locale() -> None:
    # As plugins/indata_ops/config writes it: every source spelled out, "" for no thousands separator.
    parsed = DatasetConfig.from_json(
        json.dumps(
            {
                "format": "json",
                "schema": [
                    {"name": "id_cliente", "source": "id", "type": "string", "nullable": False, "formats": []},
                    {"name": "cp", "source": "direccion.cp", "type": "string", "nullable": True, "formats": []},
                ],
                "locale": {"decimal": ".", "thousands": "", "true_values": ["sí"], "false_values": ["no"]},
            }
        )
    )
    assert [(c.name, c.source) for c in parsed.schema] == [("id_cliente", "id"), ("cp", "direccion.cp")]
    assert parsed.locale == Locale(decimal=".", thousands=None, true_values=("sí",), false_values=("no",))


def test_parse_args_without_awsglue_ignores_unknown_keys() -> None:
    argv = ["clean_dataset.py", "--JOB_RUN_ID", "jr_1", "--enable-metrics", "true"]
    for name in job.JOB_ARGUMENTS:
        argv += [f"--{name}", f"value-{name}"]
    assert job.parse_args(argv) == {name: f"value-{name}" for name in job.JOB_ARGUMENTS}
    with pytest.raises(SystemExit):
        job.parse_args(argv[:-2])


# --- reading: headers and layouts, decided from each file's first bytes -----------------------------------------


def test_csv_header_reads_the_first_record_as_written() -> None:
    options = {"delimiter": ";", "quote": '"', "escape": '"', "encoding": "windows-1252"}
    head = '\ufeff"Código; Venta";Importe (€);;Región;Región ;"Di ""x"""\r\n1;2;3;4;5;6\r\n'.encode("utf-8")
    utf8 = {**options, "encoding": "utf-8"}
    # A BOM is not part of the first name; an empty name is Spark's _c<index>; a repeat is numbered.
    assert job.csv_header(head, utf8) == ["Código; Venta", "Importe (€)", "_c2", "Región", "Región (2)", 'Di "x"']
    assert job.csv_header("Código;Importe (€)\n".encode("cp1252"), options) == ["Código", "Importe (€)"]
    assert job.csv_header(b"", options) == []


def test_csv_header_comes_after_the_lines_skip_rows_skips() -> None:
    options = {"delimiter": ";", "skip_rows": 2}
    assert job.csv_header(b"Informe;2026-11-01\r\n\r\nid;importe\r\n1;2\r\n", options) == ["id", "importe"]
    assert job.csv_header(b"id;importe\n1;2\n", {**options, "skip_rows": 0}) == ["id", "importe"]
    assert job.csv_header(b"Informe\nid;importe\n", {**options, "skip_rows": 1}) == ["id", "importe"]
    assert job.csv_header(b"Informe\nGenerado\n", options) == []  # nothing after the skipped lines: empty
    with pytest.raises(ValueError, match="the 2 lines before the CSV header are longer than"):
        job.csv_header(b"a" * job.HEAD_BYTES, options)


@pytest.mark.parametrize(
    "head",
    [b"PK\x03\x04\x14\x00\x06\x00;x\n", b"\x89PNG\r\n\x1a\n", "Código;x\n".encode("cp1252")],
    ids=["zip", "png", "cp1252 read as utf-8"],
)
def test_csv_header_refuses_what_is_not_text(head: bytes) -> None:
    assert job.csv_header(head, {"delimiter": ";", "encoding": "utf-8"}) is None


def test_csv_header_longer_than_what_is_read_is_an_error() -> None:
    with pytest.raises(ValueError, match="the CSV header is longer than"):
        job.csv_header(b"a" * job.HEAD_BYTES, {})


@pytest.mark.parametrize(
    ("head", "layout"),
    [
        (b'\xef\xbb\xbf  [\n {"a": 1}\n]', "array"),
        (b'{\n  "a": 1\n}\n', "array"),  # one object spread over lines is one document
        (b'{"a": 1}\n{"a": 2}\n', "lines"),
        (b"\x00\x01junk\n", "lines"),  # each line then becomes a malformed record
        (b" \n\t", None),
    ],
)
def test_json_layout_is_decided_per_file(head: bytes, layout: str | None) -> None:
    assert job.json_layout(head) == layout


# --- nested names ---------------------------------------------------------------------------------------------


def test_nested_fields_are_flattened_with_the_configured_separator(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, ("Ana", ("Vigo",)))], "id int, Cliente struct<nombreCompleto: string, dir: struct<Ciudad: string>>"
    )
    named = job.name_columns(df, DatasetConfig(format="json", flatten_separator="__"))
    assert job.data_columns(named) == ["id", "cliente__nombre_completo", "cliente__dir__ciudad"]
    assert named.schema["cliente__dir__ciudad"].metadata == {job.SOURCE_NAME: "Cliente.dir.Ciudad"}
    assert job.normalize_names([("a", "b"), ("a_b",)]) == ["a_b", "a_b_2"]


# --- inference, sampled and guided by the clean table ---------------------------------------------------------


def test_inference_keeps_codes_with_leading_zeros_as_text(spark: SparkSession) -> None:
    # The sample and the vote have their own tests in test_inference.py.
    df = raw_frame(
        spark,
        ["n", "cp", "zero"],
        [("1", "08001", "0"), ("2", "28001", "10"), (None, None, "-3")],
    )
    assert job.infer_schema(df, Locale()) == [
        ColumnSpec("n", "bigint"),
        ColumnSpec("cp", "string"),
        ColumnSpec("zero", "bigint"),
    ]


def test_inference_keeps_the_clean_tables_type_when_the_data_allows(spark: SparkSession) -> None:
    df = raw_frame(
        spark, ["empty", "whole", "text", "decimal", "new"], [(None, "1", "1", "1.5", "x"), (None, "2", "2", "2", "y")]
    )
    known = {"empty": "bigint", "whole": "double", "text": "string", "decimal": "bigint"}
    assert job.infer_schema(df, Locale(), known_types=known) == [
        ColumnSpec("empty", "bigint"),
        ColumnSpec("whole", "double"),
        ColumnSpec("text", "string"),
        ColumnSpec("decimal", "double"),  # does not fit bigint: the run then fails on the type conflict
        ColumnSpec("new", "string"),
    ]


# --- schema evolution -----------------------------------------------------------------------------------------


def evolution_frame(spark: SparkSession) -> DataFrame:
    return raw_frame(spark, ["Código", "Nuevo Campo"], [("1", "a"), ("x", "b")])


@pytest.mark.parametrize(("policy", "clean"), [("add", [Row(codigo=1, nuevo_campo="a")]), ("ignore", [Row(codigo=1)])])
def test_unexpected_columns_are_added_or_ignored(spark: SparkSession, policy: str, clean: list[Row]) -> None:
    cfg = config(schema=(ColumnSpec("codigo", "int"),), schema_evolution=policy)
    classified = job.classify_rows(evolution_frame(spark), cfg)
    assertDataFrameEqual(job.clean_rows(classified), clean)
    # Ignored or not, a reject shows the row as read.
    assertDataFrameEqual(
        job.reject_rows(classified),
        [Row(codigo="x", nuevo_campo="b", reject_reason="unparseable:codigo", reject_columns=["codigo"])],
    )


def test_unexpected_columns_fail_the_run_naming_the_source_field(spark: SparkSession) -> None:
    cfg = config(schema=(ColumnSpec("codigo", "int"),), schema_evolution="fail")
    with pytest.raises(job.SchemaEvolutionError, match=r"dataset's schema: 'Nuevo Campo' \(as nuevo_campo\); sche"):
        job.classify_rows(evolution_frame(spark), cfg)


def test_without_a_schema_unexpected_means_not_in_the_clean_table(spark: SparkSession) -> None:
    cfg = config(schema_evolution="fail")
    job.classify_rows(evolution_frame(spark), cfg)  # the first run: no table, nothing is unexpected
    with pytest.raises(job.SchemaEvolutionError, match=r"dataset's clean table: 'Nuevo Campo' \(as nuevo_campo\)"):
        job.classify_rows(evolution_frame(spark), cfg, catalog={"codigo": "string"})


def test_type_changes_against_the_clean_table_fail_unless_the_schema_sets_them() -> None:
    schema = T.StructType([T.StructField("codigo", T.LongType()), T.StructField("importe", T.DecimalType(12, 2))])
    table = {"codigo": "string", "importe": "double", "old": "int"}
    with pytest.raises(
        ValueError,
        match=r"conflict with the clean table db.t: 'codigo' is string in the table but bigint in this run; "
        r"'importe' is double in the table but decimal\(12,2\) in this run\. Declare the type",
    ):
        job.retyped_columns(schema, table, config(), "db.t")
    configured = config(schema=(ColumnSpec("codigo", "bigint"), ColumnSpec("importe", "decimal(12,2)")))
    assert job.retyped_columns(schema, table, configured, "db.t") == ["codigo", "importe"]
    assert job.retyped_columns(schema, None, config(), "db.t") == []
