"""The Athena engine against a real moto server (Glue catalog + S3) and real DuckDB.

Fixture data (one database and bucket per module run, so the session's moto server can be shared):
  sales   Parquet, partitioned by dt (3 partitions, 4 data files, plus a _SUCCESS and a hidden file
          that would break the query if they were read)
  people  ';'-delimited ISO-8859-1 text with a header line, LazySimpleSerDe
  quoted  OpenCSVSerde
  events  JSON lines (OpenX JsonSerDe), one plain and one gzipped file
  broken  Parquet table whose only object is not Parquet
"""
from __future__ import annotations

import datetime
import decimal
import gzip
import io
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from local_aws.athena.engine import AthenaEngine, AthenaQueryError, ColumnInfo

SUFFIX = uuid.uuid4().hex[:8]
DB = f"athena_engine_{SUFFIX}"
BUCKET = f"athena-engine-{SUFFIX}"

PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
SALES_COLUMNS = [("id", "bigint"), ("customer", "string"), ("amount", "decimal(10,2)"), ("price", "double"),
                 ("qty", "int"), ("sold_at", "timestamp"), ("active", "boolean"), ("tags", "array<string>")]
SALES_SCHEMA = pa.schema([("id", pa.int64()), ("customer", pa.string()), ("amount", pa.decimal128(10, 2)),
                          ("price", pa.float64()), ("qty", pa.int32()), ("sold_at", pa.timestamp("ms")),
                          ("active", pa.bool_()), ("tags", pa.list_(pa.string()))])


def sale(id_, customer, amount, price, qty, sold_at, active, tags):
    return (id_, customer, decimal.Decimal(amount) if amount is not None else None, price, qty,
            datetime.datetime.fromisoformat(sold_at), active, tags)


SALES_FILES = {  # partition -> files -> rows
    "2024-01-01": [[sale(1, "alice", "10.50", 1.5, 2, "2024-01-01 10:00:00", True, ["a", "b"]),
                    sale(2, "bob", "20.00", 1e10, 1, "2024-01-01 11:30:15.250", False, [])]],
    "2024-01-02": [[sale(3, "alice", "5.25", 0.1, 4, "2024-01-02 09:00:00", True, ["c"])],
                   [sale(4, "carol", "7.75", 2.0, 3, "2024-01-02 18:45:00", None, None)]],
    "2024-01-03": [[sale(5, "bob", "1.00", 3.5, 5, "2024-01-03 00:00:00", True, ["a"]),
                    sale(6, "dave", None, 100.0, 1, "2024-01-03 23:59:59.999", False, ["d", "e"])]],
}
PEOPLE_CSV = ("id;name;city;birth;score\n"
              "1;José;Zürich;1990-05-01;7.5\n"
              "2;Zoë;Köln;1985-12-31;n/a\n"
              "3;Ann;\\N;1970-01-01;10\n"
              "4;Bob;;not-a-date;3\n").encode("latin-1")
QUOTED_CSV = b'"1","hello, world","5"\n"2","say \\"hi\\"",""\n'
EVENTS = [b'{"event": "click", "user_id": 1, "props": {"source": "web", "score": 0.5}, "tags": ["x"]}\n'
          b'{"event": "view", "user_id": 2, "props": {"source": "app", "score": 1.0}, "tags": []}\n',
          gzip.compress(b'{"event": "click", "user_id": 2, "props": null, "tags": null}\n')]


def parquet_bytes(rows) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([dict(zip(SALES_SCHEMA.names, row)) for row in rows], SALES_SCHEMA), buffer)
    return buffer.getvalue()


def glue_columns(columns):
    return [{"Name": name, "Type": hive_type} for name, hive_type in columns]


def create_table(glue, name, columns, storage, location, partition_keys=(), parameters=None):
    glue.create_table(DatabaseName=DB, TableInput={
        "Name": name, "TableType": "EXTERNAL_TABLE", "Parameters": parameters or {"EXTERNAL": "TRUE"},
        "PartitionKeys": glue_columns(partition_keys),
        "StorageDescriptor": {**storage, "Columns": glue_columns(columns), "Location": location}})


