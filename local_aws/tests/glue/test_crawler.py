"""The crawler's data plane against a real moto server: S3 objects in, Glue catalog entries out."""
from __future__ import annotations

import datetime
import decimal
import gzip
import io
import json

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from local_aws.glue.crawler import CrawlError, CrawlMetrics, run_crawl
from local_aws.glue.crawler.discovery import glob_to_regex, is_excluded
from local_aws.hive import (
    JSON_SERDE,
    LAZY_SIMPLE_SERDE,
    OPEN_CSV_SERDE,
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    TEXT_INPUT,
    TEXT_OUTPUT,
)

CRAWLER = "crawlertest-crawler"
CRAWLER_KEYS = {
    "CrawlerSchemaSerializerVersion": "1.0",
    "CrawlerSchemaDeserializerVersion": "1.0",
    "UPDATED_BY_CRAWLER": CRAWLER,
}


def put(s3: boto3.client, bucket: str, key: str, body: bytes | str) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return data


def crawler(database: str, *paths: str, exclusions: list[str] | None = None, **extra) -> dict:
    targets = [{"Path": p, "Exclusions": exclusions or []} for p in paths]
    return {"Name": CRAWLER, "DatabaseName": database, "Targets": {"S3Targets": targets}, **extra}


def get_table(glue, database: str, name: str) -> dict:
    return glue.get_table(DatabaseName=database, Name=name)["Table"]


def columns(table: dict) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def partitions(glue, database: str, name: str) -> list[dict]:
    found = glue.get_partitions(DatabaseName=database, TableName=name)["Partitions"]
    return sorted(found, key=lambda p: p["Values"])


def table_names(glue, database: str) -> list[str]:
    return sorted(t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"])


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


# --- CSV ----------------------------------------------------------------------------------------


def test_semicolon_latin1_csv_keeps_decimal_commas_as_string(s3, glue, bucket, database):
    body = put(s3, bucket, "raw/ventas/ventas.csv",
               "Código;Fecha;Importe\n1;2024-01-01;12,50\n2;2024-01-02;3,75\n".encode("latin-1"))

    metrics = run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/ventas/"))

    assert metrics == CrawlMetrics(tables_created=1, tables_updated=0, tables_deleted=0, partitions_created=0)
    table = get_table(glue, database, "ventas")
    assert columns(table) == [("código", "bigint"), ("fecha", "string"), ("importe", "string")]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["PartitionKeys"] == []
    expected_params = {
        "classification": "csv",
        "delimiter": ";",
        "skip.header.line.count": "1",
        "areColumnsQuoted": "false",
        "columnsOrdered": "true",
        "compressionType": "none",
        "typeOfData": "file",
        "recordCount": "2",
        "averageRecordSize": str(round(len(body) / 2)),
        "sizeKey": str(len(body)),
        "objectCount": "1",
        **CRAWLER_KEYS,
    }
    assert table["Parameters"] == expected_params
    sd = table["StorageDescriptor"]
    assert sd["Location"] == f"s3://{bucket}/raw/ventas/"
    assert (sd["InputFormat"], sd["OutputFormat"]) == (TEXT_INPUT, TEXT_OUTPUT)
    assert sd["SerdeInfo"] == {"SerializationLibrary": LAZY_SIMPLE_SERDE, "Parameters": {"field.delim": ";"}}
    assert (sd["Compressed"], sd["NumberOfBuckets"], sd["StoredAsSubDirectories"]) == (False, -1, False)
    assert sd["Parameters"] == expected_params


def test_quoted_csv_uses_open_csv_serde(s3, glue, bucket, database):
    put(s3, bucket, "raw/clientes/c.csv",
        'id,name,comment,active\n1,"Smith, John","line one\nline two",true\n2,Ann,plain,false\n')

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/clientes"))

    table = get_table(glue, database, "clientes")
    # Types are kept: Athena's OpenCSVSerde reads bigint/boolean from their string form.
    assert columns(table) == [("id", "bigint"), ("name", "string"), ("comment", "string"), ("active", "boolean")]
    assert table["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": OPEN_CSV_SERDE,
        "Parameters": {"separatorChar": ",", "quoteChar": '"'},
    }
    assert table["Parameters"]["areColumnsQuoted"] == "true"
    assert table["Parameters"]["recordCount"] == "2"


def test_all_string_csv_has_no_header_like_aws(s3, glue, bucket, database):
    put(s3, bucket, "raw/ciudades/c.tsv", "madrid\tes\nlisboa\tpt\n")

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/ciudades/"))

    table = get_table(glue, database, "ciudades")
    assert columns(table) == [("col0", "string"), ("col1", "string")]
    assert "skip.header.line.count" not in table["Parameters"]
    assert table["Parameters"]["delimiter"] == "\t"
    assert table["Parameters"]["recordCount"] == "2"


def test_gzip_csv(s3, glue, bucket, database):
    put(s3, bucket, "raw/pagos/p.csv.gz", gzip.compress(b"id|amount\n1|2.5\n2|3\n"))

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/pagos/"))

    table = get_table(glue, database, "pagos")
    assert columns(table) == [("id", "bigint"), ("amount", "double")]
    assert table["Parameters"]["compressionType"] == "gzip"
    assert table["Parameters"]["delimiter"] == "|"


# --- JSON ---------------------------------------------------------------------------------------


def test_json_lines(s3, glue, bucket, database):
    put(s3, bucket, "raw/eventos/e.json",
        '{"id": 1, "Name": "a", "price": 1.5, "ok": true}\n{"id": 2, "Name": "b", "price": 2, "extra": null}\n')

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/eventos/"))

    table = get_table(glue, database, "eventos")
    assert columns(table) == [
        ("id", "bigint"), ("name", "string"), ("price", "double"), ("ok", "boolean"), ("extra", "string")]
    assert table["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": JSON_SERDE, "Parameters": {"paths": "id,name,price,ok,extra"}}
    params = table["Parameters"]
    assert (params["classification"], params["recordCount"], params["compressionType"]) == ("json", "2", "none")
    assert "delimiter" not in params


def test_nested_json_becomes_struct_and_array(s3, glue, bucket, database):
    record = {
        "id": 1,
        "customer": {"name": "x", "address": {"city": "y"}},
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2.5}],
        "tags": ["t"],
    }
    put(s3, bucket, "raw/pedidos/p.json", json.dumps(record, indent=2))  # pretty-printed on purpose

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/pedidos/"))

    assert columns(get_table(glue, database, "pedidos")) == [
        ("id", "bigint"),
        ("customer", "struct<name:string,address:struct<city:string>>"),
        ("items", "array<struct<sku:string,qty:double>>"),
        ("tags", "array<string>"),
    ]


