"""The session policy that narrows one backup's S3 access to its dataset and run date.

With ``settings.worker_role`` set, the backup task's S3 client does not use the worker's credentials as they are:
it assumes the worker role again with this inline session policy. A session's permissions are the intersection of
the role's policies and the session policy, so the client can write only ``raw/<dataset>/dt=<date>/*`` and that
date's manifest, and read only its own dataset (earlier dates' manifests and raw objects, for snapshots).

What this protects against: the backup code's own mistakes (a wrong date, a wrong prefix, a bug in the transfer).
What it does not: any code holding the worker's base credentials, which every task process does, keeps the role's
full rights. The narrowing binds the backup task's client, not the role, and only when it is asked for.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from indata_ops.layout import manifest_key, raw_prefix

# AWS's limit on the plaintext of an inline session policy (AssumeRole's Policy parameter).
MAX_POLICY_CHARS = 2048
# RoleSessionName: 2-64 characters of [\w+=,.@-].
MAX_SESSION_NAME_CHARS = 64
SESSION_NAME_PREFIX = "indata-backup-"
INVALID_SESSION_NAME_CHARACTERS = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class BackupSessionScope:
    """The role to assume and the one dataset and date its session may write."""

    role_arn: str
    bucket: str
    dataset: str
    run_date: str

    @property
    def partition(self) -> str:
        """aws, aws-cn or aws-us-gov: the partition of the role is the partition of the bucket."""
        parts = self.role_arn.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam":
            raise ValueError(f"worker_role (BACKUP_WORKER_ROLE) must be an IAM role ARN (got {self.role_arn!r})")
        return parts[1]

    def object_arn(self, key: str) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}/{key}"

    @property
    def write_resources(self) -> list[str]:
        return [self.object_arn(f"{raw_prefix(self.dataset, self.run_date)}*"),
                self.object_arn(manifest_key(self.dataset, self.run_date))]

    @property
    def read_resources(self) -> list[str]:
        # Snapshots copy from the previous date's raw objects and read earlier dates' manifests.
        return [self.object_arn(f"raw/{self.dataset}/*"), self.object_arn(f"manifests/{self.dataset}/*")]

    def policy(self) -> str:
        """The session policy as compact JSON, within AWS's 2,048 characters."""
        document = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Bucket", "Effect": "Allow",
             "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
             "Resource": f"arn:{self.partition}:s3:::{self.bucket}"},
            {"Sid": "ReadTheDataset", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": self.read_resources},
            {"Sid": "WriteTheDate", "Effect": "Allow",
             "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
             "Resource": self.write_resources},
            # The intersection with the role's own KMS statement limits this to the bucket's key; without SSE-KMS
            # the role grants no KMS action at all.
            {"Sid": "BucketKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"},
        ]}
        text = json.dumps(document, separators=(",", ":"))
        if len(text) > MAX_POLICY_CHARS:
            raise ValueError(f"The session policy of dataset {self.dataset} in bucket {self.bucket} has {len(text)} "
                             f"characters; AWS takes at most {MAX_POLICY_CHARS}")
        return text

    def session_name(self) -> str:
        """indata-backup-<dataset>-<date>, the dataset's name cut so that the date always fits: CloudTrail then
        names the date of every call."""
        room = MAX_SESSION_NAME_CHARS - len(SESSION_NAME_PREFIX) - len(self.run_date) - 1
        name = f"{SESSION_NAME_PREFIX}{self.dataset[:room]}-{self.run_date}"
        return INVALID_SESSION_NAME_CHARACTERS.sub("-", name)

    def describe(self) -> str:
        return f"{raw_prefix(self.dataset, self.run_date)} and {manifest_key(self.dataset, self.run_date)}"