@pytest.fixture(scope="module")
def partition_bytes(glue, s3):
    """Creates the fixture tables; returns the bytes of data files per sales partition."""
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DB})
    sizes = {}
    for dt, files in SALES_FILES.items():
        sizes[dt] = 0
        for index, rows in enumerate(files):
            body = parquet_bytes(rows)
            s3.put_object(Bucket=BUCKET, Key=f"sales/dt={dt}/part-{index}.parquet", Body=body)
            sizes[dt] += len(body)
    s3.put_object(Bucket=BUCKET, Key="sales/dt=2024-01-01/_SUCCESS", Body=b"not parquet")
    s3.put_object(Bucket=BUCKET, Key="sales/dt=2024-01-02/.part-0.parquet.crc", Body=b"not parquet either")
    create_table(glue, "sales", SALES_COLUMNS, PARQUET_STORAGE, f"s3://{BUCKET}/sales/", [("dt", "string")])
    glue.batch_create_partition(DatabaseName=DB, TableName="sales", PartitionInputList=[
        {"Values": [dt], "StorageDescriptor": {**PARQUET_STORAGE, "Location": f"s3://{BUCKET}/sales/dt={dt}/"}}
        for dt in SALES_FILES])

    s3.put_object(Bucket=BUCKET, Key="people/people.csv", Body=PEOPLE_CSV)
    create_table(glue, "people", [("id", "int"), ("name", "string"), ("city", "string"), ("birth", "date"),
                                  ("score", "double")],
                 {"InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                  "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                "Parameters": {"field.delim": ";", "serialization.encoding": "ISO-8859-1"}}},
                 f"s3://{BUCKET}/people/", parameters={"EXTERNAL": "TRUE", "skip.header.line.count": "1"})

    s3.put_object(Bucket=BUCKET, Key="quoted/data.csv", Body=QUOTED_CSV)
    create_table(glue, "quoted", [("id", "string"), ("note", "string"), ("qty", "int")],
                 {"SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                                "Parameters": {"separatorChar": ",", "quoteChar": '"'}}},
                 f"s3://{BUCKET}/quoted/")

    s3.put_object(Bucket=BUCKET, Key="events/a.json", Body=EVENTS[0])
    s3.put_object(Bucket=BUCKET, Key="events/b.json.gz", Body=EVENTS[1])
    create_table(glue, "events", [("event", "string"), ("user_id", "int"),
                                  ("props", "struct<source:string,score:double>"), ("tags", "array<string>")],
                 {"SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}},
                 f"s3://{BUCKET}/events/")

    s3.put_object(Bucket=BUCKET, Key="broken/part-0.parquet", Body=b"this is not a parquet file")
    create_table(glue, "broken", [("id", "bigint")], PARQUET_STORAGE, f"s3://{BUCKET}/broken/")
    return sizes


@pytest.fixture(scope="module")
def engine(glue, s3, partition_bytes, tmp_path_factory):
    return AthenaEngine(glue, s3, tmp_path_factory.mktemp("athena-cache"))


def run(engine, sql, database=DB):
    return engine.execute(sql, database)


def values(engine, sql):
    return run(engine, sql).rows


def error_of(engine, sql, database=DB, **kwargs) -> AthenaQueryError:
    with pytest.raises(AthenaQueryError) as caught:
        engine.execute(sql, database, **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------- queries


def test_count_reads_every_partition_and_skips_hidden_files(engine, partition_bytes):
    outcome = run(engine, "SELECT count(*) FROM sales")
    assert outcome.rows == [["6"]]
    assert outcome.columns == [ColumnInfo("_col0", "bigint", 19, 0, "UNKNOWN")]
    assert outcome.statement_type == "DML"
    assert outcome.data_scanned_bytes == sum(partition_bytes.values())


@pytest.mark.parametrize("where, count, partitions", [
    ("dt = '2024-01-02'", 2, ["2024-01-02"]),
    ("s.dt IN ('2024-01-01', '2024-01-03') AND qty > 0", 4, ["2024-01-01", "2024-01-03"]),
    ("dt >= '2024-01-02' AND dt < '2024-01-03'", 2, ["2024-01-02"]),
    ("date(dt) > DATE '2024-01-01' AND customer <> 'zed'", 4, ["2024-01-02", "2024-01-03"]),
    ("dt = '2023-12-31'", 0, []),
    ("dt = '2024-01-01' OR qty = 4", 3, ["2024-01-01", "2024-01-02", "2024-01-03"]),  # OR with data: no pruning
])
def test_partition_pruning_scans_only_matching_partitions(engine, partition_bytes, where, count, partitions):
    outcome = run(engine, f"SELECT count(*) FROM sales AS s WHERE {where}")
    assert outcome.rows == [[str(count)]]
    assert outcome.data_scanned_bytes == sum(partition_bytes[dt] for dt in partitions)


def test_pruning_is_per_table_reference(engine, partition_bytes):
    outcome = run(engine, f'SELECT a.id, b.id FROM "awsdatacatalog"."{DB}"."sales" a JOIN {DB}.sales b '
                          "ON a.customer = b.customer AND a.id < b.id "
                          "WHERE a.dt = '2024-01-01' AND b.dt = '2024-01-03'")
    assert outcome.rows == [["2", "5"]]
    assert outcome.data_scanned_bytes == partition_bytes["2024-01-01"] + partition_bytes["2024-01-03"]


def test_outer_join_is_not_pruned(engine, partition_bytes):
    outcome = run(engine, "SELECT count(*) FROM sales a LEFT JOIN sales b ON a.id = b.id WHERE b.dt IS NULL")
    assert outcome.rows == [["0"]]
    assert outcome.data_scanned_bytes == 2 * sum(partition_bytes.values())


def test_aggregations(engine):
    assert values(engine, "SELECT customer, sum(amount) AS total, count_if(active) AS n_active, max(qty) "
                          "FROM sales GROUP BY customer ORDER BY customer") == [
        ["alice", "15.75", "2", "4"], ["bob", "21.00", "1", "5"], ["carol", "7.75", "0", "3"],
        ["dave", None, "0", "1"]]
    assert values(engine, "SELECT approx_distinct(customer), approx_percentile(qty, 0.5), avg(qty) FROM sales") \
        == [["4", "2", "2.6666666666666665"]]


def test_functions(engine):
    assert values(engine, """
        SELECT count_if(regexp_like(customer, '^(a|b)')),
               date_parse('2024-02-03 04:05:06', '%Y-%m-%d %H:%i:%s'),
               TRY_CAST('x' AS integer), TRY_CAST('42' AS integer),
               DATE '2024-03-01' - INTERVAL '1' DAY,
               date_add('month', 1, DATE '2024-01-31'),
               format_datetime(TIMESTAMP '2024-01-02 03:04:05.678', 'yyyy/MM/dd HH:mm:ss.SSS'),
               parse_datetime('2024-07-08 09:10', 'yyyy-MM-dd HH:mm'),
               7 / 2, 7.0 / 2, date_diff('day', DATE '2024-01-01', DATE '2024-03-01')
        FROM sales""") == [["4", "2024-02-03 04:05:06.000", None, "42", "2024-02-29", "2024-02-29",
                            "2024/01/02 03:04:05.678", "2024-07-08 09:10:00.000", "3", "3.5", "60"]]


def test_date_columns_keep_date_arithmetic_dates(engine):
    outcome = run(engine, "SELECT birth + INTERVAL '1' DAY AS next_day FROM people WHERE id = 1")
    assert outcome.rows == [["1990-05-02"]]
    assert outcome.columns[0].type == "date"


def test_result_types_and_rendering(engine):
    outcome = run(engine, "SELECT id, customer, amount, price, qty, sold_at, active, tags, dt, "
                          "CAST(price AS real) AS r, CAST(sold_at AS date) AS d, ROW(qty, customer) AS rw, "
                          "MAP(ARRAY['k'], ARRAY[id]) AS m, to_utf8(customer) AS b "
                          "FROM sales WHERE id IN (2, 4) ORDER BY id")
    assert [column.to_api() for column in outcome.columns[:3]] == [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "id", "Label": "id", "Type": "bigint",
         "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False},
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "customer", "Label": "customer",
         "Type": "varchar", "Precision": 2147483647, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True},
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "amount", "Label": "amount",
         "Type": "decimal", "Precision": 10, "Scale": 2, "Nullable": "UNKNOWN", "CaseSensitive": False}]
    assert [(c.name, c.type, c.precision, c.scale) for c in outcome.columns[3:]] == [
        ("price", "double", 17, 0), ("qty", "integer", 10, 0), ("sold_at", "timestamp", 3, 0),
        ("active", "boolean", 0, 0), ("tags", "array", 0, 0), ("dt", "varchar", 2147483647, 0),
        ("r", "real", 9, 0), ("d", "date", 0, 0), ("rw", "row", 0, 0), ("m", "map", 0, 0),
        ("b", "varbinary", 2147483647, 0)]
    assert outcome.rows == [
        ["2", "bob", "20.00", "1.0E10", "1", "2024-01-01 11:30:15.250", "false", "[]", "2024-01-01", "1.0E10",
         "2024-01-01", "{qty=1, customer=bob}", "{k=2}", "62 6f 62"],
        ["4", "carol", "7.75", "2.0", "3", "2024-01-02 18:45:00.000", None, None, "2024-01-02", "2.0",
         "2024-01-02", "{qty=3, customer=carol}", "{k=4}", "63 61 72 6f 6c"]]


def test_doubles_render_like_java(engine):
    assert values(engine, "SELECT price, CAST(price AS real) FROM sales ORDER BY id") == [
        ["1.5", "1.5"], ["1.0E10", "1.0E10"], ["0.1", "0.1"], ["2.0", "2.0"], ["3.5", "3.5"],
        ["100.0", "100.0"]]
    assert values(engine, "SELECT 0.001e0, 1.234e-5, 12345678.9e0, -0.0e0, CAST('-Infinity' AS double), "
                          "CAST('NaN' AS real)") == [
        ["0.001", "1.234E-5", "1.23456789E7", "-0.0", "-Infinity", "NaN"]]


def test_to_csv_quotes_every_value_and_leaves_null_empty(engine):
    outcome = run(engine, "SELECT id, customer, amount, 'say \"hi\"' AS quote FROM sales WHERE id >= 5 ORDER BY id")
    assert engine.to_csv(outcome) == (b'"id","customer","amount","quote"\n'
                                      b'"5","bob","1.00","say ""hi"""\n'
                                      b'"6","dave",,"say ""hi"""\n')


def test_latin1_csv_with_header_and_bad_values(engine):
    outcome = run(engine, "SELECT id, name, city, birth, score FROM people ORDER BY id")
    assert outcome.rows == [["1", "José", "Zürich", "1990-05-01", "7.5"],
                            ["2", "Zoë", "Köln", "1985-12-31", None],
                            ["3", "Ann", None, "1970-01-01", "10.0"],
                            ["4", "Bob", "", None, "3.0"]]
    assert [c.type for c in outcome.columns] == ["integer", "varchar", "varchar", "date", "double"]
    assert outcome.data_scanned_bytes == len(PEOPLE_CSV)


def test_open_csv_reads_quoted_strings(engine):
    assert values(engine, "SELECT id, note, qty FROM quoted ORDER BY id") == [
        ["1", "hello, world", "5"], ["2", 'say "hi"', None]]


def test_json_lines_with_gzip_struct_and_array(engine):
    assert values(engine, "SELECT event, user_id, props.source, props.score, tags FROM events "
                          "ORDER BY user_id, event") == [
        ["click", "1", "web", "0.5", "[x]"], ["click", "2", None, None, None], ["view", "2", "app", "1.0", "[]"]]
    assert values(engine, "SELECT event, count(*) FROM events GROUP BY event ORDER BY 2 DESC, 1") == [
        ["click", "2"], ["view", "1"]]


def test_columns_missing_from_parquet_read_as_null_and_empty_tables_have_no_rows(engine, glue):
    create_table(glue, "evolved", [("id", "bigint"), ("discount", "double")], PARQUET_STORAGE,
                 f"s3://{BUCKET}/sales/dt=2024-01-02")
    assert values(engine, "SELECT id, discount FROM evolved ORDER BY id") == [["3", None], ["4", None]]
    create_table(glue, "nothing", [("id", "bigint")], PARQUET_STORAGE, f"s3://{BUCKET}/nothing/")
    outcome = run(engine, "SELECT count(*), max(id) FROM nothing")
    assert (outcome.rows, outcome.data_scanned_bytes) == ([["0", None]], 0)


def test_path_pseudo_column(engine):
    assert values(engine, 'SELECT DISTINCT "$path" FROM sales WHERE dt = \'2024-01-02\' ORDER BY 1') == [
        [f"s3://{BUCKET}/sales/dt=2024-01-02/part-0.parquet"], [f"s3://{BUCKET}/sales/dt=2024-01-02/part-1.parquet"]]


def test_with_clause_and_union(engine):
    outcome = run(engine, "WITH big AS (SELECT id FROM sales WHERE qty >= 4) "
                          "SELECT id FROM big UNION ALL SELECT 100 ORDER BY 1")
    assert outcome.rows == [["3"], ["5"], ["100"]]


def test_changed_object_is_fetched_again(engine, s3, glue):
    create_table(glue, "mutable", [("n", "int")], {"SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"}}, f"s3://{BUCKET}/mutable/")
    s3.put_object(Bucket=BUCKET, Key="mutable/data.txt", Body=b"1\n2\n")
    assert values(engine, "SELECT sum(n) FROM mutable") == [["3"]]
    s3.put_object(Bucket=BUCKET, Key="mutable/data.txt", Body=b"10\n20\n30\n")
    assert values(engine, "SELECT sum(n) FROM mutable") == [["60"]]


