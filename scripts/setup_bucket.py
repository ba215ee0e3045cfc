"""`make setup-bucket`: make the backup bucket safe, from the config (idempotent; run it on every deploy).

    python -m scripts.setup_bucket [--local-port PORT]

Creates the bucket when missing; enables versioning; blocks public access; sets default encryption (settings.sse:
SSE-S3, or SSE-KMS with sse_kms_key_id and sse_bucket_key); sets lifecycle rules (abort unfinished multipart
uploads after abort_multipart_days; optionally transition and expire old dates of raw/ and manifests/). Prints
what the bucket has afterwards. With --local-port the local AWS stack on that port is used (started when none
answers, as `make run` does); without it boto3's default chain decides, as for real AWS.
"""
from __future__ import annotations

import argparse
import json
import sys

from indata_ops.bucket import apply_bucket_settings, bucket_settings
from indata_ops.config import load_config
from scripts.common import s3_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-port", type=int, help="use the local AWS stack on this port")
    args = parser.parse_args(argv)
    settings = load_config().settings
    with s3_client(args.local_port, settings.region) as s3:
        apply_bucket_settings(s3, settings.bucket, settings)
        print(f"s3://{settings.bucket} is set up:")
        print(json.dumps(bucket_settings(s3, settings.bucket), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
