"""Crawl a dataset's raw backup: the provider's crawler run, preceded by making its database and crawler current,
and followed by a full crawl on the days an incremental crawl cannot bring a schema change to the table."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, cast

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator
from airflow.providers.amazon.aws.triggers.glue_crawler import GlueCrawlerCompleteTrigger
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import ClientError, WaiterError

from indata_ops.hooks.catalog import (
    RawCatalogHook,
    crawled_table_name,
    full_crawl_config,
    is_incremental,
    uncovered_columns,
)
from indata_ops.layout import manifest_key, raw_prefix
from indata_ops.operators.deferral import BoundedDeferralMixin
from indata_ops.run_date import RUN_DATE_TEMPLATE, checked_run_date

# S3 gives LastModified to the second: a manifest written in the second a partition was cataloged counts as later.
CLOCK_SLACK = timedelta(seconds=1)


class CrawlRawOperator(BoundedDeferralMixin, GlueCrawlerRunOperator):
    """GlueCrawlerRunOperator that first creates or updates its crawler (and database) from ``config``.

    A crawl already running (another run date of the same dataset) is waited for, not failed on: the crawler
    catalogs the whole raw/<dataset>/ prefix, so its result covers this date too. A failed crawl fails the task
    with the crawler's own error message (the provider's waiter only says that a failure state was reached).
    ``deferrable=True`` hands the wait to the triggerer.

    With ``RecrawlPolicy: CRAWL_NEW_FOLDERS_ONLY`` (LOG/LOG, as AWS requires) the crawl reads only the folders
    added since the crawler's last crawl, so its cost does not grow with the dates backed up; but it never changes
    the table, and never reads a date again. So on the days that need it the task then runs the crawler's full
    twin ``<name>-full`` (CRAWL_EVERYTHING, UPDATE_IN_DATABASE/LOG, see ``full_crawl_config``), whose cost does:

    - the run date's partition has columns the table lacks or types it does not hold (a schema change), or the
      crawl added no partition for a date that has files (another format), or the table is missing;
    - the date was cataloged before and its manifest was written after that (a rerun that sent new files: the
      incremental crawl will not read ``dt=<run date>/`` again; also another date's crawl that listed the folder
      while this date's backup was writing), judged by when a crawl last listed the folder (``_cataloged_at``);
    - ``full_refresh``.

    The last two are known before the crawl, and the full crawl then replaces the incremental one, which would
    find nothing new to read (a date it skips is read by the dataset's next incremental crawl, at the cost of one
    folder).

    :param config: the crawler, as CreateCrawler takes it (one S3 target, ``s3://<bucket>/raw/<dataset>/``)
    :param run_date: the date whose partition is checked (templated)
    :param full_refresh: always run the full crawl ("True"/"False" once rendered; templated)
    """

    aws_hook_class = RawCatalogHook
    template_fields: Sequence[str] = (*GlueCrawlerRunOperator.template_fields, "config", "run_date", "full_refresh")
    template_fields_renderers = {"config": "json"}

    def __init__(self, *, config: dict[str, Any], run_date: str = RUN_DATE_TEMPLATE,
                 full_refresh: bool | str = "{{ params.full_refresh }}", **kwargs: Any):
        kwargs.setdefault("fail_on_already_running", False)
        super().__init__(crawler_name=config["Name"], **kwargs)
        self.config = config
        self.run_date = run_date
        self.full_refresh = full_refresh

    @property
    def catalog(self) -> RawCatalogHook:
        return cast(RawCatalogHook, self.hook)  # aws_hook_class; the base class types it as GlueCrawlerHook

    @cached_property
    def s3(self) -> S3Hook:
        return S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                      config=self.botocore_config)

    def execute(self, context: Any) -> str:
        if self.catalog.ensure_database(self.config["DatabaseName"]):
            self.log.info("Created Glue database %s", self.config["DatabaseName"])
        if self.catalog.upsert_crawler(self.config):
            self.log.info("Crawler %s created or updated", self.config["Name"])
        if not is_incremental(self.config):
            return self._crawl(context)
        reason = self._reason_to_crawl_everything_first()
        if reason:
            return self._crawl_everything(reason)
        self._crawl(context)  # a deferred crawl goes on in execute_complete
        return self._after_incremental_crawl()

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        if not event or event.get("status") != "success":
            raise self._crawl_failed(self.crawler_name, (event or {}).get("message", event))
        return self._after_incremental_crawl() if is_incremental(self.config) else self.crawler_name

    def full_crawl_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        if not event or event.get("status") != "success":
            raise self._crawl_failed(self._full_config["Name"], (event or {}).get("message", event))
        return self.crawler_name

    def _crawl(self, context: Any) -> str:
        try:
            return super().execute(context)
        except WaiterError as error:  # the polling path
            raise self._crawl_failed(self.crawler_name, error) from None

    def _after_incremental_crawl(self) -> str:
        reason = self._reason_to_crawl_everything_after()
        if reason:
            return self._crawl_everything(reason)
        return self.crawler_name

    # --- the full crawl ---------------------------------------------------------------------------------------
    @cached_property
    def _full_config(self) -> dict[str, Any]:
        return full_crawl_config(self.config)

    def _crawl_everything(self, reason: str) -> str:
        name = self._full_config["Name"]
        self.log.info("Full crawl %s (reads every date, updates table %s): %s", name, self._table_name, reason)
        self.catalog.upsert_crawler(self._full_config)
        try:
            self.catalog.start_crawler(name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "CrawlerRunningException":
                raise
            self.log.info("Crawler %s is already running: waiting for that crawl", name)
        if self.deferrable:
            self.defer(trigger=GlueCrawlerCompleteTrigger(
                crawler_name=name, waiter_delay=self.poll_interval, aws_conn_id=self.aws_conn_id,
                region_name=self.region_name, verify=self.verify, botocore_config=self.botocore_config),
                method_name="full_crawl_complete")
        try:
            self.catalog.wait_for_crawler_completion(crawler_name=name, poll_interval=self.poll_interval)
        except WaiterError as error:
            raise self._crawl_failed(name, error) from None
        return self.crawler_name

    # --- when the incremental crawl is not enough -------------------------------------------------------------
    @cached_property
    def _table_name(self) -> str:
        return crawled_table_name(self.config)

    @cached_property
    def _date(self) -> str:
        return checked_run_date(self.run_date)

    @cached_property
    def _raw_location(self) -> tuple[str, str]:
        """(bucket, dataset) of the crawler's target, s3://<bucket>/raw/<dataset>/."""
        path = self.config["Targets"]["S3Targets"][0]["Path"]
        bucket, _, prefix = path.removeprefix("s3://").partition("/")
        parts = prefix.strip("/").split("/")
        if len(self.config["Targets"]["S3Targets"]) != 1 or len(parts) != 2 or parts[0] != "raw":
            raise AirflowFailException(f"Crawler {self.crawler_name}: an incremental raw crawler needs one S3 "
                                       f"target s3://<bucket>/raw/<dataset>/, got {path}")
        return bucket, parts[1]

    def _partition(self) -> dict[str, Any] | None:
        return self.catalog.partition_or_none(self.config["DatabaseName"], self._table_name, [self._date])

    def _reason_to_crawl_everything_first(self) -> str | None:
        if str(self.full_refresh).lower() == "true":
            return "full_refresh"
        partition = self._partition()
        if partition is None:
            return None
        bucket, dataset = self._raw_location
        manifest = self.s3.head_object(manifest_key(dataset, self._date), bucket)
        if manifest is None:
            return None  # the wait before this task saw it; nothing says that dt=<date> changed
        cataloged = self._cataloged_at(partition)
        if manifest["LastModified"] + CLOCK_SLACK < cataloged:
            return None
        return (f"dt={self._date} was cataloged at {cataloged:%Y-%m-%d %H:%M:%S} and its manifest written at "
                f"{manifest['LastModified']:%Y-%m-%d %H:%M:%S}: its files may have changed, and an incremental crawl "
                "does not read a folder again")

    def _cataloged_at(self, partition: dict[str, Any]) -> datetime:
        """When the files of the partition's folder were last listed by a crawl that read them.

        A partition made by the incremental crawler's last crawl dates from that crawl's start: files written
        after its LIST (another date's crawl that ran while this date's backup was writing) were not read. A full
        crawl that succeeded later read the folder again.
        """
        cataloged = partition["CreationTime"]
        last = self.catalog.get_crawler(self.crawler_name).get("LastCrawl") or {}
        if last.get("StartTime") and last["StartTime"] <= cataloged:
            cataloged = last["StartTime"]
        full_name = self._full_config["Name"]
        full = (self.catalog.get_crawler(full_name).get("LastCrawl") or {}) if self.catalog.has_crawler(full_name) \
            else {}
        if full.get("Status") == "SUCCEEDED":
            cataloged = max(cataloged, full["StartTime"])
        return cataloged

    def _reason_to_crawl_everything_after(self) -> str | None:
        table = self.catalog.table_or_none(self.config["DatabaseName"], self._table_name)
        if table is None:
            return f"table {self._table_name} is not in the catalog (an incremental crawl creates no table)"
        partition = self._partition()
        if partition is None:
            bucket, dataset = self._raw_location
            if not self.s3.list_keys(bucket, prefix=raw_prefix(dataset, self._date), max_items=1):
                return None  # a date without files has no partition to catalog
            return (f"dt={self._date} has files but the incremental crawl added no partition for it (a format "
                    "or layout the table does not have; the crawler's log says which)")
        uncovered = uncovered_columns(table, partition)
        if uncovered:
            return f"dt={self._date} has columns table {self._table_name} does not hold: {', '.join(uncovered)}"
        return None

    def _crawl_failed(self, name: str, cause: Any) -> AirflowException:
        last = self.catalog.get_crawler(name).get("LastCrawl") or {}
        return AirflowException(f"Glue crawler {name}: last crawl {last.get('Status', 'unknown')}: "
                                f"{last.get('ErrorMessage') or cause}")
