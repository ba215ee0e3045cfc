"""Month names in dates: Spark's ``MMM``/``MMMM`` read English only (the JVM's locale), so a value's month name or
abbreviation, in the locale's language or in English, becomes the month's number before Spark parses it with the
format's month field as ``MM``. Column expressions only: no Python UDF runs per value."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from pyspark.sql import Column
from pyspark.sql import functions as F

# Per language, each month's spellings (full name first), January to December; matched ignoring case, with or
# without a trailing dot ("ene.", "Sept.").
MONTH_NAMES: Mapping[str, tuple[tuple[str, ...], ...]] = MappingProxyType({
    "es": (("enero", "ene"), ("febrero", "feb"), ("marzo", "mar"), ("abril", "abr"), ("mayo", "may"),
           ("junio", "jun"), ("julio", "jul"), ("agosto", "ago"), ("septiembre", "sept", "sep"), ("octubre", "oct"),
           ("noviembre", "nov"), ("diciembre", "dic")),
    "en": (("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
           ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
           ("november", "nov"), ("december", "dec")),
})
# A month written as text in a datetime pattern: three or more M (MMM abbreviation, MMMM full name).
MONTH_NAME_FIELD = re.compile(r"M{3,}")


def month_numbers(language: str) -> dict[str, str]:
    """Every spelling of a month in ``language`` and in English (lowercase) -> its two-digit number."""
    numbers: dict[str, str] = {}
    for lang in dict.fromkeys((language, "en")):
        for number, spellings in enumerate(MONTH_NAMES[lang], start=1):
            numbers.update(dict.fromkeys(spellings, f"{number:02d}"))
    return numbers


def _outside_quotes(pattern: str, change: Callable[[str], str]) -> str:
    """``pattern`` with ``change`` applied to its fields, not to its quoted literals ('de')."""
    parts = re.split(r"('[^']*')", pattern)
    return "".join(part if part.startswith("'") else change(part) for part in parts)


def names_months(pattern: str) -> bool:
    """True when a datetime pattern writes the month as a name (MMM, MMMM outside quoted literals)."""
    return MONTH_NAME_FIELD.search(re.sub(r"'[^']*'", "", pattern)) is not None


def numeric_month_pattern(pattern: str) -> str:
    """The pattern with its month name field read as a two-digit number (MMM, MMMM -> MM)."""
    return _outside_quotes(pattern, lambda part: MONTH_NAME_FIELD.sub("MM", part))


def with_month_number(value: Column, pattern: str, language: str) -> Column:
    """The value with its month name as the month's two-digit number; NULL when it names no month (so that a
    number where the pattern wants a name is not read)."""
    numbers = month_numbers(language)
    spellings = "|".join(sorted(numbers, key=len, reverse=True))
    # The abbreviation's dot is the value's unless the pattern itself writes a dot after the month ("dd.MMM.yyyy").
    dot = "" if re.search(r"M{3,}'?\.", pattern) else r"\.?"
    # Not inside a word ("mar" in "martes"), but digits may touch the name ("15ene2024").
    month_name = rf"(?i)(?<!\p{{L}})({spellings})(?!\p{{L}}){dot}"
    number = F.element_at(
        F.create_map(*[F.lit(item) for pair in numbers.items() for item in pair]),
        F.lower(F.regexp_extract(value, month_name, 1)),
    )
    return F.when(number.isNotNull(), F.regexp_replace(value, month_name, number))


def parse_with_month_names(
    value: Column, pattern: str, language: str, parse: Callable[[Column, str], Column]
) -> Column:
    """``parse(value, pattern)`` (``F.to_date``, ``F.to_timestamp``), month names in ``language`` or English read
    when the pattern names months."""
    if not names_months(pattern):
        return parse(value, pattern)
    return parse(with_month_number(value, pattern, language), numeric_month_pattern(pattern))
