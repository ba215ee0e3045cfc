"""Crawl a dataset's raw backup: the provider's crawler run, preceded by making its database and crawler current."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator
from airflow.sdk.exceptions import AirflowException
from botocore.exceptions import WaiterError

from indata_ops.hooks.catalog import RawCatalogHook
from indata_ops.operators.deferral import BoundedDeferralMixin


class CrawlRawOperator(BoundedDeferralMixin, GlueCrawlerRunOperator):
    """GlueCrawlerRunOperator that first creates or updates its crawler (and database) from ``config``.

    A crawl already running (another run date of the same dataset) is waited for, not failed on: the crawler
    catalogs the whole raw/<dataset>/ prefix, so its result covers this date too. A failed crawl fails the task
    with the crawler's own error message (the provider's waiter only says that a failure state was reached).
    ``deferrable=True`` hands the wait to the triggerer.
    """

    aws_hook_class = RawCatalogHook
    template_fields: Sequence[str] = (*GlueCrawlerRunOperator.template_fields, "config")
    template_fields_renderers = {"config": "json"}

    def __init__(self, *, config: dict[str, Any], **kwargs: Any):
        kwargs.setdefault("fail_on_already_running", False)
        super().__init__(crawler_name=config["Name"], **kwargs)
        self.config = config

    def execute(self, context: Any) -> str:
        catalog = cast(RawCatalogHook, self.hook)  # aws_hook_class; the base class types it as GlueCrawlerHook
        if catalog.ensure_database(self.config["DatabaseName"]):
            self.log.info("Created Glue database %s", self.config["DatabaseName"])
        if catalog.upsert_crawler(self.config):
            self.log.info("Crawler %s created or updated", self.config["Name"])
        try:
            return super().execute(context)
        except WaiterError as error:  # the polling path
            raise self._crawl_failed(error) from None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        if not event or event.get("status") != "success":
            raise self._crawl_failed((event or {}).get("message", event))
        return self.crawler_name

    def _crawl_failed(self, cause: Any) -> AirflowException:
        last = self.hook.get_crawler(self.crawler_name).get("LastCrawl") or {}
        return AirflowException(f"Glue crawler {self.crawler_name}: last crawl {last.get('Status', 'unknown')}: "
                                f"{last.get('ErrorMessage') or cause}")
