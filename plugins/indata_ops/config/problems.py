"""From a file to lines a person can act on: the strict YAML read and the wording of every validation problem.

Each problem is one line ``<file>: <where>: field '<field>' (<origin>): <message>``, where ``<where>`` is
``top level``, ``settings``, ``dataset 'ventas'`` (``dataset #2`` when the name is unusable) and ``<field>`` is
the dotted path inside it (``schema.importe.type``, ``rules.codigo.max``, ``reader.delimiter``, ``checks[3]
(range).min``).
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from indata_ops.config.checks import CONFIG_ERROR


class ConfigError(ValueError):
    """The config cannot be used. ``problems`` holds one line per problem; the message joins them."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# --- YAML -------------------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would otherwise resolve silently to the last one."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{label}: cannot read the config file: {exc}"]) from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: builds no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError([f"{label}: invalid YAML at {where}: {exc.problem}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{label}: invalid YAML: {exc}"]) from exc


# --- wording ------------------------------------------------------------------------------------------------------

_TYPE_NAMES = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false",
               "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
               "model_attributes_type": "a mapping"}


def message(error: ErrorDetails, known_keys: tuple[str, ...] = ()) -> str:
    """The problem's text for one pydantic error (without where it is)."""
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == CONFIG_ERROR:
        return error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown key (known: {', '.join(known_keys)})"
    if kind in _TYPE_NAMES:
        # bool is an int subclass, and YAML turns yes/no/on/off/null/5.0 into non-strings: name both traps.
        yaml_scalar = value is None or isinstance(value, (bool, int, float))
        hint = " (quote it in YAML)" if kind == "string_type" and yaml_scalar else ""
        return f"must be {_TYPE_NAMES[kind]}{hint} (got {value!r})"
    if kind == "literal_error":
        choices = [choice.strip("'") for choice in str(ctx.get("expected", "")).replace(" or ", ", ").split(", ")]
        return f"must be one of {', '.join(choices)} (got {value!r})"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']} (got {value!r})"
    if kind == "too_short" and isinstance(value, list):
        return f"must not be empty (got {value!r})"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']} (got {value!r})"
    if kind == "greater_than":
        return f"must be > {ctx['gt']:g} (got {value!r})"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']:g} (got {value!r})"
    return f"{error['msg']} (got {value!r})"


def model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` below ``root`` (for the keys it knows)."""
    model: Any = root
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            model = field.annotation if field else None
        else:  # a list of models or a mapping of models: the item's model
            model = _item_model(model)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else _item_model(model)


def _item_model(annotation: Any) -> Any:
    for argument in reversed(getattr(annotation, "__args__", ())):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    return None


def describe(where: str, field_name: str, text: str, origin: str = "") -> str:
    """``<where>: field '<field>' (<origin>): <text>``; ``field_name`` is empty when the whole entry is wrong."""
    field_part = f" field {field_name!r}" if field_name else ""
    origin_part = f" ({origin})" if origin else ""
    return f"{where}{':' if field_part else ''}{field_part}{origin_part}: {text}"


def problem_lines(error: ValidationError, root: type[BaseModel], document: Mapping[str, Any],
                  origins: Mapping[str, str]) -> list[str]:
    """One line per problem in ``error`` (validation of ``document`` by ``root``), in the document's order.

    ``origins``: a setting's name -> where its value came from, for values that came from the environment.
    """
    lines = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        parent = loc[:-1] if item["type"] == "extra_forbidden" else loc
        known = tuple((model_at(root, parent) or BaseModel).model_fields)
        text = message(item, known)
        if loc and loc[0] == "settings" and len(loc) > 1:
            name = str(loc[1])
            lines.append(describe("settings", ".".join(map(str, loc[1:])), _settings_text(item, text, name, root),
                                  origins.get(name, "")))
        elif loc and loc[0] == "datasets" and len(loc) > 1:
            where, field_name = _dataset_place(document, loc[1:])
            lines.append(describe(where, field_name, text))
        else:
            lines.append(describe("top level", ".".join(map(str, loc)), text))
    return lines


def _settings_text(item: ErrorDetails, text: str, name: str, root: type[BaseModel]) -> str:
    if item["type"] != "missing":
        return text
    settings_model = model_at(root, ("settings",))
    env_var = settings_model.env_variable(name) if settings_model and hasattr(settings_model, "env_variable") else ""
    return f"is required (set it here or in {env_var})" if env_var else text


def _dataset_place(document: Mapping[str, Any], loc: tuple[str | int, ...]) -> tuple[str, str]:
    """(``dataset 'ventas'`` or ``dataset #2``, the dotted field) for a place below ``datasets[i]``."""
    index = loc[0] if isinstance(loc[0], int) else 0
    datasets = document.get("datasets")
    entry = datasets[index] if isinstance(datasets, list) and index < len(datasets) else None
    name = entry.get("name") if isinstance(entry, Mapping) else None
    where = f"dataset {name!r}" if isinstance(name, str) and name else f"dataset #{index + 1}"
    parts: list[str] = []
    rest = list(loc[1:])
    while rest:
        part = rest.pop(0)
        if part == "schema" and rest and isinstance(rest[0], int):
            position = int(rest.pop(0))
            columns = entry.get("schema") if isinstance(entry, Mapping) else None
            column = columns[position] if isinstance(columns, list) and position < len(columns) else None
            column_name = column.get("name") if isinstance(column, Mapping) else None
            parts.append(f"schema.{column_name}" if isinstance(column_name, str) and column_name
                         else f"schema[{position + 1}]")
        elif part == "checks" and rest and isinstance(rest[0], int):
            position = int(rest.pop(0))
            checks = entry.get("checks") if isinstance(entry, Mapping) else None
            parts.append(_check_label(checks[position] if isinstance(checks, list) and position < len(checks)
                                      else None, position))
        else:
            parts.append(str(part))
    return where, ".".join(parts)


def _check_label(item: Any, position: int) -> str:
    """``checks[3] (range)``, or with the name it was given ``checks[3] (negative_units)``: the n-th item, from 1."""
    label = f"checks[{position + 1}]"
    if not isinstance(item, Mapping) or len(item) != 1:
        return label
    ((kind, value),) = item.items()
    name = value.get("name") if isinstance(value, Mapping) else None
    return f"{label} ({name if isinstance(name, str) and name else kind})"
