"""The inference warnings read from the job's counts: what is worth a look, worded for the person on call."""
from __future__ import annotations

from indata_ops.inference_report import inference_warnings


def test_no_inference_section_no_warning() -> None:
    assert inference_warnings({"input": 3}) == [] and inference_warnings(None) == []


def test_a_clean_inference_gives_no_warning() -> None:
    counts = {"inference": {"year": {"type": "bigint", "share": 1.0, "examples": []},
                            "island": {"type": "string", "share": None, "examples": []}}}

    assert inference_warnings(counts) == []


def test_a_typed_column_with_rejected_values_names_them() -> None:
    counts = {"inference": {"year": {"type": "bigint", "share": 0.995, "examples": ["2007?", "dos mil"]}}}

    assert inference_warnings(counts) == [
        "year: bigint for 99.5% of sampled values; the others are rejected as unparseable:year "
        "(e.g. '2007?', 'dos mil')"]


def test_text_that_looks_like_a_date_without_a_share_says_most() -> None:
    counts = {"inference": {"alta": {"type": "string", "looks_like": "date", "examples": ["3 marzo"] * 5}}}

    assert inference_warnings(counts) == [
        "alta: kept as text, but most sampled values read as a date (e.g. '3 marzo', '3 marzo', '3 marzo')"]


def test_a_type_change_from_the_table_is_a_warning_even_to_text() -> None:
    counts = {"inference": {"cp": {"type": "string", "share": None, "previous_type": "bigint"}}}

    assert inference_warnings(counts) == ["cp: inferred as string, the clean table had bigint"]


def test_text_values_read_as_null_by_the_default_tokens_are_named() -> None:
    counts = {"inference": {}, "text_read_as_null": {"country": {"NA": 63}, "subd": {"NaN": 1, "None": 2}}}

    assert inference_warnings(counts) == [
        "country: text values read as null by the default null_tokens (63 'NA'); if they are data (a code such as "
        "'NA'), list the dataset's own null_tokens",
        "subd: text values read as null by the default null_tokens (1 'NaN', 2 'None'); if they are data (a code "
        "such as 'NA'), list the dataset's own null_tokens"]
