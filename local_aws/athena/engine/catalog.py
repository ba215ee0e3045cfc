"""The Glue Data Catalog calls the engine needs, with Athena's errors for missing databases and tables.
"""
from __future__ import annotations

from local_aws.athena.engine.errors import error
from local_aws.hive import PARTITION_CREATE_BATCH, PARTITION_DELETE_BATCH, chunks


class Catalog:
    """The Glue calls the engine needs, with Athena's errors for missing databases and tables."""

    def __init__(self, glue):
        self._glue = glue

    def table(self, db: str, name: str, position: tuple[int, int] | None = None) -> dict:
        try:
            return self._glue.get_table(DatabaseName=db, Name=name)["Table"]
        except self._glue.exceptions.EntityNotFoundException as err:
            self.require_database(db, position)
            raise error("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{db}.{name}' does not exist", position) from err

    def database_exists(self, db: str) -> bool:
        try:
            self._glue.get_database(Name=db)
        except self._glue.exceptions.EntityNotFoundException:
            return False
        return True

    def require_database(self, db: str, position: tuple[int, int] | None = None) -> None:
        if not self.database_exists(db):
            raise error("SCHEMA_NOT_FOUND", f"Schema '{db}' does not exist", position)

    def database_names(self) -> list[str]:
        pages = self._glue.get_paginator("get_databases").paginate()
        return [database["Name"] for page in pages for database in page["DatabaseList"]]

    def table_names(self, db: str) -> list[str]:
        pages = self._glue.get_paginator("get_tables").paginate(DatabaseName=db)
        return [table["Name"] for page in pages for table in page["TableList"]]

    def partitions(self, db: str, name: str) -> list[dict]:
        pages = self._glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=name)
        return [partition for page in pages for partition in page["Partitions"]]

    def add_partitions(self, db: str, name: str, table: dict, partitions: list[tuple[tuple[str, ...], str]]) -> None:
        """Registers (values, location) pairs; each partition gets the table's storage with its own location."""
        inputs = [{"Values": list(values), "StorageDescriptor": {**table["StorageDescriptor"], "Location": location}}
                  for values, location in partitions]
        for chunk in chunks(inputs, PARTITION_CREATE_BATCH):
            response = self._glue.batch_create_partition(DatabaseName=db, TableName=name, PartitionInputList=chunk)
            _raise_batch_errors(response)

    def delete_partitions(self, db: str, name: str, partitions: list[tuple[str, ...]]) -> None:
        for chunk in chunks([{"Values": list(values)} for values in partitions], PARTITION_DELETE_BATCH):
            response = self._glue.batch_delete_partition(DatabaseName=db, TableName=name, PartitionsToDelete=chunk)
            _raise_batch_errors(response)


def _raise_batch_errors(response: dict) -> None:
    if response.get("Errors"):
        first = response["Errors"][0]
        raise error("GENERIC_INTERNAL_ERROR", f"Partition {first['PartitionValues']}: "
                                              f"{first['ErrorDetail'].get('ErrorMessage', '')}")
