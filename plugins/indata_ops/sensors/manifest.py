"""Wait for a dataset's date to be committed: its manifest exists and is complete."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import AirflowException
from botocore.exceptions import ClientError

from indata_ops.errors import PermanentError
from indata_ops.hooks.backup import MISSING_CODES
from indata_ops.manifest import manifest_contradiction, manifest_problems
from indata_ops.triggers.manifest import ManifestCompleteTrigger


class ManifestSensor(S3KeySensor):
    """S3KeySensor on the manifest key that succeeds only once the manifest is complete (indata_ops.manifest).

    An upload agent may write the manifest in several steps, or a broken writer leave half of it: the chain must
    not crawl a date whose file list is cut short. It looks once; when the manifest is not complete yet it
    polls (``deferrable=False``) or hands the wait to the triggerer (ManifestCompleteTrigger, which reads the
    manifest as ``poke`` does) for at most ``timeout`` seconds either way. A manifest that names another dataset
    or date fails the wait at once (PermanentError): its writer will not turn it into this date's commit.

    :param dataset: the dataset the manifest must name
    :param run_date: the date it must name, YYYY-MM-DD (templated)
    """

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "run_date")

    def __init__(self, *, dataset: str, run_date: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.run_date = run_date

    def execute(self, context: Any) -> None:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # the usual case here: the backup task has just committed it
            return None
        # S3KeySensor types its key as one or several and its bucket as optional; this sensor watches one manifest
        # key and the DAG gives it the bucket.
        self.defer(trigger=ManifestCompleteTrigger(
            bucket_name=self.bucket_name, bucket_key=self.bucket_key,  # type: ignore[arg-type]
            dataset=self.dataset, run_date=self.run_date,
            poke_interval=self.poke_interval, aws_conn_id=self.aws_conn_id, region_name=self.region_name,
            verify=self.verify, botocore_config=self.botocore_config),
            method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if not event or event.get("status") != "success":
            message = (event or {}).get("message") or f"Manifest wait ended without success: {event}"
            raise PermanentError(message) if (event or {}).get("permanent") else AirflowException(message)
        self.log.info("s3://%s/%s is a complete manifest", self.bucket_name, self.bucket_key)

    def poke(self, context: Any) -> bool:
        if not super().poke(context):
            return False
        document = self._document()
        if contradiction := manifest_contradiction(document, self.dataset, self.run_date):
            raise PermanentError(f"s3://{self.bucket_name}/{self.bucket_key} is not this date's manifest: "
                                 f"{contradiction}")
        problems = manifest_problems(document, self.dataset, self.run_date)
        if problems:
            self.log.info("s3://%s/%s is not a complete manifest yet: %s", self.bucket_name, self.bucket_key,
                          "; ".join(problems))
        return not problems

    def _document(self) -> Any:
        """The parsed manifest; None when it vanished since the poke (a rerun deleting it) or is not JSON."""
        try:
            # the poke's client, not read_key's boto3 resource (a new session per hook, about 0.1 s)
            body = self.hook.get_conn().get_object(Bucket=self.bucket_name, Key=self.bucket_key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in MISSING_CODES:
                return None
            raise
        try:
            return json.loads(body)
        except ValueError:
            return None
