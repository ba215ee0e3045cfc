"""Crawl a dataset's raw backup: the provider's crawler run, preceded by making its database and crawler current."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator

from indata_ops.hooks.catalog import RawCatalogHook


class CrawlRawOperator(GlueCrawlerRunOperator):
    """GlueCrawlerRunOperator that first creates or updates its crawler (and database) from ``config``.

    A crawl already running (another run date of the same dataset) is waited for, not failed on: the crawler
    catalogs the whole raw/<dataset>/ prefix, so its result covers this date too.
    """

    aws_hook_class = RawCatalogHook
    template_fields: Sequence[str] = (*GlueCrawlerRunOperator.template_fields, "config")
    template_fields_renderers = {"config": "json"}

    def __init__(self, *, config: dict[str, Any], **kwargs: Any):
        kwargs.setdefault("fail_on_already_running", False)
        super().__init__(crawler_name=config["Name"], **kwargs)
        self.config = config

    def execute(self, context: Any) -> str:
        if self.hook.ensure_database(self.config["DatabaseName"]):
            self.log.info("Created Glue database %s", self.config["DatabaseName"])
        if self.hook.upsert_crawler(self.config):
            self.log.info("Crawler %s created or updated", self.config["Name"])
        return super().execute(context)
