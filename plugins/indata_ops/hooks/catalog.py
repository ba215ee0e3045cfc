"""Glue side of cataloguing the raw backup: the raw database and one crawler per dataset, created or updated; the
raw table and a date's partition as cataloged; and the full crawl an incremental crawler is paired with."""
from __future__ import annotations

import re
from typing import Any

from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook

NEW_FOLDERS_ONLY = "CRAWL_NEW_FOLDERS_ONLY"
NUMERIC_LADDER = ("tinyint", "smallint", "int", "bigint", "float", "double")


class RawCatalogHook(GlueCrawlerHook):
    """GlueCrawlerHook plus the idempotent set-up a crawl needs (its database and its crawler, current) and the
    reads that tell whether an incremental crawl left the table behind."""

    def ensure_database(self, name: str) -> bool:
        """Create the Glue database when missing; True when it was created."""
        try:
            self.glue_client.create_database(DatabaseInput={"Name": name})
        except self.glue_client.exceptions.AlreadyExistsException:
            return False
        return True

    def upsert_crawler(self, config: dict[str, Any]) -> bool:
        """Create the crawler, or update it when its configuration changed; True when something was written."""
        if self.has_crawler(config["Name"]):
            return self.update_crawler(**config)
        self.create_crawler(**config)
        return True

    def table_or_none(self, database: str, name: str) -> dict[str, Any] | None:
        try:
            return self.glue_client.get_table(DatabaseName=database, Name=name)["Table"]
        except self.glue_client.exceptions.EntityNotFoundException:
            return None

    def partition_or_none(self, database: str, table: str, values: list[str]) -> dict[str, Any] | None:
        try:
            return self.glue_client.get_partition(DatabaseName=database, TableName=table,
                                                  PartitionValues=values)["Partition"]
        except self.glue_client.exceptions.EntityNotFoundException:
            return None


def is_incremental(config: dict[str, Any]) -> bool:
    return (config.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == NEW_FOLDERS_ONLY


def full_crawl_config(config: dict[str, Any]) -> dict[str, Any]:
    """The crawler that crawls an incremental crawler's target whole and updates its table: same target, database
    and role; its own name, so the incremental crawler's record of the folders it has read is left as it is."""
    return {**config, "Name": f"{config['Name']}-full",
            "Description": f"Full crawl of {config['Name']}'s target, on the days a schema may have changed",
            "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
            "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}}


def crawled_table_name(config: dict[str, Any]) -> str:
    """The table a crawler makes of its single S3 target: the folder's name, lowercased, characters outside
    [a-z0-9_] as "_", after the TablePrefix (Glue's rule for a target that holds partition folders)."""
    [target] = config["Targets"]["S3Targets"]
    folder = target["Path"].rstrip("/").rsplit("/", 1)[-1]
    return (config.get("TablePrefix") or "") + re.sub(r"[^a-z0-9_]", "_", folder.lower())


def uncovered_columns(table: dict[str, Any], partition: dict[str, Any]) -> list[str]:
    """The partition's columns the table lacks, or whose type the table's does not hold (a wider number or a
    string holds a narrower number; a partition that lacks a table column needs nothing)."""
    table_types = {c["Name"]: c["Type"] for c in table.get("StorageDescriptor", {}).get("Columns", [])}
    found = []
    for column in partition.get("StorageDescriptor", {}).get("Columns", []):
        name, kind = column["Name"], column["Type"]
        held = table_types.get(name)
        if held is None:
            found.append(f"{name} {kind} (not in the table)")
        elif not _holds(held, kind):
            found.append(f"{name} {kind} (the table has {held})")
    return found


def _holds(table_type: str, partition_type: str) -> bool:
    if table_type in (partition_type, "string"):
        return True
    return (table_type in NUMERIC_LADDER and partition_type in NUMERIC_LADDER
            and NUMERIC_LADDER.index(table_type) >= NUMERIC_LADDER.index(partition_type))