def test_json_top_level_array_is_one_array_column(s3, glue, bucket, database):
    put(s3, bucket, "raw/lista/l.json", '[{"id": 1, "name": "a"}, {"id": 2, "name": "b", "x": 1.5}]')

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/lista/"))

    table = get_table(glue, database, "lista")
    assert columns(table) == [("array", "array<struct<id:bigint,name:string,x:double>>")]
    assert table["Parameters"]["recordCount"] == "1"


# --- Parquet ------------------------------------------------------------------------------------


def test_parquet_schema_from_footer(s3, glue, bucket, database):
    data = pa.table({
        "i32": pa.array([1, 2, 3], pa.int32()),
        "i64": pa.array([1, 2, 3], pa.int64()),
        "f32": pa.array([1.0, 2.0, 3.0], pa.float32()),
        "f64": [1.5, 2.5, 3.5],
        "amount": pa.array([decimal.Decimal("1.25")] * 3, pa.decimal128(10, 2)),
        "day": [datetime.date(2024, 1, 1)] * 3,
        "at": pa.array([datetime.datetime(2024, 1, 1, 12)] * 3, pa.timestamp("us")),
        "Name": ["a", "b", "c"],
        "flag": [True, False, True],
        "blob": [b"a", b"b", b"c"],
        "nums": [[1], [2, 3], []],
        "info": [{"a": 1, "b": "x"}] * 3,
    })
    body = put(s3, bucket, "raw/medidas/part-0.parquet", parquet_bytes(data))

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/medidas/"))

    table = get_table(glue, database, "medidas")
    assert columns(table) == [
        ("i32", "int"), ("i64", "bigint"), ("f32", "float"), ("f64", "double"),
        ("amount", "decimal(10,2)"), ("day", "date"), ("at", "timestamp"), ("name", "string"),
        ("flag", "boolean"), ("blob", "binary"), ("nums", "array<bigint>"),
        ("info", "struct<a:bigint,b:string>"),
    ]
    sd = table["StorageDescriptor"]
    assert (sd["InputFormat"], sd["OutputFormat"]) == (PARQUET_INPUT, PARQUET_OUTPUT)
    assert sd["SerdeInfo"] == {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}}
    assert table["Parameters"] == {
        "classification": "parquet",
        "compressionType": "none",
        "typeOfData": "file",
        "recordCount": "3",
        "averageRecordSize": str(round(len(body) / 3)),
        "sizeKey": str(len(body)),
        "objectCount": "1",
        **CRAWLER_KEYS,
    }


