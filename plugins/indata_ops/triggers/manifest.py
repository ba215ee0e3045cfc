"""Wait in the triggerer until a dataset's date is committed: its manifest exists and is complete."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import ClientError

from indata_ops.hooks.backup import MISSING_CODES
from indata_ops.manifest import manifest_contradiction, manifest_problems


class ManifestCompleteTrigger(BaseTrigger):
    """Reads the manifest every ``poke_interval`` seconds until ``manifest_problems`` finds nothing wrong.

    S3KeyTrigger only sees that the key exists; an upload agent may write the manifest in steps, so existence
    is not a commit. Yields one event: ``{"status": "success", "key": ...}``, or ``"error"`` with the message
    of an S3 error other than "not there yet" (access denied, no such bucket), or with ``"permanent": True``
    when the manifest names another dataset or date. The task's trigger timeout bounds the wait.
    """

    def __init__(self, *, bucket_name: str, bucket_key: str, dataset: str, run_date: str,
                 poke_interval: float = 5.0, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict[str, Any] | None = None):
        super().__init__()
        self.bucket_name = bucket_name
        self.bucket_key = bucket_key
        self.dataset = dataset
        self.run_date = run_date
        self.poke_interval = poke_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "bucket_name": self.bucket_name, "bucket_key": self.bucket_key, "dataset": self.dataset,
            "run_date": self.run_date, "poke_interval": self.poke_interval, "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name, "verify": self.verify, "botocore_config": self.botocore_config})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                      config=self.botocore_config)
        where = f"s3://{self.bucket_name}/{self.bucket_key}"
        async with await hook.get_async_conn() as client:
            while True:
                try:
                    document, not_yet = await self._document(client)
                except ClientError as error:
                    yield TriggerEvent({"status": "error", "key": self.bucket_key,
                                        "message": f"{where} cannot be read: {error}"})
                    return
                if contradiction := manifest_contradiction(document, self.dataset, self.run_date):
                    yield TriggerEvent({"status": "error", "key": self.bucket_key, "permanent": True,
                                        "message": f"{where} is not this date's manifest: {contradiction}"})
                    return
                problems = [not_yet] if not_yet else manifest_problems(document, self.dataset, self.run_date)
                if not problems:
                    yield TriggerEvent({"status": "success", "key": self.bucket_key})
                    return
                self.log.info("%s is not a complete manifest yet: %s", where, "; ".join(problems))
                await asyncio.sleep(self.poke_interval)

    async def _document(self, client: Any) -> tuple[Any, str | None]:
        """The parsed manifest, or None and why there is none yet."""
        try:
            response = await client.get_object(Bucket=self.bucket_name, Key=self.bucket_key)
            return json.loads(await response["Body"].read()), None
        except ClientError as error:
            if error.response["Error"]["Code"] in MISSING_CODES:
                return None, "not there"
            raise
        except ValueError:
            return None, "not JSON (still being written?)"
