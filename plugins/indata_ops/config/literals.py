"""Literals of the config (rule bounds and allowed values, check bounds and accepted values) against a column's
type: the value a person wrote in YAML is checked before any data is read, with a problem naming what it must be.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

NUMERIC_TYPES = ("int", "bigint", "double")


def rule_literal(value: Any, column_type: str | None) -> tuple[str | None, Any]:
    """(problem, value as JSON) for one bound or allowed value of a column of ``column_type`` (None: unknown)."""
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    elif isinstance(value, date):
        value = value.isoformat()  # YAML reads an unquoted 2026-11-01 as a date
    if not isinstance(value, (str, int, float)) or (isinstance(value, bool) and column_type != "boolean"):
        return f"must be a number, a string or a date (got {value!r})", None
    expected = {"date": (date.fromisoformat, "an ISO date such as 2026-11-01"),
                "timestamp": (datetime.fromisoformat, "an ISO timestamp such as 2026-11-01 08:30:00")}
    if column_type in expected:
        parse, description = expected[column_type]
        try:
            parse(str(value))
        except ValueError:
            return f"must be {description} (got {value!r})", None
    elif column_type in ("int", "bigint"):
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number for the {column_type} column (got {value!r})", None
    elif column_type == "double" or (column_type or "").startswith("decimal"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"must be a number for a {column_type} column (got {value!r})", None
    elif column_type == "string" and not isinstance(value, str):
        return f"must be a string for a string column (quote it in YAML; got {value!r})", None
    elif column_type == "boolean" and not isinstance(value, bool):
        return f"must be true or false for a boolean column (got {value!r})", None
    return None, value


def rule_value(value: Any, kind: str, column_type: str | None) -> tuple[str | None, Any]:
    """(problem, the rule's value as the job receives it: dates as ISO text)."""
    if kind == "required":
        return (None, value) if isinstance(value, bool) else (f"must be true or false (got {value!r})", None)
    if kind == "regex":
        if not isinstance(value, str):
            return f"must be a string (got {value!r})", None
        if column_type not in (None, "string"):
            return f"applies to string columns (this one is {column_type})", None
        try:
            re.compile(value)
        except re.error as error:
            return f"is not a regular expression: {error} (got {value!r})", None
        return None, value
    if kind == "allowed":
        if not isinstance(value, list):
            return f"must be a list (got {value!r})", None
        if not value:
            return "must list at least one value", None
        literals = [rule_literal(item, column_type) for item in value]
        return next((p for p, _ in literals if p), None), [literal for _, literal in literals]
    if column_type is not None and column_type not in (*NUMERIC_TYPES, "date", "timestamp") \
            and not column_type.startswith("decimal"):
        return f"min and max apply to number, date and timestamp columns (this one is {column_type})", None
    return rule_literal(value, column_type)


_DECIMAL_TYPE = re.compile(r"decimal\((\d+),(\d+)\)")
_INTEGER_BITS = {"int": 32, "bigint": 64}


def typed_literal(value: Any, column_type: str, time_zone: str) -> tuple[str | None, Any]:
    """(problem, the literal as validation compares it) for a value ``rule_literal`` accepted (its JSON form) of a
    column of the canonical ``column_type``: dates as ``date``; timestamps as aware datetimes in UTC, those written
    without an offset read in the dataset's ``time_zone`` (as the job reads the column); decimals as ``Decimal``
    within the column's precision and scale; integers within the column's range. A bound the column cannot hold is
    a mistake (a check that can never fail, or a decimal the job would reject), so it is refused, not clipped."""
    if column_type == "date":
        return None, date.fromisoformat(value)
    if column_type == "timestamp":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(time_zone))
        return None, moment.astimezone(UTC)
    if column_type in _INTEGER_BITS:
        bound = 2 ** (_INTEGER_BITS[column_type] - 1)
        if not -bound <= value < bound:
            return f"is beyond the range of the {column_type} column (got {value!r})", None
        return None, value
    if column_type == "double":
        if not math.isfinite(value):
            return f"must be a finite number (got {value!r})", None
        return None, float(value)
    decimal = _DECIMAL_TYPE.fullmatch(column_type)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        number = Decimal(str(value))
        if not number.is_finite():
            return f"must be a finite number (got {value!r})", None
        exponent = int(number.as_tuple().exponent)
        if -exponent > scale:
            return f"has more decimals than a {column_type} column holds (got {value!r})", None
        if number and number.adjusted() + 1 > precision - scale:
            return f"is beyond what a {column_type} column holds (got {value!r})", None
        return None, number
    return None, value
