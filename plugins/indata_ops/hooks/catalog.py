"""Glue side of cataloguing the raw backup: the raw database and one crawler per dataset, created or updated."""
from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook


class RawCatalogHook(GlueCrawlerHook):
    """GlueCrawlerHook plus the idempotent set-up a crawl needs: its database and its crawler, current."""

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
