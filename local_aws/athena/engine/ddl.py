"""DDL and utility statements, matched by their leading keywords and applied to the Glue catalog.

Supported statements
    Queries: SELECT / WITH / VALUES. Table references: ``t`` (in the query's database, "default" when
    none is given), ``db.t``, ``"awsdatacatalog"."db"."t"``, quoted or not; the pseudo column ``"$path"``.
    CREATE EXTERNAL TABLE [IF NOT EXISTS] (columns, COMMENT, PARTITIONED BY, ROW FORMAT SERDE ... WITH
    SERDEPROPERTIES, ROW FORMAT DELIMITED ..., STORED AS PARQUET|TEXTFILE|ORC|AVRO or INPUTFORMAT ...
    OUTPUTFORMAT ..., LOCATION, TBLPROPERTIES) - the StorageDescriptor is the one Athena's DDL writes.
    CREATE DATABASE|SCHEMA [IF NOT EXISTS] [COMMENT] [LOCATION] [WITH DBPROPERTIES];
    DROP TABLE [IF EXISTS]; DROP DATABASE|SCHEMA [IF EXISTS] [CASCADE|RESTRICT]; MSCK REPAIR TABLE;
    ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION '...'] [PARTITION ...];
    ALTER TABLE t DROP [IF EXISTS] PARTITION (k='v', ...)[, PARTITION ...] (a partial spec drops every
    partition it matches); SHOW PARTITIONS t; SHOW TABLES [IN db] ['pattern']; SHOW DATABASES|SCHEMAS
    [LIKE 'pattern']; SHOW COLUMNS IN t; DESCRIBE t.
    DDL returns statement type "DDL" and no rows; SHOW / DESCRIBE return "UTILITY" with one varchar
    column each (tab_name, database_name, partition, field, col_name). DESCRIBE rows imitate Hive's
    text output: name, type and comment padded to 20 characters and joined by tabs, followed by a
    "# Partition Information" section for partitioned tables.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from local_aws.athena.engine.catalog import Catalog
from local_aws.athena.engine.create_table import ddl_table_name, describe_lines, glue_table_input, parse_create_table
from local_aws.athena.engine.errors import error
from local_aws.athena.engine.partitions import (
    complete_spec_values,
    partition_path,
    partition_specs,
    partition_values_from_path,
    spec_matches,
    spec_text,
)
from local_aws.athena.engine.results import QueryOutcome, no_rows, varchar_column
from local_aws.athena.engine.s3_cache import ObjectCache, split_table_location
from local_aws.athena.engine.statement_text import (
    NAME,
    QNAME,
    STRING,
    ddl_re,
    filter_names,
    full_match,
    key_values,
    split_qualified,
    unquote,
    unquote_literal,
)
from local_aws.hive import folder

_CREATE_DATABASE = ddl_re(
    rf"CREATE\s+(?:DATABASE|SCHEMA)\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>{NAME})"
    rf"(?:\s+COMMENT\s+(?P<comment>{STRING}))?(?:\s+LOCATION\s+(?P<location>{STRING}))?"
    r"(?:\s+WITH\s+DBPROPERTIES\s*\((?P<props>.*)\))?")
_DROP_DATABASE = ddl_re(rf"DROP\s+(?:DATABASE|SCHEMA)\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{NAME})"
                        r"(?:\s+(?P<mode>CASCADE|RESTRICT))?")
_DROP_TABLE = ddl_re(rf"DROP\s+TABLE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<table>{QNAME})")
_REPAIR_TABLE = ddl_re(rf"MSCK\s+REPAIR\s+TABLE\s+(?P<table>{QNAME})")
_ADD_PARTITIONS = ddl_re(rf"ALTER\s+TABLE\s+(?P<table>{QNAME})\s+ADD\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?"
                         r"(?P<specs>PARTITION\b.*)")
_DROP_PARTITIONS = ddl_re(rf"ALTER\s+TABLE\s+(?P<table>{QNAME})\s+DROP\s+(?P<exists>IF\s+EXISTS\s+)?"
                          r"(?P<specs>PARTITION\b.*)")
_SHOW_PARTITIONS = ddl_re(rf"SHOW\s+PARTITIONS\s+(?P<table>{QNAME})")
_SHOW_TABLES = ddl_re(rf"SHOW\s+TABLES(?:\s+(?:IN|FROM)\s+(?P<db>{NAME}))?(?:\s+(?:LIKE\s+)?(?P<pattern>{STRING}))?")
_SHOW_DATABASES = ddl_re(rf"SHOW\s+(?:DATABASES|SCHEMAS)(?:\s+(?:LIKE\s+)?(?P<pattern>{STRING}))?")
_SHOW_COLUMNS = ddl_re(rf"SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<table>{QNAME})(?:\s+(?:IN|FROM)\s+(?P<db>{NAME}))?")
_DESCRIBE = ddl_re(rf"(?:DESCRIBE|DESC)\s+(?P<table>{QNAME})")


class CatalogStatements:
    """DDL and utility statements (CREATE / DROP / ALTER / MSCK, SHOW / DESCRIBE), applied to the Glue catalog."""

    def __init__(self, glue, catalog: Catalog, objects: ObjectCache):
        self._glue = glue
        self._catalog = catalog
        self._objects = objects
        # (prefix pattern, handler, statement type); a handler gets the comment-free statement text.
        self.routes: list[tuple[re.Pattern, Callable[[str, str], QueryOutcome], str]] = [
            (ddl_re(r"CREATE\s+EXTERNAL\s+TABLE\b"), self._create_table, "DDL"),
            (ddl_re(r"CREATE\s+(?:DATABASE|SCHEMA)\b"), self._create_database, "DDL"),
            (ddl_re(r"DROP\s+TABLE\b"), self._drop_table, "DDL"),
            (ddl_re(r"DROP\s+(?:DATABASE|SCHEMA)\b"), self._drop_database, "DDL"),
            (ddl_re(r"MSCK\s+REPAIR\s+TABLE\b"), self._repair_table, "DDL"),
            (ddl_re(rf"ALTER\s+TABLE\s+{QNAME}\s+ADD\s+(?:IF\s+NOT\s+EXISTS\s+)?PARTITION\b"),
             self._add_partitions, "DDL"),
            (ddl_re(rf"ALTER\s+TABLE\s+{QNAME}\s+DROP\s+(?:IF\s+EXISTS\s+)?PARTITION\b"),
             self._drop_partitions, "DDL"),
            (ddl_re(r"SHOW\s+PARTITIONS\b"), self._show_partitions, "UTILITY"),
            (ddl_re(r"SHOW\s+TABLES\b"), self._show_tables, "UTILITY"),
            (ddl_re(r"SHOW\s+(?:DATABASES|SCHEMAS)\b"), self._show_databases, "UTILITY"),
            (ddl_re(r"SHOW\s+COLUMNS\b"), self._show_columns, "UTILITY"),
            (ddl_re(r"(?:DESCRIBE|DESC)\b"), self._describe, "UTILITY"),
        ]

    def _create_database(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_CREATE_DATABASE, statement, "CREATE DATABASE")
        name = unquote(match["name"])
        database_input: dict = {"Name": name}
        if match["comment"] is not None:
            database_input["Description"] = unquote_literal(match["comment"])
        if match["location"] is not None:
            database_input["LocationUri"] = unquote_literal(match["location"])
        if match["props"] is not None:
            database_input["Parameters"] = key_values(match["props"])
        try:
            self._glue.create_database(DatabaseInput=database_input)
        except self._glue.exceptions.AlreadyExistsException as err:
            if not match["exists"]:
                raise error("SCHEMA_ALREADY_EXISTS", f"Schema '{name}' already exists") from err
        return no_rows()

    def _drop_database(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_DROP_DATABASE, statement, "DROP DATABASE")
        name = unquote(match["name"])
        if not self._catalog.database_exists(name):
            if match["exists"]:
                return no_rows()
            raise error("SCHEMA_NOT_FOUND", f"Schema '{name}' does not exist")
        tables = self._catalog.table_names(name)
        if tables and (match["mode"] or "").upper() != "CASCADE":
            raise error("SCHEMA_NOT_EMPTY", f"Schema '{name}' is not empty: drop its tables or use CASCADE")
        for table in tables:
            self._glue.delete_table(DatabaseName=name, Name=table)
        self._glue.delete_database(Name=name)
        return no_rows()

    def _create_table(self, statement: str, database: str) -> QueryOutcome:
        create = parse_create_table(statement)
        db, name = ddl_table_name(create.this.this, database)
        table_input = glue_table_input(create, name)
        self._catalog.require_database(db)
        try:
            self._glue.create_table(DatabaseName=db, TableInput=table_input)
        except self._glue.exceptions.AlreadyExistsException as err:
            if not create.args.get("exists"):
                raise error("TABLE_ALREADY_EXISTS", f"Table 'awsdatacatalog.{db}.{name}' already exists") from err
        return no_rows()

    def _drop_table(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_DROP_TABLE, statement, "DROP TABLE")
        db, name = split_qualified(match["table"], database)
        try:
            self._glue.delete_table(DatabaseName=db, Name=name)
        except self._glue.exceptions.EntityNotFoundException as err:
            if not match["exists"]:
                self._catalog.require_database(db)
                raise error("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{db}.{name}' does not exist") from err
        return no_rows()

    def _repair_table(self, statement: str, database: str) -> QueryOutcome:
        """MSCK REPAIR TABLE: register every key=value/... folder below the table location that holds data."""
        match = full_match(_REPAIR_TABLE, statement, "MSCK REPAIR TABLE")
        db, name = split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        location = folder(table["StorageDescriptor"]["Location"])
        prefix = split_table_location(location)[1]
        known = {tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)}
        found: dict[tuple[str, ...], str] = {}
        for obj in self._objects.list(location):
            values = partition_values_from_path(obj.key[len(prefix):], keys)
            if values is not None and values not in known:
                found.setdefault(values, location + partition_path(keys, values))
        self._catalog.add_partitions(db, name, table, sorted(found.items()))
        return no_rows()

    def _add_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_ADD_PARTITIONS, statement, "ALTER TABLE ADD PARTITION")
        db, name = split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        location = folder(table["StorageDescriptor"]["Location"])
        known = {tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)}
        new: dict[tuple[str, ...], str] = {}
        for spec, spec_location in partition_specs(match["specs"]):
            values = complete_spec_values(spec, keys)
            if values in known or values in new:
                if match["exists"]:
                    continue
                raise error("ALREADY_EXISTS", f"Partition {partition_path(keys, values)} already exists in "
                                              f"table '{db}.{name}'")
            new[values] = folder(spec_location) if spec_location else location + partition_path(keys, values)
        self._catalog.add_partitions(db, name, table, list(new.items()))
        return no_rows()

    def _drop_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_DROP_PARTITIONS, statement, "ALTER TABLE DROP PARTITION")
        db, name = split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        existing = [tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)]
        doomed: set[tuple[str, ...]] = set()
        for spec, _location in partition_specs(match["specs"]):
            matching = {values for values in existing if spec_matches(spec, keys, values)}
            if not matching and not match["exists"]:
                raise error("NOT_FOUND", f"No partition of table '{db}.{name}' matches {spec_text(spec)}")
            doomed |= matching
        self._catalog.delete_partitions(db, name, sorted(doomed))
        return no_rows()

    # -------------------------------------------------------------------------------------- utility

    def _show_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_SHOW_PARTITIONS, statement, "SHOW PARTITIONS")
        db, name = split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        if not keys:
            raise error("NOT_SUPPORTED", f"Table '{db}.{name}' is not partitioned")
        paths = sorted(partition_path(keys, tuple(p["Values"])).rstrip("/")
                       for p in self._catalog.partitions(db, name))
        return QueryOutcome([varchar_column("partition")], [[path] for path in paths])

    def _show_tables(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_SHOW_TABLES, statement, "SHOW TABLES")
        db = unquote(match["db"]) if match["db"] else database
        self._catalog.require_database(db)
        names = filter_names(self._catalog.table_names(db), match["pattern"])
        return QueryOutcome([varchar_column("tab_name")], [[name] for name in names])

    def _show_databases(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_SHOW_DATABASES, statement, "SHOW DATABASES")
        names = filter_names(self._catalog.database_names(), match["pattern"])
        return QueryOutcome([varchar_column("database_name")], [[name] for name in names])

    def _show_columns(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_SHOW_COLUMNS, statement, "SHOW COLUMNS")
        db, name = split_qualified(match["table"], unquote(match["db"]) if match["db"] else database)
        table = self._catalog.table(db, name)
        columns = table["StorageDescriptor"].get("Columns", []) + table.get("PartitionKeys", [])
        return QueryOutcome([varchar_column("field")], [[column["Name"]] for column in columns])

    def _describe(self, statement: str, database: str) -> QueryOutcome:
        match = full_match(_DESCRIBE, statement, "DESCRIBE")
        db, name = split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        return QueryOutcome([varchar_column("col_name")], [[line] for line in describe_lines(table)])