def test_concurrent_queries(engine):
    results, errors = {}, []

    def query(index: int) -> None:
        try:
            results[index] = values(engine, f"SELECT count(*) FROM sales WHERE qty > {index}")
        except AthenaQueryError as err:
            errors.append(err)

    threads = [threading.Thread(target=query, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {0: [["6"]], 1: [["4"]], 2: [["3"]], 3: [["2"]], 4: [["1"]], 5: [["0"]]}


def test_cancel_interrupts_a_running_query(engine):
    cancelled = threading.Event()
    threading.Timer(0.5, cancelled.set).start()
    started = time.monotonic()
    err = error_of(engine, "WITH n AS (SELECT x FROM UNNEST(sequence(1, 200000)) AS t(x)) "
                           "SELECT count(*) FROM n a, n b WHERE a.x + b.x = 7 * a.x", cancelled=cancelled)
    assert err.error_type == "CANCELLED"
    assert str(err) == "CANCELLED: Query was cancelled by user"
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("sql, database, expected", [
    ("SELECT * FROM nope", DB, f"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{DB}.nope' does not exist"),
    ("SELECT *\nFROM   sales s JOIN no_such_db.t ON true", DB,
     "SCHEMA_NOT_FOUND: line 2:21: Schema 'no_such_db' does not exist"),
    ("SELECT 1 FROM sales", "no_such_db", "SCHEMA_NOT_FOUND: line 1:15: Schema 'no_such_db' does not exist"),
    ("SELECT id, nosuch FROM sales", DB, "COLUMN_NOT_FOUND: line 1:12: Column 'nosuch' cannot be resolved or "
                                         "requester is not authorized to access requested resources"),
    ("SELEC 1", DB, "SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'"),
    ("SELECT nosuchfn(id) FROM sales", DB, "FUNCTION_NOT_FOUND: Function 'nosuchfn' not registered"),
    ("SELECT 1; SELECT 2", DB, "SYNTAX_ERROR: Only one sql statement is allowed"),
])
def test_error_messages(engine, sql, database, expected):
    assert str(error_of(engine, sql, database)) == expected


@pytest.mark.parametrize("sql, error_type", [
    ("SELECT id FROM sales WHERE", "SYNTAX_ERROR"),
    ("SELECT 'unterminated FROM sales", "SYNTAX_ERROR"),
    ("INSERT INTO sales SELECT * FROM sales", "NOT_SUPPORTED"),
    ("CREATE TABLE t AS SELECT 1", "NOT_SUPPORTED"),
    ("SELECT CAST('x' AS integer)", "INVALID_CAST_ARGUMENT"),
    ("SELECT customer, count(*) FROM sales", "EXPRESSION_NOT_AGGREGATE"),
    ("SELECT 'a' + 1", "TYPE_MISMATCH"),
    ("SELECT format_datetime(sold_at, customer) FROM sales", "NOT_SUPPORTED"),
])
def test_error_types(engine, sql, error_type):
    err = error_of(engine, sql)
    assert err.error_type == error_type
    assert str(err).startswith(f"{error_type}: ")
    assert "Traceback" not in str(err)


def test_syntax_error_position(engine):
    assert str(error_of(engine, "SELECT id FROM sales WHERE id = = 1")).startswith("SYNTAX_ERROR: line 1:33: ")


def test_unreadable_data_file_names_the_object(engine):
    err = error_of(engine, "SELECT count(*) FROM broken")
    assert err.error_type == "HIVE_BAD_DATA"
    assert f"s3://{BUCKET}/broken/part-0.parquet" in str(err)


def test_other_catalog_is_not_found(engine):
    err = error_of(engine, "SELECT 1", catalog="other")
    assert str(err) == "CATALOG_NOT_FOUND: Catalog 'other' does not exist"


# ------------------------------------------------------------------------------------------------- DDL

DDL_DB = f"{DB}_ddl"


@pytest.fixture(scope="module")
def ddl_db(engine, glue):
    assert run(engine, f"CREATE DATABASE {DDL_DB} COMMENT 'made by DDL' WITH DBPROPERTIES ('owner'='me')",
               None).statement_type == "DDL"
    run(engine, f"CREATE SCHEMA IF NOT EXISTS {DDL_DB}", None)
    return DDL_DB


def test_create_database(engine, glue, ddl_db):
    database = glue.get_database(Name=ddl_db)["Database"]
    assert (database["Description"], database["Parameters"]) == ("made by DDL", {"owner": "me"})
    assert error_of(engine, f"CREATE DATABASE {ddl_db}").error_type == "SCHEMA_ALREADY_EXISTS"


def test_create_external_table_writes_athena_storage_descriptor(engine, glue, ddl_db):
    outcome = run(engine, f"""
        CREATE EXTERNAL TABLE IF NOT EXISTS `{ddl_db}`.`logs` (
          `level` string COMMENT 'severity',
          code int,
          extra struct<a:int,b:array<string>>
        )
        COMMENT 'app logs'
        PARTITIONED BY (year string, month int)
        ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'
        STORED AS TEXTFILE
        LOCATION 's3://{BUCKET}/logs/'
        TBLPROPERTIES ('skip.header.line.count'='1', 'classification'='csv');""", None)
    assert (outcome.statement_type, outcome.columns, outcome.rows) == ("DDL", [], [])
    table = glue.get_table(DatabaseName=ddl_db, Name="logs")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Description"] == "app logs"
    assert table["Parameters"] == {"EXTERNAL": "TRUE", "skip.header.line.count": "1", "classification": "csv"}
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "int"}]
    storage = table["StorageDescriptor"]
    assert storage["Columns"] == [{"Name": "level", "Type": "string", "Comment": "severity"},
                                  {"Name": "code", "Type": "int"},
                                  {"Name": "extra", "Type": "struct<a:int,b:array<string>>"}]
    assert storage["Location"] == f"s3://{BUCKET}/logs/"
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert storage["SerdeInfo"] == {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                    "Parameters": {"field.delim": "\t", "escape.delim": "\\",
                                                   "serialization.format": "\t"}}
    # IF NOT EXISTS: a second run is a no-op; without it, an error.
    run(engine, f"CREATE EXTERNAL TABLE IF NOT EXISTS {ddl_db}.logs (x int) LOCATION 's3://{BUCKET}/x/'", None)
    err = error_of(engine, f"CREATE EXTERNAL TABLE {ddl_db}.logs (x int) LOCATION 's3://{BUCKET}/x/'", None)
    assert str(err) == f"TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.{ddl_db}.logs' already exists"


