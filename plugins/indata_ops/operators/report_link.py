"""The "Validation report" button of a validate_clean task: one click from the task in the UI to the date's
validation.html in S3."""
from __future__ import annotations

import urllib.parse
from typing import Any

from airflow.sdk import BaseOperatorLink

# A presigned link outlives a deployment's review of a run for a week, SigV4's longest; it grants a GET of that one
# object. Signed with a role session's credentials, it ends with the session.
PRESIGNED_SECONDS = 7 * 24 * 3600


def report_url(hook: Any, bucket: str, key: str, link_endpoint: str | None = None) -> str:
    """Where a person's browser opens the report, for the S3 hook that wrote it.

    On AWS: the object's page in the S3 console, which the person's own console login authorises (no credential
    in the link). On an S3-compatible endpoint named by the connection (the local stack), which has no console: a
    presigned GET of the object, for ``link_endpoint`` when the browser reaches that endpoint at another address
    than the workers do (docker-compose: the workers' ``local-aws:4566`` is the host's ``127.0.0.1:4566``). A
    private bucket answers an unsigned GET with 403 either way.
    """
    endpoint = hook.conn_config.get_service_endpoint_url("s3")
    region = hook.conn_region_name
    if endpoint:
        client = hook.get_conn()
        if link_endpoint and link_endpoint.rstrip("/") != endpoint.rstrip("/"):
            # SigV4 signs the Host header: a link for another address is signed by a client of that address.
            client = hook.get_session(region_name=region).client("s3", endpoint_url=link_endpoint,
                                                                 config=client.meta.config)
        return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                             ExpiresIn=PRESIGNED_SECONDS)
    query = urllib.parse.urlencode({"region": region, "bucketType": "general", "prefix": key})
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?{query}"


class ValidationReportLink(BaseOperatorLink):
    """Airflow 3 computes a task's extra links on the worker once the task ends (failed included) and keeps them
    as XComs for the UI: the operator sets ``report_url`` when it has written the report."""

    name = "Validation report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return getattr(operator, "report_url", None) or ""