def test_large_objects_are_sampled(s3, glue, bucket, database):
    rows = 100_000
    csv_body = put(s3, bucket, "raw/grande/g.csv",
                   "id,value\n" + "".join(f"{i},{i * 0.5}\n" for i in range(rows)))
    assert len(csv_body) > (1 << 20)
    big = pa.table({"id": pa.array(range(200_000), pa.int64()), "label": [f"row-{i}" for i in range(200_000)]})
    put(s3, bucket, "raw/grande_pq/g.parquet", parquet_bytes(big))

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/grande/", f"s3://{bucket}/raw/grande_pq/"))

    csv_table = get_table(glue, database, "grande")
    assert columns(csv_table) == [("id", "bigint"), ("value", "double")]
    assert abs(int(csv_table["Parameters"]["recordCount"]) - rows) < rows * 0.05  # extrapolated
    parquet_table = get_table(glue, database, "grande_pq")
    assert columns(parquet_table) == [("id", "bigint"), ("label", "string")]
    assert parquet_table["Parameters"]["recordCount"] == "200000"  # exact, from the footer


# --- Layout: partitions, table boundaries, names, exclusions -------------------------------------


def test_hive_partitions(s3, glue, bucket, database):
    for day in ("2024-01-01", "2024-01-02"):
        put(s3, bucket, f"raw/ventas/dt={day}/part-0.csv", "id,total\n1,10.5\n2,3\n")
        put(s3, bucket, f"raw/ventas/dt={day}/_SUCCESS", "x")
    put(s3, bucket, "raw/ventas/dt=2024-01-01/", b"")  # console-style folder placeholder

    metrics = run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/ventas/"))

    assert metrics == CrawlMetrics(tables_created=1, tables_updated=0, tables_deleted=0, partitions_created=2)
    table = get_table(glue, database, "ventas")
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert columns(table) == [("id", "bigint"), ("total", "double")]
    assert table["Parameters"]["objectCount"] == "2"
    found = partitions(glue, database, "ventas")
    assert [p["Values"] for p in found] == [["2024-01-01"], ["2024-01-02"]]
    assert [p["StorageDescriptor"]["Location"] for p in found] == [
        f"s3://{bucket}/raw/ventas/dt=2024-01-01/", f"s3://{bucket}/raw/ventas/dt=2024-01-02/"]
    sd = found[0]["StorageDescriptor"]
    assert columns(found[0]) == [("id", "bigint"), ("total", "double")]
    assert sd["SerdeInfo"] == table["StorageDescriptor"]["SerdeInfo"]
    assert sd["Parameters"]["recordCount"] == "2"
    assert sd["Parameters"]["classification"] == "csv"
    assert "UPDATED_BY_CRAWLER" not in sd["Parameters"]


def test_two_level_partitions(s3, glue, bucket, database):
    for year, month in (("2024", "01"), ("2024", "02"), ("2023", "12")):
        put(s3, bucket, f"raw/logs/year={year}/month={month}/a.json", '{"msg": "hi"}\n')

    metrics = run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/logs/"))

    assert metrics.partitions_created == 3
    table = get_table(glue, database, "logs")
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]
    found = partitions(glue, database, "logs")
    assert [p["Values"] for p in found] == [["2023", "12"], ["2024", "01"], ["2024", "02"]]
    assert found[0]["StorageDescriptor"]["Location"] == f"s3://{bucket}/raw/logs/year=2023/month=12/"


def test_plain_folders_become_numbered_partitions(s3, glue, bucket, database):
    put(s3, bucket, "raw/app/2024/01/a.json", '{"msg": "a"}\n')
    put(s3, bucket, "raw/app/2024/02/b.json", '{"msg": "b"}\n')

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/"))

    table = get_table(glue, database, "app")
    assert [k["Name"] for k in table["PartitionKeys"]] == ["partition_0", "partition_1"]
    assert [p["Values"] for p in partitions(glue, database, "app")] == [["2024", "01"], ["2024", "02"]]


def test_one_table_per_subfolder_with_prefix(s3, glue, bucket, database):
    put(s3, bucket, "raw/ventas/v.csv", "id,total\n1,2.5\n2,3\n")
    put(s3, bucket, "raw/Clientes-VIP/c.json", '{"id": 1}\n')

    metrics = run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw", TablePrefix="bk_"))

    assert metrics.tables_created == 2
    assert table_names(glue, database) == ["bk_clientes_vip", "bk_ventas"]
    assert get_table(glue, database, "bk_ventas")["StorageDescriptor"]["Location"] == f"s3://{bucket}/raw/ventas/"
    clientes = get_table(glue, database, "bk_clientes_vip")
    assert clientes["StorageDescriptor"]["Location"] == f"s3://{bucket}/raw/Clientes-VIP/"
    assert clientes["Parameters"]["classification"] == "json"