def test_create_parquet_and_serde_tables(engine, glue, ddl_db):
    run(engine, f"CREATE EXTERNAL TABLE {ddl_db}.pq (id bigint, price decimal(10,2)) STORED AS PARQUET "
                f"LOCATION 's3://{BUCKET}/sales/'", ddl_db)
    storage = glue.get_table(DatabaseName=ddl_db, Name="pq")["Table"]["StorageDescriptor"]
    assert (storage["InputFormat"], storage["OutputFormat"], storage["SerdeInfo"]) == (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
         "Parameters": {"serialization.format": "1"}})
    run(engine, "CREATE EXTERNAL TABLE json_events (event string, user_id int) "
                "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                "WITH SERDEPROPERTIES ('ignore.malformed.json'='true') "
                f"LOCATION 's3://{BUCKET}/events/'", ddl_db)
    storage = glue.get_table(DatabaseName=ddl_db, Name="json_events")["Table"]["StorageDescriptor"]
    assert storage["SerdeInfo"] == {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                                    "Parameters": {"serialization.format": "1", "ignore.malformed.json": "true"}}
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert run(engine, "SELECT count(*), sum(user_id) FROM json_events", ddl_db).rows == [["3", "5"]]


def test_partition_ddl_and_queries(engine, glue, s3, ddl_db):
    run(engine, f"CREATE EXTERNAL TABLE {ddl_db}.visits (page string, hits bigint) "
                "PARTITIONED BY (day date, src string) "
                f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://{BUCKET}/visits'", None)
    for key, body in [("visits/day=2024-05-01/src=web/a.csv", b"/home,3\n/about,1\n"),
                      ("visits/day=2024-05-01/src=app/a.csv", b"/home,5\n"),
                      ("visits/day=2024-05-02/src=web/a.csv", b"/home,7\n"),
                      ("visits/day=2024-05-02/src=web/_tmp/ignored.csv", b"/ignored,100\n"),
                      ("elsewhere/v.csv", b"/moved,11\n")]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    run(engine, f"ALTER TABLE {ddl_db}.visits ADD PARTITION (day='2024-05-01', src='web') "
                f"PARTITION (day='2024-05-03', src='web') LOCATION 's3://{BUCKET}/elsewhere/'", None)
    assert run(engine, "SHOW PARTITIONS visits", ddl_db).rows == [["day=2024-05-01/src=web"],
                                                                   ["day=2024-05-03/src=web"]]
    located = glue.get_partition(DatabaseName=ddl_db, TableName="visits", PartitionValues=["2024-05-03", "web"])
    assert located["Partition"]["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/elsewhere/"
    err = error_of(engine, "ALTER TABLE visits ADD PARTITION (day='2024-05-01', src='web')", ddl_db)
    assert err.error_type == "ALREADY_EXISTS"
    run(engine, "ALTER TABLE visits ADD IF NOT EXISTS PARTITION (day='2024-05-01', src='web')", ddl_db)

    run(engine, f"MSCK REPAIR TABLE {ddl_db}.visits", None)
    outcome = run(engine, "SHOW PARTITIONS visits", ddl_db)
    assert (outcome.statement_type, outcome.columns[0].name) == ("UTILITY", "partition")
    assert outcome.rows == [["day=2024-05-01/src=app"], ["day=2024-05-01/src=web"], ["day=2024-05-02/src=web"],
                            ["day=2024-05-03/src=web"]]

    assert run(engine, "SELECT day, src, sum(hits) FROM visits GROUP BY 1, 2 ORDER BY 1, 2", ddl_db).rows == [
        ["2024-05-01", "app", "5"], ["2024-05-01", "web", "4"], ["2024-05-02", "web", "7"],
        ["2024-05-03", "web", "11"]]
    pruned = run(engine, "SELECT sum(hits) FROM visits WHERE day = DATE '2024-05-01' + INTERVAL '1' DAY", ddl_db)
    assert (pruned.rows, pruned.data_scanned_bytes) == ([["7"]], len(b"/home,7\n"))

    run(engine, "ALTER TABLE visits DROP PARTITION (day='2024-05-03', src='web'), PARTITION (src='app')", ddl_db)
    assert run(engine, "SHOW PARTITIONS visits", ddl_db).rows == [["day=2024-05-01/src=web"],
                                                                   ["day=2024-05-02/src=web"]]
    assert error_of(engine, "ALTER TABLE visits DROP PARTITION (src='nope')", ddl_db).error_type == "NOT_FOUND"
    run(engine, "ALTER TABLE visits DROP IF EXISTS PARTITION (src='nope')", ddl_db)
    assert error_of(engine, "ALTER TABLE visits DROP PARTITION (colour='red')", ddl_db).error_type == \
        "COLUMN_NOT_FOUND"


def test_show_and_describe(engine, ddl_db):
    run(engine, f"CREATE EXTERNAL TABLE {ddl_db}.described (id bigint COMMENT 'key', name string) "
                f"PARTITIONED BY (dt string) STORED AS PARQUET LOCATION 's3://{BUCKET}/described/'", None)
    outcome = run(engine, f"DESCRIBE {ddl_db}.described", None)
    assert (outcome.statement_type, [c.name for c in outcome.columns]) == ("UTILITY", ["col_name"])
    assert [row[0] for row in outcome.rows] == [
        "id                  \tbigint              \tkey                 ",
        "name                \tstring              \t                    ",
        "dt                  \tstring              \t                    ",
        "",
        "# Partition Information",
        "# col_name          \tdata_type           \tcomment             ",
        "",
        "dt                  \tstring              \t                    "]
    assert run(engine, "SHOW COLUMNS IN described", ddl_db).rows == [["id"], ["name"], ["dt"]]
    tables = run(engine, f"SHOW TABLES IN {ddl_db}", None)
    assert tables.columns == [ColumnInfo("tab_name", "varchar", 2147483647)]
    assert ["described"] in tables.rows
    assert run(engine, "SHOW TABLES 'desc*|nothing'", ddl_db).rows == [["described"]]
    databases = run(engine, f"SHOW DATABASES LIKE '{DB}*'", None)
    assert (databases.columns[0].name, databases.rows) == ("database_name", [[DB], [ddl_db]])


def test_drop_table_and_database(engine, glue, ddl_db):
    run(engine, f"CREATE EXTERNAL TABLE {ddl_db}.doomed (x int) LOCATION 's3://{BUCKET}/doomed/'", None)
    run(engine, "-- a comment first\nDROP TABLE doomed;", ddl_db)
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName=ddl_db, Name="doomed")
    assert str(error_of(engine, "DROP TABLE doomed", ddl_db)) == \
        f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{ddl_db}.doomed' does not exist"
    run(engine, "DROP TABLE IF EXISTS doomed", ddl_db)

    scratch = f"{DB}_scratch"
    run(engine, f"CREATE DATABASE {scratch}", None)
    run(engine, f"CREATE EXTERNAL TABLE {scratch}.t (x int) LOCATION 's3://{BUCKET}/t/'", None)
    assert error_of(engine, f"DROP DATABASE {scratch}", None).error_type == "SCHEMA_NOT_EMPTY"
    run(engine, f"DROP DATABASE {scratch} CASCADE", None)
    assert [scratch] not in run(engine, "SHOW DATABASES", None).rows
    run(engine, f"DROP SCHEMA IF EXISTS {scratch}", None)


def test_unsupported_statements(engine):
    for sql in ("EXPLAIN SELECT 1", "SHOW CREATE TABLE sales", "DESCRIBE FORMATTED sales"):
        assert error_of(engine, sql).error_type == "NOT_SUPPORTED", sql
