"""Wait for a dataset's date to be committed: its manifest exists and is complete."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from botocore.exceptions import ClientError

from indata_ops.hooks.backup import MISSING_CODES
from indata_ops.manifest import manifest_problems


class ManifestSensor(S3KeySensor):
    """S3KeySensor on the manifest key that succeeds only once the manifest is complete (indata_ops.manifest).

    An upload agent may write the manifest in several steps, or a broken writer leave half of it: the chain must
    not crawl a date whose file list is cut short. Polls only (no deferral): the trigger cannot read the manifest.

    :param dataset: the dataset the manifest must name
    :param run_date: the date it must name, YYYY-MM-DD (templated)
    """

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "run_date")

    def __init__(self, *, dataset: str, run_date: str, **kwargs: Any):
        super().__init__(deferrable=False, **kwargs)
        self.dataset = dataset
        self.run_date = run_date

    def poke(self, context: Any) -> bool:
        if not super().poke(context):
            return False
        problems = manifest_problems(self._document(), self.dataset, self.run_date)
        if problems:
            self.log.info("s3://%s/%s is not a complete manifest yet: %s", self.bucket_name, self.bucket_key,
                          "; ".join(problems))
        return not problems

    def _document(self) -> Any:
        """The parsed manifest; None when it vanished since the poke (a rerun deleting it) or is not JSON."""
        try:
            body = self.hook.read_key(key=self.bucket_key, bucket_name=self.bucket_name)
        except ClientError as error:
            if error.response["Error"]["Code"] in MISSING_CODES:
                return None
            raise
        try:
            return json.loads(body)
        except ValueError:
            return None
