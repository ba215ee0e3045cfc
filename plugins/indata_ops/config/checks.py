"""The config's value checks as annotated types: each problem is a sentence that names what the value must be.

Pydantic does the walking, the types and the collecting; these checks say what a bucket, a Glue name or a Spark
date pattern must look like. A problem is a ``PydanticCustomError`` of type ``config`` whose text is final
(``problems.py`` prints it as is); pydantic's own errors (a wrong type, a missing key) are worded there.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

CONFIG_ERROR = "config"


def problem(message: str) -> PydanticCustomError:
    """A problem with the final wording: raise it from a validator, pydantic adds where."""
    return PydanticCustomError(CONFIG_ERROR, "{message}", {"message": message})


def fail(problems: Iterable[tuple[tuple[str | int, ...], str, Any]]) -> NoReturn:
    """Raise several problems at once, each at its place below the value being validated: (loc, message, value)."""
    details = [InitErrorDetails(type=problem(message), loc=loc, input=value) for loc, message, value in problems]
    raise ValidationError.from_exception_data(CONFIG_ERROR, details)


def fail_with(error: ValidationError, problems: Iterable[tuple[tuple[str | int, ...], str, Any]]) -> NoReturn:
    """Raise ``error``'s problems together with more, in the order of their places' first part (a list position:
    a dataset's problems stay together)."""
    details = []
    for item in error.errors(include_url=False):
        detail = InitErrorDetails(type=problem(item["msg"]) if item["type"] == CONFIG_ERROR else item["type"],
                                  loc=item["loc"], input=item["input"])
        if "ctx" in item:  # pydantic words its own errors from their context
            detail["ctx"] = item["ctx"]
        details.append(detail)
    details += [InitErrorDetails(type=problem(message), loc=loc, input=value) for loc, message, value in problems]
    details.sort(key=lambda detail: detail["loc"][0] if detail["loc"] and isinstance(detail["loc"][0], int) else -1)
    raise ValidationError.from_exception_data(error.title, details)


@dataclass(frozen=True)
class Matching:
    """Metadata for ``Annotated[str, ...]``: the whole string matches ``pattern`` (a Python regular expression),
    else the problem says it must be ``description``. The JSON Schema carries the pattern for editors."""

    pattern: str
    description: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        regex = re.compile(self.pattern)

        def check(value: str) -> str:
            if not regex.fullmatch(value):
                raise problem(f"must be {self.description} (got {value!r})")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": f"^(?:{self.pattern})$"}


def checked(check: Callable[[Any], str | None]) -> AfterValidator:
    """Metadata for ``Annotated[str, ...]``: ``check`` returns the problem with the value, or None."""

    def validate(value: Any) -> Any:
        message = check(value)
        if message:
            raise problem(message)
        return value

    return AfterValidator(validate)


# --- S3 ---------------------------------------------------------------------------------------------------------

_BUCKET_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(name: str) -> str | None:
    """S3 general purpose bucket naming rules."""
    if not _BUCKET_SHAPE.fullmatch(name):
        return (
            f"must be a valid S3 bucket name: 3-63 lowercase letters, digits, '.' or '-', "
            f"starting and ending with a letter or digit (got {name!r})"
        )
    if ".." in name or _IP_ADDRESS.fullmatch(name):
        return f"must be a valid S3 bucket name: no '..' and not an IP address (got {name!r})"
    if name.startswith(_BUCKET_PREFIXES) or name.endswith(_BUCKET_SUFFIXES):
        return f"must be a valid S3 bucket name: reserved prefix or suffix (got {name!r})"
    return None


def s3_uri_problem(uri: str) -> str | None:
    if not uri.startswith("s3://"):
        return f"must be an s3:// URI (got {uri!r})"
    bucket = bucket_problem(uri[len("s3://"):].split("/", 1)[0])
    return None if bucket is None else f"must be an s3:// URI with a valid bucket: {bucket}"


BucketName = Annotated[str, checked(bucket_problem), Field(json_schema_extra={"pattern": "^[a-z0-9][a-z0-9.-]+$"})]
S3Uri = Annotated[str, checked(s3_uri_problem), Field(json_schema_extra={"pattern": "^s3://"})]


# --- text -------------------------------------------------------------------------------------------------------


def _encoding_problem(value: str) -> str | None:
    try:
        codecs.lookup(value)
    except LookupError:
        return f"must be a known text encoding such as UTF-8 or windows-1252 (got {value!r})"
    return None


def _character_problem(value: str) -> str | None:
    return None if len(value) == 1 else f"must be one character (got {value!r})"


def _optional_character_problem(value: str) -> str | None:
    return None if len(value) <= 1 else f"must be one character or '' (got {value!r})"


def _not_empty_problem(value: str) -> str | None:
    return None if value else "must not be empty"


Encoding = Annotated[str, checked(_encoding_problem)]
Character = Annotated[str, checked(_character_problem), Field(json_schema_extra={"minLength": 1, "maxLength": 1})]
OptionalCharacter = Annotated[str, checked(_optional_character_problem), Field(json_schema_extra={"maxLength": 1})]
NonEmptyText = Annotated[str, checked(_not_empty_problem), Field(json_schema_extra={"minLength": 1})]


def token_list_problem(values: Sequence[Any]) -> str | None:
    bad = [token for token in values if not isinstance(token, str)]
    return f"must be a list of strings (quote YAML words like null, no, yes; got {bad!r})" if bad else None


def _tokens(values: list[Any]) -> tuple[str, ...]:
    message = token_list_problem(values)
    if message:
        raise problem(message)
    return tuple(values)


# A list of any items, checked here so that a YAML null among strings is named as such.
Tokens = Annotated[list[Any], AfterValidator(_tokens), Field(json_schema_extra={"items": {"type": "string"}})]


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise problem(f"must not repeat a column (got {list(values)!r})")
    if not all(values):
        raise problem("must not contain empty names")
    return values


Names = Annotated[Tokens, AfterValidator(_names)]
