"""run_job end to end: local file:// data paths, a plain moto server for the counts object and the Glue catalog."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from pyspark.sql import Row, SparkSession
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job

BUCKET = "indata-test"
VENTAS_CONFIG = {
    "format": "csv",
    "reader": {"delimiter": ";", "quote": '"', "encoding": "latin-1", "header": True},
    "null_tokens": ["", "N/A", "null"],
    "keys": ["codigo_venta"],
    "order_by": None,
    "schema": [
        {"name": "codigo_venta", "type": "bigint", "nullable": False, "formats": []},
        {"name": "fecha_venta", "type": "date", "nullable": True, "formats": ["dd/MM/yyyy", "yyyy-MM-dd"]},
        {"name": "region", "type": "string", "nullable": True, "formats": []},
        {"name": "importe_eur", "type": "decimal(12,2)", "nullable": True, "formats": []},
        {"name": "pagado", "type": "boolean", "nullable": True, "formats": []},
    ],
    "locale": {"decimal": ",", "thousands": "."},
}
# Latin-1, ';'-separated, accented headers, decimal commas, two date formats, N/A, a quoted delimiter and a quoted
# newline, an exact duplicate (1003), a key duplicate (1002), a bad amount, a missing key, an impossible date and a
# short record.
VENTAS_CSV = """\
Código Venta;Fecha Venta;Región;Importe (EUR);Pagado
1001;01/11/2026;Andalucía;1.234,56;Sí
1002;2026-11-01;Cataluña;99,90;no
1003;N/A;Galicia;12,00;S
1003;N/A;Galicia;12,00;S
1004;02/11/2026;"Castilla; León";abc;no
;01/11/2026;Madrid;5,00;no
1002;03/11/2026;Cataluña;100,00;sí
1005;31/02/2026;Aragón;1,00;n
1006;04/11/2026;"Islas
Baleares";2,00;y
1007;05/11/2026;Murcia
"""


def write_raw(root: Path, run_date: str, text: str, name: str = "ventas.csv") -> Path:
    folder = root / "raw" / "ventas" / f"dt={run_date}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode("latin-1"))
    return folder


def job_args(root: Path, run_date: str) -> dict[str, str]:
    return {
        "JOB_NAME": "clean-ventas",
        "dataset": "ventas",
        "run_date": run_date,
        "raw_path": f"{(root / 'raw' / 'ventas').as_uri()}/dt={run_date}/",
        "clean_path": f"{(root / 'clean' / 'ventas').as_uri()}/",
        "rejects_path": f"{(root / 'rejects' / 'ventas').as_uri()}/",
        "counts_path": f"s3://{BUCKET}/job-reports/ventas/dt={run_date}/counts.json",
        "clean_database": "indata_clean",
        "dataset_config": json.dumps(VENTAS_CONFIG),
    }


def read_rejects(root: Path, run_date: str) -> list[dict]:
    folder = root / "rejects" / "ventas" / f"dt={run_date}"
    lines = [line for path in sorted(folder.glob("*.json")) for line in path.read_text("utf-8").splitlines()]
    return sorted((json.loads(line) for line in lines), key=lambda r: r["reject_reason"])


@pytest.fixture
def s3(aws: str):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_run_job_writes_clean_rejects_catalog_and_counts(spark: SparkSession, tmp_path: Path, s3, capsys) -> None:
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)
    args = job_args(tmp_path, "2026-11-01")

    job.run_job(args, spark)

    partition = tmp_path / "clean" / "ventas" / "dt=2026-11-01"
    assert sorted(p.name for p in partition.iterdir() if not p.name.startswith(".")) == [
        p.name for p in sorted(partition.glob("part-*.snappy.parquet"))
    ]  # Parquet (snappy) only: no _SUCCESS marker
    assertDataFrameEqual(
        spark.read.parquet(str(partition)),
        [
            Row(
                codigo_venta=1001,
                fecha_venta=dt.date(2026, 11, 1),
                region="Andalucía",
                importe_eur=Decimal("1234.56"),
                pagado=True,
            ),
            Row(
                codigo_venta=1002,
                fecha_venta=dt.date(2026, 11, 1),
                region="Cataluña",
                importe_eur=Decimal("99.90"),
                pagado=False,
            ),
            Row(codigo_venta=1003, fecha_venta=None, region="Galicia", importe_eur=Decimal("12.00"), pagado=True),
            Row(
                codigo_venta=1006,
                fecha_venta=dt.date(2026, 11, 4),
                region="Islas\nBaleares",
                importe_eur=Decimal("2.00"),
                pagado=True,
            ),
        ],
    )

    raw_columns = ("codigo_venta", "fecha_venta", "region", "importe_eur", "pagado")

    def reject(values: tuple, reason: str, columns: list[str], raw_record: str | None = None) -> dict:
        reject_fields = {"reject_reason": reason, "reject_columns": columns, "raw_record": raw_record}
        return {**dict(zip(raw_columns, values)), **reject_fields}

    assert read_rejects(tmp_path, "2026-11-01") == [
        reject(("1007", "05/11/2026", "Murcia", None, None), "malformed_record", [], "1007;05/11/2026;Murcia"),
        reject((None, "01/11/2026", "Madrid", "5,00", "no"), "missing:codigo_venta", ["codigo_venta"]),
        reject(("1005", "31/02/2026", "Aragón", "1,00", "n"), "unparseable:fecha_venta", ["fecha_venta"]),
        reject(("1004", "02/11/2026", "Castilla; León", "abc", "no"), "unparseable:importe_eur", ["importe_eur"]),
    ]

    counts = json.loads(s3.get_object(Bucket=BUCKET, Key="job-reports/ventas/dt=2026-11-01/counts.json")["Body"].read())
    assert counts == {
        "dataset": "ventas",
        "run_date": "2026-11-01",
        "input": 10,
        "clean": 4,
        "rejected": 4,
        "duplicates": 2,
        "exact_duplicates": 1,
        "key_duplicates": 1,
        "rejects_by_reason": {
            "malformed_record": 1,
            "missing:codigo_venta": 1,
            "unparseable:fecha_venta": 1,
            "unparseable:importe_eur": 1,
        },
        "columns": list(raw_columns),
        "schema_changes": {"added": [], "ignored": [], "retyped": []},
        "rounded": 0,
        "rounded_by_column": {},
        "skipped_lines": 0,
        "inference": {},  # the dataset has a schema: nothing inferred
        "text_read_as_null": {},  # the dataset lists its own null_tokens: not counted
        "input_fingerprint": None,  # run without one
    }
    assert capsys.readouterr().out.splitlines()[-1] == (
        "clean_dataset ventas dt=2026-11-01: input=10 clean=4 rejected=4 duplicates=2 (exact=1 key=1) rejects: "
        "malformed_record=1, missing:codigo_venta=1, unparseable:fecha_venta=1, unparseable:importe_eur=1"
    )

    glue = boto3.client("glue", region_name="us-east-1")
    table = glue.get_table(DatabaseName="indata_clean", Name="ventas")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["classification"] == "parquet"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    descriptor = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("codigo_venta", "bigint"),
        ("fecha_venta", "date"),
        ("region", "string"),
        ("importe_eur", "decimal(12,2)"),
        ("pagado", "boolean"),
    ]
    assert descriptor["Location"] == args["clean_path"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == job.PARQUET_SERDE
    assert descriptor["InputFormat"] == job.PARQUET_INPUT_FORMAT
    assert descriptor["OutputFormat"] == job.PARQUET_OUTPUT_FORMAT
    partition_meta = glue.get_partition(DatabaseName="indata_clean", TableName="ventas", PartitionValues=["2026-11-01"])
    assert partition_meta["Partition"]["StorageDescriptor"]["Location"] == f"{args['clean_path']}dt=2026-11-01/"


def clean_values(spark: SparkSession, root: Path, run_date: str) -> list[tuple]:
    df = spark.read.parquet(str(root / "clean" / "ventas" / f"dt={run_date}"))
    return sorted((r["codigo_venta"], r["region"]) for r in df.collect())


def test_rerun_replaces_only_its_own_partition(spark: SparkSession, tmp_path: Path, s3) -> None:
    header = "Código Venta;Fecha Venta;Región;Importe (EUR);Pagado\n"
    write_raw(tmp_path, "2026-11-01", header + "1;01/11/2026;Lugo;1,00;si\n2;01/11/2026;Ourense;x;no\n")
    write_raw(tmp_path, "2026-11-02", header + "3;02/11/2026;Vigo;3,00;no\n")
    job.run_job(job_args(tmp_path, "2026-11-01"), spark)
    job.run_job(job_args(tmp_path, "2026-11-02"), spark)
    day_b_files = sorted((tmp_path / "clean" / "ventas" / "dt=2026-11-02").iterdir())

    write_raw(tmp_path, "2026-11-01", header + "9;01/11/2026;León;9,00;no\n")
    job.run_job(job_args(tmp_path, "2026-11-01"), spark)

    assert clean_values(spark, tmp_path, "2026-11-01") == [(9, "León")]
    assert read_rejects(tmp_path, "2026-11-01") == []
    assert clean_values(spark, tmp_path, "2026-11-02") == [(3, "Vigo")]
    assert sorted((tmp_path / "clean" / "ventas" / "dt=2026-11-02").iterdir()) == day_b_files

    # A rerun whose rows are all rejected must still empty the clean partition, not leave the previous rows.
    write_raw(tmp_path, "2026-11-01", header + ";01/11/2026;León;9,00;no\n")
    counts = job.run_job(job_args(tmp_path, "2026-11-01"), spark)

    assert (counts.input, counts.clean, counts.rejected) == (1, 0, 1)
    assert clean_values(spark, tmp_path, "2026-11-01") == []
    assert [r["reject_reason"] for r in read_rejects(tmp_path, "2026-11-01")] == ["missing:codigo_venta"]
    assert clean_values(spark, tmp_path, "2026-11-02") == [(3, "Vigo")]
    glue = boto3.client("glue", region_name="us-east-1")
    partitions = glue.get_partitions(DatabaseName="indata_clean", TableName="ventas")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2026-11-01", "2026-11-02"]


def test_missing_raw_path_names_the_path(spark: SparkSession, tmp_path: Path) -> None:
    args = job_args(tmp_path, "2026-11-01")
    with pytest.raises(FileNotFoundError, match=f"Raw path {args['raw_path']} does not exist"):
        job.run_job(args, spark)


def test_raw_path_without_files_names_the_path(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "raw" / "ventas" / "dt=2026-11-01"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_text("")
    args = job_args(tmp_path, "2026-11-01")
    with pytest.raises(FileNotFoundError, match=f"No input files under raw path {args['raw_path']}"):
        job.run_job(args, spark)


def test_read_json_lines_and_arrays_flattens_and_keeps_corrupt_lines(spark: SparkSession, tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    (lines / "sub").mkdir(parents=True)
    (lines / "a.json").write_text(
        '{"id": 1, "cliente": {"nombre": "Ana", "dir": {"ciudad": "Vigo"}}, "importe": 10.50}\n{not json\n'
    )
    (lines / "sub" / "b.json").write_text('{"id": 2, "cliente": {"nombre": "Luis"}, "importe": 3}\n')
    config = job.DatasetConfig(format="json", keys=("id",))

    classified = job.classify_rows(job.read_raw(spark, config, lines.as_uri()), config)

    # The top-level fields in the records' order; inside an object Spark's JSON inference orders them by name.
    assertDataFrameEqual(
        job.clean_rows(classified),
        [
            Row(id=1, cliente_dir_ciudad="Vigo", cliente_nombre="Ana", importe=10.5),
            Row(id=2, cliente_dir_ciudad=None, cliente_nombre="Luis", importe=3.0),
        ],
    )
    assertDataFrameEqual(
        job.reject_rows(classified).select("id", "reject_reason", "reject_columns", "raw_record"),
        [Row(id=None, reject_reason="malformed_record", reject_columns=["id"], raw_record="{not json")],
    )

    array = tmp_path / "array"
    array.mkdir()
    (array / "c.json").write_text('[\n {"Código": "7", "Región": "Lugo"},\n {"Código": "8", "Región": null}\n]\n')
    multiline = job.DatasetConfig(format="json", reader={"layout": "array"})
    assertDataFrameEqual(
        job.clean_rows(job.classify_rows(job.read_raw(spark, multiline, array.as_uri()), multiline)),
        [Row(codigo=7, region="Lugo"), Row(codigo=8, region=None)],
    )


def test_read_parquet_keeps_source_types_and_casts_to_the_schema(spark: SparkSession, tmp_path: Path) -> None:
    source = spark.createDataFrame(
        [(1, "7.50", dt.date(2026, 11, 1)), (2, "x", None)], "Id int, Importe string, Fecha date"
    )
    source.write.parquet(str(tmp_path / "raw"))
    config = job.DatasetConfig(
        format="parquet",
        schema=(job.ColumnSpec("id", "bigint", nullable=False), job.ColumnSpec("importe", "decimal(6,2)")),
    )

    classified = job.classify_rows(job.read_raw(spark, config, (tmp_path / "raw").as_uri()), config)

    # Columns outside the schema pass through with their own type.
    assertDataFrameEqual(
        job.clean_rows(classified), [Row(id=1, importe=Decimal("7.50"), fecha=dt.date(2026, 11, 1))]
    )
    assertDataFrameEqual(
        job.reject_rows(classified),
        [
            Row(
                id="2",
                importe="x",
                fecha=None,
                reject_reason="unparseable:importe",
                reject_columns=["importe"],
            )
        ],
    )


def test_script_runs_standalone_with_glue_style_arguments(tmp_path: Path, s3, aws: str) -> None:
    """The file and its package zip, outside the repository, as Glue starts it: the zip the clean task ships as
    --extra-py-files on PYTHONPATH (as Glue puts it), extra Glue keys ignored."""
    import indata_contract
    from indata_ops.operators.clean import package_zip

    script = tmp_path / "script" / "clean_dataset.py"
    script.parent.mkdir()
    script.write_bytes(Path(job.__file__).read_bytes())
    modules = tmp_path / "py-files" / "indata_clean.zip"
    modules.parent.mkdir()
    # The two packages the DAG's clean task ships: the job's modules and the dataset contract.
    modules.write_bytes(package_zip(Path(job.__file__).parent / "indata_clean", Path(indata_contract.__file__).parent))
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)
    argv = [sys.executable, str(script), "--JOB_RUN_ID", "jr_0001", "--enable-glue-datacatalog", "true"]
    for name, value in job_args(tmp_path, "2026-11-01").items():
        argv += [f"--{name}", value]
    # The Glue runner, not the script, picks the master; a small shuffle keeps this test fast.
    submit = "--master local[1] --conf spark.ui.enabled=false --conf spark.sql.shuffle.partitions=2 pyspark-shell"
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": submit, "PYTHONPATH": str(modules)}

    result = subprocess.run(argv, cwd=script.parent, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "input=10 clean=4 rejected=4 duplicates=2" in result.stdout
    counts = json.loads(s3.get_object(Bucket=BUCKET, Key="job-reports/ventas/dt=2026-11-01/counts.json")["Body"].read())
    assert (counts["input"], counts["clean"], counts["rejected"], counts["duplicates"]) == (10, 4, 4, 2)


# --- schema evolution against the Glue clean table (moto's catalog, through the job's own functions) ------------


def run_pedidos(spark: SparkSession, root: Path, run_date: str, text: str, **config) -> job.Counts:
    folder = root / "raw" / "pedidos" / f"dt={run_date}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pedidos.csv").write_text(text, encoding="utf-8")
    args = {
        **job_args(root, run_date),
        "JOB_NAME": "clean-pedidos",
        "dataset": "pedidos",
        "raw_path": f"{(root / 'raw' / 'pedidos').as_uri()}/dt={run_date}/",
        "clean_path": f"{(root / 'clean' / 'pedidos').as_uri()}/",
        "rejects_path": f"{(root / 'rejects' / 'pedidos').as_uri()}/",
        "counts_path": f"s3://{BUCKET}/job-reports/pedidos/dt={run_date}/counts.json",
        "dataset_config": json.dumps({"format": "csv", **config}),
    }
    return job.run_job(args, spark)


def table_columns(partition: str | None = None) -> list[tuple[str, str]]:
    glue = boto3.client("glue", region_name="us-east-1")
    if partition is None:
        descriptor = glue.get_table(DatabaseName="indata_clean", Name="pedidos")["Table"]["StorageDescriptor"]
    else:
        descriptor = glue.get_partition(
            DatabaseName="indata_clean", TableName="pedidos", PartitionValues=[partition]
        )["Partition"]["StorageDescriptor"]
    return [(c["Name"], c["Type"]) for c in descriptor["Columns"]]


def test_inferred_types_follow_the_table_and_a_real_change_fails_naming_both_types(
    spark: SparkSession, tmp_path: Path, s3
) -> None:
    run_pedidos(spark, tmp_path, "2026-11-01", "codigo,importe\n1,10\n2,20\n")
    assert table_columns() == [("codigo", "bigint"), ("importe", "bigint")]

    # A day of empty amounts keeps the table's bigint instead of turning the column into text.
    counts = run_pedidos(spark, tmp_path, "2026-11-02", "codigo,importe\n3,\n4,\n")
    assert (counts.clean, counts.schema_changes["retyped"]) == (2, [])
    assert table_columns("2026-11-02") == [("codigo", "bigint"), ("importe", "bigint")]

    with pytest.raises(
        ValueError,
        match=r"conflict with the clean table indata_clean.pedidos: 'codigo' is bigint in the table but string in "
        r"this run\. Declare the type in the dataset's schema",
    ):
        run_pedidos(spark, tmp_path, "2026-11-03", "codigo,importe\nA-5,50\n")
    assert not (tmp_path / "clean" / "pedidos" / "dt=2026-11-03").exists()
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="job-reports/pedidos/dt=2026-11-03/").get("KeyCount") == 0
    assert table_columns() == [("codigo", "bigint"), ("importe", "bigint")]

    # The schema says otherwise: its type wins and the table follows.
    schema = [{"name": "codigo", "type": "string", "nullable": False}, {"name": "importe", "type": "bigint"}]
    counts = run_pedidos(spark, tmp_path, "2026-11-03", "codigo,importe\nA-5,50\n", schema=schema, keys=["codigo"])
    assert counts.schema_changes == {"added": [], "ignored": [], "retyped": ["codigo"]}
    assert table_columns() == [("codigo", "string"), ("importe", "bigint")]
    assert table_columns("2026-11-01") == [("codigo", "bigint"), ("importe", "bigint")]


def test_added_columns_join_the_table_and_stay_when_a_later_day_lacks_them(
    spark: SparkSession, tmp_path: Path, s3
) -> None:
    schema = [{"name": "codigo", "type": "bigint", "nullable": False}]
    run_pedidos(spark, tmp_path, "2026-11-01", "codigo\n1\n", schema=schema)
    counts = run_pedidos(spark, tmp_path, "2026-11-02", "codigo,Canal Venta\n2,web\n", schema=schema)
    assert counts.schema_changes["added"] == ["canal_venta"]
    assert table_columns() == [("codigo", "bigint"), ("canal_venta", "string")]

    run_pedidos(spark, tmp_path, "2026-11-03", "codigo\n3\n", schema=schema)

    assert table_columns() == [("codigo", "bigint"), ("canal_venta", "string")]
    assert table_columns("2026-11-03") == [("codigo", "bigint")]
    with pytest.raises(job.SchemaEvolutionError, match=r"'Canal Venta' \(as canal_venta\)"):
        run_pedidos(spark, tmp_path, "2026-11-04", "codigo,Canal Venta\n4,tienda\n", schema=schema,
                    schema_evolution="fail")


# --- Glue: awsglue when it is there, a plain SparkSession otherwise; job.commit() only on Glue --------------------


class FakeGlue:
    """awsglue's modules as Glue provides them, recording calls (the real ones need Glue's JVM classes)."""

    def __init__(self, spark: SparkSession, context_fails: bool = False) -> None:
        self.calls: list[tuple] = []
        glue = self

        def get_resolved_options(argv: list[str], names: list[str]) -> dict[str, str]:
            glue.calls.append(("getResolvedOptions", tuple(names)))
            values = dict(zip(argv[1::2], argv[2::2]))
            return {name: values[f"--{name}"] for name in names}

        class GlueContext:
            def __init__(self, spark_context) -> None:
                if context_fails:
                    raise TypeError("'JavaPackage' object is not callable")  # the PyPI stubs off Glue
                glue.calls.append(("GlueContext", spark_context is spark.sparkContext))
                self.spark_session = spark

        class Job:
            def __init__(self, context: GlueContext) -> None:
                pass

            def init(self, name: str, args: dict[str, str]) -> None:
                glue.calls.append(("init", name, args["run_date"]))

            def commit(self) -> None:
                glue.calls.append(("commit",))

        self.modules = {
            "awsglue": types.ModuleType("awsglue"),
            "awsglue.utils": types.SimpleNamespace(getResolvedOptions=get_resolved_options),
            "awsglue.context": types.SimpleNamespace(GlueContext=GlueContext),
            "awsglue.job": types.SimpleNamespace(Job=Job),
        }


def glue_argv(root: Path) -> list[str]:
    argv = ["clean_dataset.py", "--JOB_RUN_ID", "jr_1"]
    for name, value in job_args(root, "2026-11-01").items():
        argv += [f"--{name}", value]
    return argv


def test_on_glue_main_uses_awsglue_and_commits_after_the_outputs(
    spark: SparkSession, tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    glue = FakeGlue(spark)
    for name, module in glue.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)

    job.main(glue_argv(tmp_path))

    assert glue.calls == [
        ("getResolvedOptions", job.JOB_ARGUMENTS),
        ("GlueContext", True),
        ("init", "clean-ventas", "2026-11-01"),
        ("commit",),
    ]
    assert s3.head_object(Bucket=BUCKET, Key="job-reports/ventas/dt=2026-11-01/counts.json")


def test_a_failed_run_does_not_commit(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    glue = FakeGlue(spark)
    for name, module in glue.modules.items():
        monkeypatch.setitem(sys.modules, name, module)

    with pytest.raises(FileNotFoundError, match="does not exist"):
        job.main(glue_argv(tmp_path))  # no raw files

    assert ("commit",) not in glue.calls and ("init", "clean-ventas", "2026-11-01") in glue.calls


@pytest.mark.parametrize("awsglue", ["stubs without Glue's JVM", "absent"])
def test_off_glue_main_falls_back_to_a_plain_session_and_never_commits(
    spark: SparkSession, tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch, awsglue: str
) -> None:
    glue = FakeGlue(spark, context_fails=True)
    for name, module in glue.modules.items():
        # None in sys.modules makes the import raise ImportError, as where awsglue is not installed.
        monkeypatch.setitem(sys.modules, name, module if awsglue != "absent" else None)
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)

    job.main(glue_argv(tmp_path))

    expected_calls = [("getResolvedOptions", job.JOB_ARGUMENTS)] if awsglue != "absent" else []
    assert glue.calls == expected_calls
    counts = json.loads(s3.get_object(Bucket=BUCKET, Key="job-reports/ventas/dt=2026-11-01/counts.json")["Body"].read())
    assert (counts["input"], counts["clean"]) == (10, 4)


def read_counts(s3, run_date: str) -> dict:
    key = f"job-reports/ventas/dt={run_date}/counts.json"
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.mark.parametrize("awsglue", ["present", "absent"])
def test_the_input_fingerprint_given_is_stored_in_the_counts(
    spark: SparkSession, tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch, awsglue: str
) -> None:
    glue = FakeGlue(spark)
    for name, module in glue.modules.items():
        monkeypatch.setitem(sys.modules, name, module if awsglue == "present" else None)
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)

    job.main(glue_argv(tmp_path) + ["--input_fingerprint", "sha256:0a1b"])

    assert read_counts(s3, "2026-11-01")["input_fingerprint"] == "sha256:0a1b"
    if awsglue == "present":  # Glue's parser has no optional arguments: it is asked for it only when given
        assert glue.calls[0] == ("getResolvedOptions", (*job.JOB_ARGUMENTS, "input_fingerprint"))
    job.main(glue_argv(tmp_path))
    assert read_counts(s3, "2026-11-01")["input_fingerprint"] is None


def test_a_run_that_stops_while_replacing_the_partition_leaves_no_counts(spark: SparkSession, tmp_path: Path, s3
                                                                         ) -> None:
    write_raw(tmp_path, "2026-11-01", VENTAS_CSV)
    job.run_job({**job_args(tmp_path, "2026-11-01"), "input_fingerprint": "sha256:0a1b"}, spark)
    assert read_counts(s3, "2026-11-01")["input_fingerprint"] == "sha256:0a1b"
    # The rejects cannot be written (their folder's parent is a file): the clean partition is already replaced.
    shutil.rmtree(tmp_path / "rejects")
    (tmp_path / "rejects").write_text("not a folder")

    with pytest.raises(Exception, match="rejects"):
        job.run_job({**job_args(tmp_path, "2026-11-01"), "input_fingerprint": "sha256:0a1b"}, spark)

    # No commit marker, so no fingerprint a rerun could take for the half-replaced partition's.
    with pytest.raises(s3.exceptions.NoSuchKey):
        read_counts(s3, "2026-11-01")


def test_headerless_csv_reads_columns_in_schema_order(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.csv").write_bytes("1;Lugo;sí\n2;Vigo;no\n".encode("cp1252"))
    (folder / "b.csv").write_bytes(b"3;Ourense\n")  # short: malformed, not shifted
    config = job.DatasetConfig(
        format="csv",
        reader={"delimiter": ";", "header": False, "encoding": "windows-1252"},
        schema=(job.ColumnSpec("id", "int"), job.ColumnSpec("ciudad", "string"), job.ColumnSpec("activo", "boolean")),
    )

    classified = job.classify_rows(job.read_raw(spark, config, folder.as_uri()), config)

    assertDataFrameEqual(
        job.clean_rows(classified), [Row(id=1, ciudad="Lugo", activo=True), Row(id=2, ciudad="Vigo", activo=False)]
    )
    assert [r["reject_reason"] for r in job.reject_rows(classified).collect()] == ["malformed_record"]
