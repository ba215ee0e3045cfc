"""Hive partitions in DDL: k=v/ folder paths (escaped as Hive escapes them) and PARTITION (k='v', ...) specs.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

from local_aws.athena.engine.errors import error
from local_aws.athena.engine.statement_text import NAME, STRING, ddl_re, unquote, unquote_literal

_PARTITION_SPEC = ddl_re(r"\s*,?\s*PARTITION\s*\((?P<spec>(?:[^()'\"`]|'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`)*)\)"
                         rf"(?:\s*LOCATION\s*(?P<location>{STRING}))?")
_SPEC_ITEM = ddl_re(rf"\s*(?P<key>{NAME})\s*=\s*(?P<value>{STRING}|\"[^\"]*\"|[^,\s]+)\s*(?:,|$)")
# Characters Hive escapes as %XX in partition folder names (FileUtils.escapePathName).
_HIVE_ESCAPED = set('"#%\'*/:=?\\\x7f{[]^')


def _hive_escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 else c for c in value)


def partition_path(keys: list[str], values: tuple[str, ...]) -> str:
    return "".join(f"{key}={_hive_escape(value)}/" for key, value in zip(keys, values))


def partition_values_from_path(relative_key: str, keys: list[str]) -> tuple[str, ...] | None:
    """Values of the k1=v1/k2=v2/ folders an object sits in, or None when its folders don't spell them."""
    folders = relative_key.split("/")[:-1]
    if not keys or len(folders) < len(keys):
        return None
    values = []
    for key, segment in zip(keys, folders):
        name, equals, value = segment.partition("=")
        if not equals or name.lower() != key:
            return None
        values.append(urllib.parse.unquote(value))
    return tuple(values)


def partition_specs(text: str) -> Iterator[tuple[dict[str, str], str | None]]:
    """(spec, location) for each PARTITION (k='v', ...) [LOCATION '...'] in text."""
    position = 0
    while position < len(text.rstrip()):
        match = _PARTITION_SPEC.match(text, position)
        if match is None:
            raise error("SYNTAX_ERROR", f"Cannot parse partition specification: {text[position:][:200]}")
        yield _spec(match["spec"]), unquote_literal(match["location"]) if match["location"] else None
        position = match.end()


def _spec(text: str) -> dict[str, str]:
    spec, position = {}, 0
    while position < len(text.rstrip()):
        match = _SPEC_ITEM.match(text, position)
        if match is None:
            raise error("SYNTAX_ERROR", f"Cannot parse partition specification: ({text})")
        value = match["value"]
        if value[0] == "'":
            value = unquote_literal(value)
        elif value[0] == '"':
            value = value[1:-1]
        spec[unquote(match["key"])] = value
        position = match.end()
    return spec


def spec_text(spec: dict[str, str]) -> str:
    return "(" + ", ".join(f"{key}='{value}'" for key, value in spec.items()) + ")"


def _check_spec_keys(spec: dict[str, str], keys: list[str]) -> None:
    for key in spec:
        if key not in keys:
            raise error("COLUMN_NOT_FOUND", f"Column '{key}' is not a partition column")


def complete_spec_values(spec: dict[str, str], keys: list[str]) -> tuple[str, ...]:
    _check_spec_keys(spec, keys)
    if set(spec) != set(keys):
        raise error("SYNTAX_ERROR", f"Partition specification {spec_text(spec)} must name every partition "
                                    f"column ({', '.join(keys)})")
    return tuple(spec[key] for key in keys)


def spec_matches(spec: dict[str, str], keys: list[str], values: tuple[str, ...]) -> bool:
    _check_spec_keys(spec, keys)
    return all(values[keys.index(key)] == value for key, value in spec.items())
