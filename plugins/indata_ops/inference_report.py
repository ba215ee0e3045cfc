"""What the cleaning job's type inference did that a person should look at, from the job's counts.

The job writes an ``inference`` section in its counts: per column the type chosen, the share of sampled values
that parsed as it, up to three values that did not, ``looks_like`` for a column left as text whose values mostly
read as a number or a date, ``undecided`` when the sample could not decide (a day/month order), and
``previous_type`` when the clean table had another type; and, under the default null tokens, the text values
a token read as null (``text_read_as_null``: "NA" is also a country code). None of these fails a run: the
validation report and ``make run``'s summary list them as warnings, so a degraded column is seen the day it
happens. No Airflow import: the run summary uses it too.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _examples(info: Mapping[str, Any]) -> str:
    examples = [repr(value) for value in info.get("examples") or ()][:3]
    return f" (e.g. {', '.join(examples)})" if examples else ""


def inference_warnings(counts: Mapping[str, Any] | None) -> list[str]:
    """One line per column whose inferred type deserves a look, in the columns' order; [] when none."""
    warnings = []
    for column, info in ((counts or {}).get("inference") or {}).items():
        chosen, share = info.get("type"), info.get("share")
        if chosen == "string" and info.get("looks_like"):
            amount = f"{share:.0%} of" if isinstance(share, (int, float)) and share > 0 else "most"
            warnings.append(f"{column}: kept as text, but {amount} sampled values read as a {info['looks_like']}"
                            f"{_examples(info)}")
        if info.get("undecided"):
            warnings.append(f"{column}: kept as text, the sample could not decide the {info['undecided']}")
        previous = info.get("previous_type")
        if previous and previous != chosen:
            warnings.append(f"{column}: inferred as {chosen}, the clean table had {previous}")
        if chosen not in (None, "string") and isinstance(share, (int, float)) and share < 1:
            warnings.append(f"{column}: {chosen} for {share:.1%} of sampled values; the others are rejected as "
                            f"unparseable:{column}{_examples(info)}")
    for column, by_token in ((counts or {}).get("text_read_as_null") or {}).items():
        written = ", ".join(f"{count} {token!r}" for token, count in by_token.items())
        warnings.append(f"{column}: text values read as null by the default null_tokens ({written}); if they are "
                        "data (a code such as 'NA'), list the dataset's own null_tokens")
    return warnings
