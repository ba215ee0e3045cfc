"""`make schema`: the JSON Schema of datasets.yaml and the configuration reference page, generated from the config
models (plugins/indata_ops/config), so that neither can drift from what the loader accepts.

Writes include/config/datasets.schema.json (an editor validates datasets.yaml with it: the file's first line names
it for the YAML language server) and docs/configuration-reference.md. ``--check`` writes nothing and exits 1 when
either file is not what the models generate (tests/config/test_schema.py runs it in CI).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from indata_ops.config import ConfigDocument, Settings
from indata_ops.config.dataset_model import Column, DatasetEntry, LocaleOptions
from indata_ops.config.quality_model import shape_schemas
from scripts.common import REPO

SCHEMA_PATH = REPO / "include" / "config" / "datasets.schema.json"
REFERENCE_PATH = REPO / "docs" / "configuration-reference.md"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The models' schema, with what the file alone cannot say: settings may come from BACKUP_* variables."""
    schema = ConfigDocument.model_json_schema(by_alias=True)
    for model in (Settings, DatasetEntry, Column, LocaleOptions):
        properties = schema["$defs"][model.__name__]["properties"]
        for name, field in model.model_fields.items():
            # Defaults built by a factory (lists, nested models) are left out by pydantic; the folders' defaults
            # are paths of this checkout, described instead.
            if field.default_factory is not None and name not in Settings.FOLDERS:
                default = field.default_factory()  # type: ignore[call-arg]
                properties[field.alias or name]["default"] = (
                    default.model_dump() if isinstance(default, BaseModel) else default)
    settings = schema["$defs"]["Settings"]
    settings.pop("required", None)  # each required setting may be given by its variable instead
    for name, field in settings["properties"].items():
        field["description"] = f"{field.get('description', '')} Variable: {Settings.env_variable(name)}.".strip()
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _type_of(field: dict[str, Any]) -> str:
    if "enum" in field:
        return " \\| ".join(f"`{choice}`" for choice in field["enum"])
    if "anyOf" in field:
        kinds = [_type_of(option) for option in field["anyOf"] if option.get("type") != "null"]
        return " or ".join(kinds) + (" or null" if len(kinds) < len(field["anyOf"]) else "")
    if field.get("type") == "object" and "anyOf" in field:
        return " or ".join(_type_of(option) for option in field["anyOf"])
    if "$ref" in field:
        return field["$ref"].rsplit("/", 1)[-1]
    kind = field.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_type_of(field.get('items', {}))}"
    if kind == "object" and isinstance(field.get("additionalProperties"), dict):
        return f"mapping of {field['additionalProperties'].get('title', 'values')}"
    return str(field.get("title", kind)) if kind == "object" else str(kind)


def _default_of(name: str, field: dict[str, Any], required: set[str]) -> str:
    if name in required:
        return "required"
    if "default" not in field:
        return "see description"
    return f"`{json.dumps(field['default'], ensure_ascii=False)}`"


def _table(title: str, definition: dict[str, Any], required: set[str] | None = None) -> list[str]:
    lines = [f"## {title}", "", definition.get("description", "").replace("``", "`"), "",
             "| Key | Type | Default | Description |", "|---|---|---|---|"]
    required = set(definition.get("required", ())) if required is None else required
    for name, field in definition["properties"].items():
        description = field.get("description", "").replace("\n", " ").replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{name}` | {_type_of(field)} | {_default_of(name, field, required)} | {description} |")
    return [*lines, ""]


def reference_text() -> str:
    schema = json_schema()
    definitions = schema["$defs"]
    settings_required = set(ConfigDocument.model_json_schema()["$defs"]["Settings"].get("required", ()))
    dataset = definitions["DatasetEntry"]["properties"]
    reader, rule = dataset["reader"]["anyOf"], dataset["rules"]["additionalProperties"]
    lines = [
        "# Configuration reference",
        "",
        "Generated from the config models by `make schema` (CI fails when this page or",
        "`include/config/datasets.schema.json` is stale); [Configuration](configuration.md) explains how to use them.",
        "Every setting can be overridden by its `BACKUP_*` variable (named in its description); a required setting",
        "may be given by its variable alone.",
        "",
        *_table("settings", definitions["Settings"], settings_required),
        *_table("datasets[]", definitions["DatasetEntry"]),
        *_table("datasets[].schema[]", definitions["Column"]),
        *_table("datasets[].locale", definitions["LocaleOptions"]),
        *_table("datasets[].reader (csv)", reader[0]),
        *_table("datasets[].reader (json)", reader[1]),
        "Parquet datasets take no reader options.",
        "",
        *_table("datasets[].rules.&lt;column>", rule),
        *_table("datasets[].anomalies", definitions["AnomalyOptions"]),
        "Each item of `checks` has one kind key: `not_null` and `unique` take a column, a list of columns or the",
        "mapping below; the other kinds take their mapping.",
        "",
        *[line for kind, shape in shape_schemas().items() if kind != "unique"
          for line in _table(f"datasets[].checks[]: {'not_null, unique' if kind == 'not_null' else kind}", shape)],
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in ((SCHEMA_PATH, schema_text()), (REFERENCE_PATH, reference_text())):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    for path in stale:
        print(f"{path.relative_to(REPO)} is stale: run make schema", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
