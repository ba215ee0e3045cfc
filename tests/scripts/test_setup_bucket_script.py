"""scripts.setup_bucket (make setup-bucket) as a user runs it: a subprocess against the local stack's port."""
from __future__ import annotations

import os
import subprocess
import uuid

from scripts.common import module_command, module_environment


def test_setup_bucket_creates_and_secures_the_configured_bucket_twice(stack, aws, tmp_path):
    bucket = f"setup-{uuid.uuid4().hex[:12]}"
    env = module_environment({**os.environ, "BACKUP_BUCKET": bucket, "BACKUP_EXPIRE_AFTER_DAYS": "400"})
    command = module_command("scripts.setup_bucket", "--local-port", str(stack.port))
    for _ in range(2):  # idempotent: the second run changes nothing and does not fail
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"s3://{bucket} is set up:")
    s3 = aws("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["old-dates-raw"]["Expiration"] == {"Days": 400}
