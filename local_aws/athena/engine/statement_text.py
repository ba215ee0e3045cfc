"""The text of DDL and utility statements: names, literals, comments and the patterns they are matched with.
"""
from __future__ import annotations

import re

from local_aws.athena.engine.errors import error

NAME = r'(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_]+)'
QNAME = rf"{NAME}(?:\s*\.\s*{NAME}){{0,2}}"
STRING = r"'(?:[^']|'')*'"
QUERY_START = re.compile(r"\s*(?:\(|SELECT\b|WITH\b|VALUES\b)", re.I)
KNOWN_UNSUPPORTED = {"INSERT", "UNLOAD", "EXPLAIN", "CREATE", "ALTER", "DROP", "SHOW", "DELETE", "UPDATE",
                     "MERGE", "PREPARE", "EXECUTE", "DEALLOCATE", "OPTIMIZE", "VACUUM", "USE", "DESCRIBE",
                     "DESC", "MSCK"}


def ddl_re(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I | re.S)


_KEY_VALUE = ddl_re(rf"(?P<key>{STRING})\s*=\s*(?P<value>{STRING})")
_COMMENT_OR_QUOTED = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|(?P<comment>--[^\n]*|/\*.*?\*/)", re.S)


def blank_comments(sql: str) -> str:
    """sql with comments replaced by spaces (newlines kept), so offsets still point into the original."""
    def blank(match: re.Match) -> str:
        if match["comment"] is None:
            return match[0]
        return re.sub(r"[^\n]", " ", match[0])
    return _COMMENT_OR_QUOTED.sub(blank, sql)


def full_match(pattern: re.Pattern, statement: str, what: str) -> re.Match:
    match = pattern.fullmatch(statement)
    if match is None:
        raise error("NOT_SUPPORTED", f"This form of {what} is not supported by the local Athena engine: "
                                     f"{statement[:200]}")
    return match


def unquote(name: str) -> str:
    """An identifier as Glue stores it: without quotes, lower case."""
    if name[:1] in "`\"" and name[-1:] == name[:1]:
        name = name[1:-1]
    return name.lower()


def unquote_literal(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def split_qualified(qualified: str, database: str) -> tuple[str, str]:
    parts = [unquote(part) for part in re.findall(NAME, qualified)]
    if len(parts) == 3 and parts[0] != "awsdatacatalog":
        raise error("CATALOG_NOT_FOUND", f"Catalog '{parts[0]}' does not exist")
    return (parts[-2] if len(parts) > 1 else database), parts[-1]


def key_values(text: str) -> dict[str, str]:
    return {unquote_literal(m["key"]): unquote_literal(m["value"]) for m in _KEY_VALUE.finditer(text)}


def filter_names(names: list[str], pattern: str | None) -> list[str]:
    """Hive's SHOW patterns: '*' is any text, '|' separates alternatives, matching ignores case."""
    if pattern is None:
        return sorted(names)
    alternatives = [re.escape(part.strip()).replace(r"\*", ".*") for part in unquote_literal(pattern).split("|")]
    regex = re.compile("|".join(alternatives), re.I)
    return sorted(name for name in names if regex.fullmatch(name))
