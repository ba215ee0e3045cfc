"""`make verify` / `make restore`: check or restore committed backups from their manifests.

    python -m scripts.backups [--local-port PORT] verify --date D [--dataset NAME] [--deep]
    python -m scripts.backups [--local-port PORT] restore --dataset NAME --date D --target DIR

With --local-port the local AWS stack on that port is used, started (state in .local/aws) when none answers, as
`make run` does. Without it boto3's default chain finds the credentials (and AWS_ENDPOINT_URL, if set).
Bucket, region and dataset names come from the config (datasets.yaml and its BACKUP_* overrides).
verify prints one row per file; restore restores every file it can, then prints one row per file it could not (with
the reason: missing, size, checksum, access or error) and writes <target>/restore-report.json. Both exit 1 on any
mismatch, missing object, file not restored, or date without a committed backup.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from indata_ops.config import BackupConfig, load_config
from indata_ops.restore import format_reports, restore, verify
from scripts.common import s3_client


def dataset_names(config: BackupConfig, name: str | None) -> list[str]:
    """The named dataset (KeyError naming the known ones when it is not configured), or all of them."""
    return [config.dataset(name).name] if name else [d.name for d in config.datasets]


def run(args: argparse.Namespace, config: BackupConfig, s3: Any) -> int:
    bucket = config.settings.bucket
    if args.command == "verify":
        reports = verify(s3, bucket, args.date, dataset_names(config, args.dataset), deep=args.deep)
        how = "downloaded and hashed" if args.deep else "HEAD with checksums, nothing downloaded"
        print(f"verify s3://{bucket} {args.date} ({how})")
        print(format_reports(reports))
        return 0 if all(report.ok for report in reports) else 1
    target = args.target.expanduser().absolute()
    restored = restore(s3, bucket, config.dataset(args.dataset).name, args.date, target)
    print(f"restore s3://{bucket} {args.date} -> {target}")
    print(restored.table())
    return 0 if restored.ok else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-port", type=int, help="use the local AWS stack on this port")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check every object of the manifests against S3")
    check.add_argument("--date", required=True, help="run date, YYYY-MM-DD")
    check.add_argument("--dataset", help="one dataset (default: every configured dataset)")
    check.add_argument("--deep", action="store_true", help="download and hash every object")
    back = commands.add_parser("restore", help="download one dataset's files for a date, verified")
    back.add_argument("--dataset", required=True)
    back.add_argument("--date", required=True, help="run date, YYYY-MM-DD")
    back.add_argument("--target", required=True, type=Path, help="folder to restore into")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config()
        with s3_client(args.local_port, config.settings.region) as s3:
            return run(args, config, s3)
    except (LookupError, ValueError) as error:  # unknown dataset, no backup, bad date or path, bad config
        print(f"error: {error.args[0]}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"AWS error: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
