"""Which failures heal on a retry and which do not.

Airflow retries a failed task ``retries`` times, which helps only when the cause can go away: the network, S3
throttling or a 5xx, Glue capacity, a file still being written. A cause in the input or the configuration is the
same on every try: those fail at once with AirflowFailException (Airflow does not retry it; the failure notice
still goes out), so a run for a date without files fails in seconds instead of after every retry's delay.
"""
from __future__ import annotations

import re

from airflow.sdk.exceptions import AirflowException, AirflowFailException

# Python errors the cleaning job raises for its contract (config, schema, keys, rules, an input it cannot read as
# configured) and for a type conflict with the clean table: the same input fails the same way on every try.
# Glue reports a script's error as "<Type>: <message>", sometimes after "Error Category: ...; " on AWS.
PERMANENT_JOB_ERRORS = ("ValueError", "SchemaEvolutionError", "KeyError", "TypeError", "FileNotFoundError")
_JOB_ERROR_TYPE = re.compile(r"(?:^|;\s*)(?:[\w.]+\.)?(" + "|".join(PERMANENT_JOB_ERRORS) + r"):")

# Athena's AthenaError.ErrorCategory: 1 system, 2 user (syntax, a missing table or column), 3 other.
ATHENA_USER_ERROR = 2


class PermanentError(AirflowFailException):
    """Fails the task at once, without retries: the cause is in the input or the config, not in the moment."""


def is_permanent_job_error(message: str | None) -> bool:
    """Whether a Glue job run's ErrorMessage names one of the job's own contract errors."""
    if not message:
        return False
    return _JOB_ERROR_TYPE.search(message) is not None


def failure(message: str, permanent: bool) -> AirflowException:
    """The exception for a failure: PermanentError when retrying cannot help, AirflowException otherwise."""
    return PermanentError(message) if permanent else AirflowException(message)
