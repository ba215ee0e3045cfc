"""CREATE EXTERNAL TABLE to a Glue TableInput, with the StorageDescriptor Athena's DDL writes; DESCRIBE's lines.
"""
from __future__ import annotations

import re

import sqlglot
import sqlglot.errors
from sqlglot import exp

from local_aws.athena.engine.errors import error
from local_aws.hive import (
    AVRO_INPUT,
    AVRO_OUTPUT,
    AVRO_SERDE,
    LAZY_SIMPLE_SERDE,
    ORC_INPUT,
    ORC_OUTPUT,
    ORC_SERDE,
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    TEXT_INPUT,
    TEXT_OUTPUT,
)

# STORED AS <format> -> (InputFormat, OutputFormat, SerDe), as Athena's DDL records them.
_STORED_AS = {
    "TEXTFILE": (TEXT_INPUT, TEXT_OUTPUT, LAZY_SIMPLE_SERDE),
    "PARQUET": (PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE),
    "ORC": (ORC_INPUT, ORC_OUTPUT, ORC_SERDE),
    "AVRO": (AVRO_INPUT, AVRO_OUTPUT, AVRO_SERDE),
}
# ROW FORMAT DELIMITED clause -> LazySimpleSerDe parameter.
_DELIMITED_PARAMETERS = {"fields": "field.delim", "escaped": "escape.delim", "collection_items": "collection.delim",
                         "map_keys": "mapkey.delim", "lines": "line.delim", "null": "serialization.null.format"}


def parse_create_table(statement: str) -> exp.Create:
    # sqlglot's Hive dialect parses Athena's CREATE EXTERNAL TABLE (Athena runs its DDL on Hive).
    try:
        create = sqlglot.parse_one(statement, read="hive")
    except sqlglot.errors.SqlglotError as err:
        raise error("SYNTAX_ERROR", f"Cannot parse CREATE EXTERNAL TABLE: {err}") from err
    if not isinstance(create, exp.Create) or not isinstance(create.this, exp.Schema):
        raise error("NOT_SUPPORTED", "CREATE EXTERNAL TABLE needs a column list")
    if create.expression is not None:
        raise error("NOT_SUPPORTED", "CREATE TABLE AS SELECT is not supported by the local Athena engine")
    return create


def ddl_table_name(table: exp.Table, database: str) -> tuple[str, str]:
    if table.catalog and table.catalog.lower() != "awsdatacatalog":
        raise error("CATALOG_NOT_FOUND", f"Catalog '{table.catalog}' does not exist")
    return (table.db or database).lower(), table.name.lower()


def glue_table_input(create: exp.Create, name: str) -> dict:
    properties = create.args["properties"].expressions if create.args.get("properties") else []
    storage = _storage_descriptor(properties)
    storage["Columns"] = [_glue_column(column) for column in create.this.expressions]
    table_input = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": storage,
        "PartitionKeys": [],
        "Parameters": {"EXTERNAL": "TRUE"},
    }
    for prop in properties:
        if isinstance(prop, exp.PartitionedByProperty):
            table_input["PartitionKeys"] = [_glue_column(column) for column in prop.this.expressions]
        elif isinstance(prop, exp.SchemaCommentProperty):
            table_input["Description"] = prop.this.name
        elif type(prop) is exp.Property:  # TBLPROPERTIES entries; subclasses are the clauses handled above
            table_input["Parameters"][prop.name] = prop.args["value"].name
    return table_input


def _storage_descriptor(properties: list[exp.Expression]) -> dict:
    input_format, output_format, serde = _STORED_AS["TEXTFILE"]
    serde_parameters = {"serialization.format": "1"}
    explicit_serde = False
    location = None
    for prop in properties:
        if isinstance(prop, exp.RowFormatSerdeProperty):
            serde, explicit_serde = prop.this.name, True
            serde_parameters = {"serialization.format": "1"}
            if prop.args.get("serde_properties"):
                entries = prop.args["serde_properties"].expressions
                serde_parameters.update({entry.name: entry.args["value"].name for entry in entries})
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            serde, explicit_serde = LAZY_SIMPLE_SERDE, True
            serde_parameters = {_DELIMITED_PARAMETERS[arg]: value.name for arg, value in prop.args.items()
                                if arg in _DELIMITED_PARAMETERS and value is not None}
            if "field.delim" in serde_parameters:
                serde_parameters["serialization.format"] = serde_parameters["field.delim"]
        elif isinstance(prop, exp.FileFormatProperty):
            input_format, output_format, stored_serde = _file_format(prop)
            if stored_serde and not explicit_serde:
                serde = stored_serde
        elif isinstance(prop, exp.LocationProperty):
            location = prop.this.name
    storage = {
        "InputFormat": input_format,
        "OutputFormat": output_format,
        "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_parameters},
        "Compressed": False,
        "NumberOfBuckets": -1,
    }
    if location:
        storage["Location"] = location
    return storage


def _file_format(prop: exp.FileFormatProperty) -> tuple[str, str, str | None]:
    if isinstance(prop.this, exp.InputOutputFormat):
        return prop.this.args["input_format"].name, prop.this.args["output_format"].name, None
    stored_as = prop.name.upper()
    if stored_as not in _STORED_AS:
        raise error("NOT_SUPPORTED", f"STORED AS {stored_as} is not supported by the local Athena engine")
    return _STORED_AS[stored_as]


def _glue_column(column: exp.ColumnDef) -> dict:
    glue_column = {"Name": column.name.lower(), "Type": re.sub(r"\s+", "", column.args["kind"].sql("hive")).lower()}
    for constraint in column.args.get("constraints") or []:
        if isinstance(constraint.args.get("kind"), exp.CommentColumnConstraint):
            glue_column["Comment"] = constraint.args["kind"].name
    return glue_column


def describe_lines(table: dict) -> list[str]:
    def line(*fields: str) -> str:
        return "\t".join(f"{field:<20}" for field in fields)

    def column_line(column: dict) -> str:
        return line(column["Name"], column["Type"], column.get("Comment", ""))

    keys = table.get("PartitionKeys", [])
    lines = [column_line(column) for column in table["StorageDescriptor"].get("Columns", []) + keys]
    if keys:
        lines += ["", "# Partition Information", line("# col_name", "data_type", "comment"), ""]
        lines += [column_line(key) for key in keys]
    return lines
