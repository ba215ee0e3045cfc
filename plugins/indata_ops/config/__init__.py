"""The backup's one config model: ``include/config/datasets.yaml`` (or ``$BACKUP_CONFIG``) -> ``BackupConfig``.

The DAG calls ``load_config()`` at parse time, so loading is a pure local file read: no network, no Airflow
Variables, no metadata database. Pydantic models validate everything up front (``settings_model``,
``dataset_model``; strict, unknown keys refused) and every problem is reported at once, each naming the file,
the dataset and the field (``problems``), so a broken config shows up as one readable import error. The published
JSON Schema of the file (include/config/datasets.schema.json) is generated from the same models.

The dataset contract itself (``Dataset``, ``ColumnSpec``, ``Locale``, ``ColumnRule``, the type names and
tokens) is the package ``indata_contract`` (plugins/indata_contract), which the Glue job imports without Airflow:
the models here validate the YAML and build those objects; the job receives ``Dataset.job_config()`` as a JSON job
argument and reads it back with the same package. A dataset's declared checks and anomaly settings
(``quality_model``) are not part of that contract: ``BackupConfig.quality`` holds them for validation.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from indata_contract import RUN_DATE_PLACEHOLDER, ColumnRule, ColumnSpec, Dataset, Locale
from indata_ops.config.checks import fail, fail_with, problem
from indata_ops.config.dataset_model import DatasetEntry
from indata_ops.config.problems import ConfigError, problem_lines, read_yaml
from indata_ops.config.quality_model import resolve_relationships
from indata_ops.config.settings_model import (
    DEFAULT_RESTORE_ROOT,
    DEFAULT_SOURCE_ROOT,
    REPO_ROOT,
    Settings,
    environment_settings,
    with_folders_from,
)
from indata_ops.quality.model import DatasetQuality

__all__ = ["BackupConfig", "ColumnRule", "ColumnSpec", "ConfigDocument", "ConfigError", "Dataset", "DatasetQuality",
           "Locale", "Settings", "RUN_DATE_PLACEHOLDER", "DEFAULT_CONFIG_PATH", "DEFAULT_SOURCE_ROOT",
           "DEFAULT_RESTORE_ROOT", "load_config"]
DEFAULT_CONFIG_PATH = REPO_ROOT / "include" / "config" / "datasets.yaml"
ENV_CONFIG = "BACKUP_CONFIG"
ENV_SOURCE_ROOT = Settings.env_variable("source_root")
ENV_RESTORE_ROOT = Settings.env_variable("restore_root")


class ConfigDocument(BaseModel):
    """The whole file: global settings and the datasets."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              json_schema_extra={"title": "INDATA backup: datasets.yaml"})

    settings: Settings
    datasets: list[DatasetEntry] = Field(min_length=1)

    @field_validator("settings", mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise problem(f"must be a mapping of global settings (got {value!r})")
        return value

    @field_validator("datasets", mode="before")
    @classmethod
    def _a_non_empty_list(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise problem(f"must be a non-empty list of datasets (got {value!r})")
        return value

    @field_validator("datasets", mode="wrap")
    @classmethod
    def _relationships(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """A relationship check names another dataset and its column: judged once every entry's columns are
        known, and reported together with the entries' other problems."""
        names = [entry.get("name") for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []
        known = [name for name in names if isinstance(name, str)]
        context = info.context if info.context is not None else {}
        try:
            entries = handler(value)
        except ValidationError as error:
            # The entries register their checks and columns as they validate, also those with problems.
            problems, _ = resolve_relationships(context.get("checks", {}), known)
            if problems:
                fail_with(error, problems)
            raise
        registered = context.get("checks")
        if registered is None:  # validated without a context: from the entries themselves
            registered = {position: (entry.name, list(enumerate(entry.checks)), entry.check_columns())
                          for position, entry in enumerate(entries)}
        problems, resolved = resolve_relationships(registered, known)
        if problems:
            fail(problems)
        return [entry.model_copy(update={"checks": resolved.get(position, entry.checks)})
                for position, entry in enumerate(entries)]


@dataclass(frozen=True)
class BackupConfig:
    """The validated config. ``quality``: each dataset's declared checks and anomaly settings by dataset name
    (every dataset; an empty DatasetQuality when it declares none), kept apart from the job's contract."""

    settings: Settings
    datasets: tuple[Dataset, ...]
    quality: Mapping[str, DatasetQuality]

    def dataset(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        known = ", ".join(d.name for d in self.datasets)
        raise KeyError(f"no dataset {name!r} in the config (known: {known})")


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> BackupConfig:
    """Read, override from the environment, and validate the config; raise ConfigError listing every problem.

    ``path`` defaults to $BACKUP_CONFIG, else DEFAULT_CONFIG_PATH. ``environ`` defaults to os.environ; an empty
    variable counts as unset (compose files and CI often export empty values).
    """
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    config_path = Path(path or env.get(ENV_CONFIG) or DEFAULT_CONFIG_PATH).expanduser().resolve()
    label = _display_path(config_path)
    document = read_yaml(config_path, label)
    if not isinstance(document, Mapping):
        raise ConfigError([f"{label}: top level: must be a mapping with settings and datasets (got {document!r})"])

    overrides = environment_settings(env)
    merged = dict(document)
    if isinstance(document.get("settings"), Mapping):
        # The environment wins over the file; a setting's name in the file, its variable in the environment.
        merged["settings"] = {**with_folders_from(config_path.parent, document["settings"]), **overrides}
    try:
        parsed = ConfigDocument.model_validate(merged, context={})
    except ValidationError as error:
        origins = {name: f"from environment variable {Settings.env_variable(name)}" for name in overrides}
        raise ConfigError([f"{label}: {line}" for line in problem_lines(error, ConfigDocument, document, origins)]
                          ) from None
    return BackupConfig(settings=parsed.settings, datasets=tuple(entry.to_contract() for entry in parsed.datasets),
                        quality=MappingProxyType({entry.name: entry.to_quality() for entry in parsed.datasets}))


def _display_path(path: Path) -> str:
    """Repo-relative for the project's own files, so messages read the same whatever the working directory."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