def test_same_folder_name_in_two_targets_gets_a_hash_suffix(s3, glue, bucket, database):
    put(s3, bucket, "a/ventas/v.json", '{"id": 1}\n')
    put(s3, bucket, "b/ventas/v.json", '{"id": 2}\n')

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/a/ventas/", f"s3://{bucket}/b/ventas/"))

    names = table_names(glue, database)
    assert len(names) == 2 and names[0] == "ventas" and names[1].startswith("ventas_")


def test_exclusions_and_mixed_formats(s3, glue, bucket, database):
    put(s3, bucket, "raw/t/data.csv", "id,total\n1,2.5\n2,3\n")
    put(s3, bucket, "raw/t/notes.tmp", '{"not": "data"}\n')
    put(s3, bucket, "raw/t/manifests/m1.json", '{"files": []}\n')
    put(s3, bucket, "raw/t/.hidden", "ignored")

    with pytest.raises(CrawlError, match=r"Table t \(s3://.*/raw/t/\) mixes csv, json"):
        run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/t/"))

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/t/", exclusions=["*.tmp", "manifests/**"]))
    table = get_table(glue, database, "t")
    assert table["Parameters"]["objectCount"] == "1"
    assert table["PartitionKeys"] == []


@pytest.mark.parametrize(("pattern", "path", "excluded"), [
    ("*.tmp", "a.tmp", True),
    ("*.tmp", "sub/a.tmp", False),  # * stays within one folder
    ("**.tmp", "sub/a.tmp", True),  # ** crosses folders
    ("**/_SUCCESS", "dt=1/_SUCCESS", True),
    ("manifests/**", "manifests/x/y.json", True),
    ("manifests/**", "data/manifests.json", False),
    ("myfolder/*", "myfolder/src/data.csv", True),  # a matching folder excludes its contents
    ("*.{csv,avro}", "a.avro", True),
    ("foo.?", "foo.c", True),
    ("2015/01/{[!0],0[8-9]}**", "2015/01/15/x.csv", True),
    ("2015/01/{[!0],0[8-9]}**", "2015/01/05/x.csv", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
])
def test_exclusion_glob_semantics(pattern, path, excluded):
    assert is_excluded(path, [glob_to_regex(pattern)]) is excluded


def test_empty_include_path_creates_nothing(s3, glue, bucket, database):
    put(s3, bucket, "other/x.csv", "a,b\n1,2\n")

    metrics = run_crawl(s3, glue, crawler(database, f"s3://{bucket}/nothing/here/"))

    assert metrics == CrawlMetrics(tables_created=0, tables_updated=0, tables_deleted=0, partitions_created=0)
    assert table_names(glue, database) == []


def test_missing_database(s3, glue, bucket):
    with pytest.raises(CrawlError) as raised:
        run_crawl(s3, glue, crawler("crawlertest_missing_db", f"s3://{bucket}/raw/"))
    assert str(raised.value) == "Database crawlertest_missing_db not found"


# --- Re-crawls and SchemaChangePolicy -------------------------------------------------------------


def test_recrawl_adds_only_new_partitions(s3, glue, bucket, database):
    for day in ("2024-01-01", "2024-01-02"):
        put(s3, bucket, f"raw/ventas/dt={day}/p.json", '{"id": 1}\n')
    config = crawler(database, f"s3://{bucket}/raw/ventas/")
    assert run_crawl(s3, glue, config) == CrawlMetrics(1, 0, 0, 2)

    put(s3, bucket, "raw/ventas/dt=2024-01-03/p.json", '{"id": 3}\n')
    assert run_crawl(s3, glue, config) == CrawlMetrics(0, 0, 0, 1)
    assert run_crawl(s3, glue, config) == CrawlMetrics(0, 0, 0, 0)
    assert len(partitions(glue, database, "ventas")) == 3


@pytest.mark.parametrize(("behavior", "expected_columns", "updated"), [
    ("UPDATE_IN_DATABASE", [("id", "bigint"), ("email", "string")], 1),
    ("LOG", [("id", "bigint")], 0),
])
def test_schema_evolution(s3, glue, bucket, database, behavior, expected_columns, updated):
    put(s3, bucket, "raw/users/dt=1/u.json", '{"id": 1}\n')
    policy = {"UpdateBehavior": behavior, "DeleteBehavior": "LOG"}
    config = crawler(database, f"s3://{bucket}/raw/users/", SchemaChangePolicy=policy)
    run_crawl(s3, glue, config)

    put(s3, bucket, "raw/users/dt=2/u.json", '{"id": 2, "email": "a@b.c"}\n')
    metrics = run_crawl(s3, glue, config)

    assert metrics == CrawlMetrics(0, updated, 0, 1)
    assert columns(get_table(glue, database, "users")) == expected_columns
    # A partition has its own files' schema unless the crawler says InheritFromTable.
    assert columns(partitions(glue, database, "users")[1]) == [("id", "bigint"), ("email", "string")]


