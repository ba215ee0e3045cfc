"""The schema of a JSON sample: JSON lines, concatenated objects, or one top-level array."""
from __future__ import annotations

import json
import re
from typing import Any

from local_aws.glue.crawler.model import ArrayType, HiveType, Schema, StructType, merge_schemas, merge_types

_JSON_WS = re.compile(r"[ \t\r\n]*")



def json_sample_schema(text: str, complete: bool) -> tuple[Schema, int] | None:
    """(schema, records) when the text is JSON objects, or a top-level array; None otherwise."""
    pos = _JSON_WS.match(text).end()
    if text.startswith("[", pos):
        elements = _json_array_elements(text, pos, complete)
        if elements is None:
            return None
        element_type = None
        for element in elements:
            element_type = merge_types(element_type, _json_type(element))
        return {"array": ArrayType(element_type)}, 1
    if not text.startswith("{", pos):
        return None
    decoder = json.JSONDecoder()
    schema: Schema = {}
    records = 0
    while pos < len(text):
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            if records and not complete:
                break  # the sample ends inside a record
            return None
        if not isinstance(value, dict):
            return None
        schema = merge_schemas(schema, _json_record_schema(value))
        records += 1
        pos = _JSON_WS.match(text, pos).end()
    return schema, records


def _json_array_elements(text: str, pos: int, complete: bool) -> list[Any] | None:
    """Elements of the array starting at pos, streamed so a sample cut mid-array still yields some."""
    decoder = json.JSONDecoder()
    elements: list[Any] = []
    pos = _JSON_WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        return elements
    while True:
        try:
            element, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return None if complete else elements
        elements.append(element)
        pos = _JSON_WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _JSON_WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            return elements
        else:
            return None if complete else elements


def _json_record_schema(record: dict[str, Any]) -> Schema:
    schema: Schema = {}
    for key, value in record.items():
        # The catalog is case-insensitive; keys differing only in case become one column.
        schema = merge_schemas(schema, {key.lower(): _json_type(value)})
    return schema


def _json_type(value: Any) -> HiveType | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if -(2**63) <= value < 2**63 else "double"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        element_type = None
        for element in value:
            element_type = merge_types(element_type, _json_type(element))
        return ArrayType(element_type)
    return StructType(tuple(_json_record_schema(value).items()))
