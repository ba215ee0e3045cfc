"""The input fingerprint of one dataset's date: what the crawl and the Glue job would read, as one SHA-256.

A date's clean partition is a function of the backed-up files, the job's code, the dataset's contract and the
catalog settings. When none of these changed since the partition was committed, crawling and cleaning it again
would give the same result: the chain skips them (operators/fingerprint.py). The Glue job stores the fingerprint
it was run for in the date's counts.json, written last, so a partition whose job did not finish never matches.

What goes in, and why:

* the manifest's ``files[].(path, size, sha256)``: the content backed up. Not ``version_id``, ``etag`` or
  ``mtime``: a manifest rewritten for unchanged bytes (a new release, a ``full_refresh`` backup, a touched file)
  keeps its fingerprint;
* the SHA-256 of the job script and of the zip of its packages (``package_zip`` gives the same bytes for the
  same sources), so any change of the job's or the contract's code counts;
* the job's arguments as the Glue job gets them, the dataset's contract (``--dataset_config``) included;
* the crawler's config, so a new recrawl or schema policy crawls again;
* ``versions``: the Glue version (Spark's) and the DAG package's version.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Bumped when what goes into the fingerprint changes, so partitions committed under the old rule run again.
FINGERPRINT_VERSION = 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_content(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's files as content only (path, size, sha256), sorted by path."""
    try:
        files = manifest["files"]
        content = [{"path": entry["path"], "size": entry["size"], "sha256": entry["sha256"]} for entry in files]
    except (KeyError, TypeError) as error:
        raise ValueError(f"manifest of {manifest.get('dataset')!r} dt={manifest.get('run_date')!r} lacks "
                         f"files[].path/size/sha256 ({error!r})") from None
    return sorted(content, key=lambda entry: entry["path"])


def input_fingerprint(*, manifest: Mapping[str, Any], script: bytes, packages: bytes,
                      job_arguments: Mapping[str, str], crawler_config: Mapping[str, Any],
                      versions: Mapping[str, str]) -> str:
    """``sha256:<hex>`` of the canonical JSON of the inputs listed in the module's docstring."""
    document = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "files": manifest_content(manifest),
        "script_sha256": sha256_hex(script),
        "packages_sha256": sha256_hex(packages),
        "job_arguments": dict(job_arguments),
        "crawler_config": crawler_config,
        "versions": dict(versions),
    }
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + sha256_hex(canonical.encode("utf-8"))


def short(fingerprint: str) -> str:
    """The first 12 hex digits, enough to tell fingerprints apart in a log line."""
    return fingerprint.removeprefix("sha256:")[:12]