def test_partitions_inherit_from_table(s3, glue, bucket, database):
    put(s3, bucket, "raw/users/dt=1/u.json", '{"id": 1}\n')
    put(s3, bucket, "raw/users/dt=2/u.json", '{"id": 2, "email": "a@b.c"}\n')
    inherit = json.dumps({"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}})

    run_crawl(s3, glue, crawler(database, f"s3://{bucket}/raw/users/", Configuration=inherit))

    assert [columns(p) for p in partitions(glue, database, "users")] == [[("id", "bigint"), ("email", "string")]] * 2


@pytest.mark.parametrize("behavior", ["DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE", "LOG"])
def test_delete_behavior_for_vanished_tables(s3, glue, bucket, database, behavior):
    put(s3, bucket, "raw/a/a.json", '{"id": 1}\n')
    put(s3, bucket, "raw/b/b.json", '{"id": 1}\n')
    config = crawler(database, f"s3://{bucket}/raw/",
                     SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": behavior})
    run_crawl(s3, glue, config)
    glue.create_table(DatabaseName=database, TableInput={"Name": "manual", "Parameters": {}})
    s3.delete_object(Bucket=bucket, Key="raw/b/b.json")

    metrics = run_crawl(s3, glue, config)

    assert metrics.tables_deleted == (0 if behavior == "LOG" else 1)
    if behavior == "DELETE_FROM_DATABASE":
        assert table_names(glue, database) == ["a", "manual"]
        return
    assert table_names(glue, database) == ["a", "b", "manual"]
    deprecated = get_table(glue, database, "b")["Parameters"].get("DEPRECATED_BY_CRAWLER")
    if behavior == "LOG":
        assert deprecated is None
    else:
        assert deprecated.isdigit()
        assert run_crawl(s3, glue, config).tables_deleted == 0  # already deprecated


def test_delete_from_database_drops_vanished_partitions(s3, glue, bucket, database):
    for day in ("1", "2"):
        put(s3, bucket, f"raw/ventas/dt={day}/p.json", '{"id": 1}\n')
    config = crawler(database, f"s3://{bucket}/raw/ventas/",
                     SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE",
                                         "DeleteBehavior": "DELETE_FROM_DATABASE"})
    run_crawl(s3, glue, config)
    s3.delete_object(Bucket=bucket, Key="raw/ventas/dt=1/p.json")

    run_crawl(s3, glue, config)

    assert [p["Values"] for p in partitions(glue, database, "ventas")] == [["2"]]


@pytest.mark.parametrize(("configuration", "expected_columns"), [
    (None, [("id", "bigint"), ("new", "string")]),
    (json.dumps({"Version": 1.0, "CrawlerOutput": {"Tables": {"AddOrUpdateBehavior": "MergeNewColumns"}}}),
     [("id", "bigint"), ("old", "string"), ("new", "string")]),
])
def test_vanished_columns_are_dropped_unless_merge_new_columns(s3, glue, bucket, database, configuration,
                                                               expected_columns):
    put(s3, bucket, "raw/users/u1.json", '{"id": 1, "old": "x"}\n')
    extra = {"Configuration": configuration} if configuration else {}
    config = crawler(database, f"s3://{bucket}/raw/users/", **extra)
    run_crawl(s3, glue, config)
    s3.delete_object(Bucket=bucket, Key="raw/users/u1.json")
    put(s3, bucket, "raw/users/u2.json", '{"new": "y", "id": 2}\n')

    assert run_crawl(s3, glue, config).tables_updated == 1

    assert columns(get_table(glue, database, "users")) == expected_columns


def test_csv_update_follows_the_files_column_order(s3, glue, bucket, database):
    put(s3, bucket, "raw/ventas/v.csv", "id,total\n1,2.5\n")
    config = crawler(database, f"s3://{bucket}/raw/ventas/")
    run_crawl(s3, glue, config)
    put(s3, bucket, "raw/ventas/v.csv", "total,id\n2.5,1\n")  # columns swapped in place

    run_crawl(s3, glue, config)

    assert columns(get_table(glue, database, "ventas")) == [("total", "double"), ("id", "bigint")]
