"""Which objects a crawl reads and how they group into tables: S3 targets, exclusion globs, table boundaries."""
from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from local_aws.glue.crawler.model import CrawlError, S3Object, TableData
from local_aws.hive import is_hidden, split_s3_folder

HIVE_FOLDER = re.compile(r"([^=]+)=(.*)")



def discover_tables(s3, crawler: dict[str, Any]) -> list[TableData]:
    tables: dict[str, TableData] = {}
    for target in (crawler.get("Targets") or {}).get("S3Targets", []):
        bucket, prefix = _parse_s3_path(target["Path"])
        patterns = [glob_to_regex(p) for p in target.get("Exclusions", [])]
        objects = _list_objects(s3, bucket, prefix, patterns)
        for table in _split_tables(bucket, prefix, objects):
            # Overlapping targets must not register the same folder twice.
            tables.setdefault(table.location, table)
    return [tables[location] for location in sorted(tables)]


def _parse_s3_path(path: str) -> tuple[str, str]:
    try:
        return split_s3_folder(path)
    except ValueError:
        raise CrawlError(f"Invalid S3 path {path}") from None


def _list_objects(s3, bucket: str, prefix: str, patterns: list[re.Pattern]) -> list[S3Object]:
    found = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if _is_data_object(rel, obj["Size"]) and not is_excluded(rel, patterns):
                    found.append(S3Object(obj["Key"], obj["Size"]))
    except ClientError as err:
        raise CrawlError(f"Cannot list s3://{bucket}/{prefix}: {err.response['Error']['Code']}") from err
    return found


def _is_data_object(rel: str, size: int) -> bool:
    if size == 0 or rel.endswith("/") or rel.endswith("_$folder$"):
        return False
    return not is_hidden(rel)


def is_excluded(rel: str, patterns: list[re.Pattern]) -> bool:
    """True when a pattern matches the object or one of its folders (relative to the include path)."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(p.fullmatch(c) for p in patterns for c in candidates)


def glob_to_regex(pattern: str) -> re.Pattern:
    out: list[str] = []
    in_group = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        end = _bracket_end(pattern, i) if char == "[" else -1
        if end != -1:
            out.append(_bracket_to_regex(pattern[i + 1:end]))
            i = end + 1
            continue
        if char == "{" and not in_group:
            in_group = True
            out.append("(?:")
        elif char == "}" and in_group:
            in_group = False
            out.append(")")
        elif char == "," and in_group:
            out.append("|")
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char) or re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _bracket_end(pattern: str, start: int) -> int:
    """Index of the "]" closing the bracket at start, or -1 (then "[" is literal)."""
    first = start + 1 + pattern.startswith("!", start + 1)
    # A "]" right after "[" or "[!" is a member, not the end.
    return pattern.find("]", first + pattern.startswith("]", first))


def _bracket_to_regex(body: str) -> str:
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    # Inside brackets *, ? and \ are literal; only "-" keeps its range meaning.
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    return f"[^/{escaped}]" if negate else f"[{escaped}]"


def _split_tables(bucket: str, prefix: str, objects: list[S3Object]) -> list[TableData]:
    if not objects:
        return []
    first_parts = [obj.key[len(prefix):].split("/", 1) for obj in objects]
    if any(len(parts) == 1 or HIVE_FOLDER.fullmatch(parts[0]) for parts in first_parts):
        segments = prefix.rstrip("/").split("/")
        return [TableData(segments[-1] if prefix else bucket, bucket, prefix, objects)]
    groups: dict[str, list[S3Object]] = {}
    for parts, obj in zip(first_parts, objects):
        groups.setdefault(parts[0], []).append(obj)
    return [TableData(folder, bucket, f"{prefix}{folder}/", objs) for folder, objs in groups.items()]


def sanitize_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())
