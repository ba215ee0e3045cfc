"""The backup's one config model: ``include/config/datasets.yaml`` (or ``$BACKUP_CONFIG``) -> ``BackupConfig``.

The DAG calls ``load_config()`` at parse time, so loading is a pure local file read: no network, no Airflow
Variables, no metadata database. Everything is validated up front and every problem is reported at once, each
naming the file, the dataset and the field, so a broken config shows up as one readable import error.

The dataset contract itself (``Dataset``, ``ColumnSpec``, ``Locale``, ``ColumnRule``, the type names and
tokens) is the package ``indata_contract`` (plugins/indata_contract), which the Glue job imports without Airflow:
this module validates the YAML and builds those objects; the job receives ``Dataset.job_config()`` as a JSON job
argument and reads it back with the same module.
"""
from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from indata_contract import (
    FALSE_TOKENS,
    FORMATS,
    JSON_LAYOUTS,
    ON_EMPTY,
    READER_DEFAULTS,
    ROUNDING,
    RULE_CHECKS,
    RUN_DATE_PLACEHOLDER,
    SCHEMA_EVOLUTION,
    SIMPLE_TYPES,
    TRUE_TOKENS,
    ColumnRule,
    ColumnSpec,
    Dataset,
    Locale,
    check_run_date,
)

_REPO_ROOT = Path(__file__).resolve().parents[2]
__all__ = ["BackupConfig", "ColumnRule", "ColumnSpec", "ConfigError", "Dataset", "Locale", "Settings",
           "RUN_DATE_PLACEHOLDER", "DEFAULT_CONFIG_PATH", "DEFAULT_SOURCE_ROOT", "DEFAULT_RESTORE_ROOT", "load_config"]
DEFAULT_CONFIG_PATH = _REPO_ROOT / "include" / "config" / "datasets.yaml"
DEFAULT_SOURCE_ROOT = _REPO_ROOT / "include" / "sample_data"
DEFAULT_RESTORE_ROOT = _REPO_ROOT / ".local" / "restores"

ENV_CONFIG = "BACKUP_CONFIG"
ENV_SOURCE_ROOT = "BACKUP_SOURCE_ROOT"
ENV_RESTORE_ROOT = "BACKUP_RESTORE_ROOT"

SSE_MODES = ("sse-s3", "sse-kms")
GLUE_EXECUTION_CLASSES = ("STANDARD", "FLEX")
# Glue runs FLEX only for Spark jobs on Glue 3.0 or later with these worker types.
FLEX_WORKER_TYPES = ("G.1X", "G.2X")
STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")


class ConfigError(ValueError):
    """The config cannot be used. ``problems`` holds one line per problem; the message joins them."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Global settings. Fields without a default are required in the file (or its env override)."""

    bucket: str
    raw_database: str
    clean_database: str
    glue_job_role: str
    region: str
    athena_output: str  # the loader defaults it to s3://<bucket>/athena-results/
    # Glue job and crawler names are account-wide: a prefix lets two deployments share one account.
    glue_job_name_prefix: str = "indata-backup"
    glue_worker_type: str = "G.1X"
    glue_number_of_workers: int = 2
    glue_version: str = "5.0"
    # FLEX runs on spare capacity at a lower price and may start later: for backfills, not for the daily run.
    glue_execution_class: str = "STANDARD"  # STANDARD | FLEX
    athena_workgroup: str = "primary"
    max_active_runs: int = 1
    # The DAG's start_date (UTC): its first scheduled date and the earliest date a backfill can reach. Set it to
    # the first day of the local server's history to back that history up.
    start_date: str = "2026-11-01"
    aws_conn_id: str = "aws_default"
    source_root: Path = DEFAULT_SOURCE_ROOT
    # The restore DAG writes only below it: the UI must not let anyone write anywhere the worker can.
    restore_root: Path = DEFAULT_RESTORE_ROOT
    # Storage safety: server-side encryption of every object the backup writes, and the bucket's lifecycle.
    sse: str = "sse-s3"  # sse-s3 | sse-kms
    sse_kms_key_id: str | None = None  # required with sse-kms
    sse_bucket_key: bool = True  # with sse-kms: one data key per bucket, not per object (fewer KMS calls)
    abort_multipart_days: int = 7  # unfinished multipart uploads (a killed run) are dropped after this
    expire_after_days: int | None = None  # raw/ and manifests/ objects expire this long after they were written
    transition_after_days: int | None = None  # ... and move to transition_storage_class after this
    transition_storage_class: str = "GLACIER_IR"
    # Operations. The crawl, the Glue job, the Athena queries and the manifest wait hand their waiting to the
    # triggerer (no worker slot held for minutes); false makes them poll from the worker.
    deferrable: bool = True
    # Failure notices: always a log line; e-mail through an SMTP connection and/or a Slack incoming webhook
    # (an HTTP connection whose host is the webhook URL: the secret stays in the connection) when set.
    notify_email: str | None = None  # comma-separated addresses
    smtp_conn_id: str = "smtp_default"
    slack_webhook_conn_id: str | None = None

    @property
    def notify_email_addresses(self) -> tuple[str, ...]:
        return tuple(address.strip() for address in (self.notify_email or "").split(",") if address.strip())

    def encryption_args(self) -> dict[str, Any]:
        """The S3 arguments that encrypt an object as configured (PutObject, CreateMultipartUpload, CopyObject)."""
        if self.sse == "sse-kms":
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key_id,
                    "BucketKeyEnabled": self.sse_bucket_key}
        return {"ServerSideEncryption": "AES256"}


@dataclass(frozen=True)
class BackupConfig:
    settings: Settings
    datasets: tuple[Dataset, ...]

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
    problems = _Problems(_display_path(config_path))
    document = _read_yaml(config_path, problems.file)

    if not isinstance(document, Mapping):
        message = f"top level: must be a mapping with settings and datasets (got {document!r})"
        raise ConfigError([f"{problems.file}: {message}"])
    problems.unknown_keys("top level", "", document, ("settings", "datasets"))

    settings = _load_settings(document.get("settings"), env, config_path.parent, problems)
    datasets = _load_datasets(document.get("datasets"), problems)
    if problems.lines:
        raise ConfigError(problems.lines)
    assert settings is not None and datasets is not None  # guaranteed when no problem was recorded
    return BackupConfig(settings=settings, datasets=datasets)


# --- problems -------------------------------------------------------------------------------------------------


class _Problems:
    """Collects problems as ``<file>: <where>: field '<field>' (<origin>): <message>`` lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, where: str, field_name: str, message: str, origin: str = "") -> None:
        """``field_name`` may be empty when the whole entry is wrong (a dataset that is not a mapping)."""
        field_part = f" field {field_name!r}" if field_name else ""
        origin_part = f" ({origin})" if origin else ""
        self.lines.append(f"{self.file}: {where}{':' if field_part else ''}{field_part}{origin_part}: {message}")

    def unknown_keys(self, where: str, prefix: str, mapping: Mapping[Any, Any], known: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in known:
                self.add(where, f"{prefix}{key}", f"unknown key (known: {', '.join(known)})")


def _display_path(path: Path) -> str:
    """Repo-relative for the project's own files, so messages read the same whatever the working directory."""
    try:
        return str(path.relative_to(_REPO_ROOT))
    except ValueError:
        return str(path)


# --- YAML -----------------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would otherwise resolve silently to the last one."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path, label: str) -> Any:
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


# --- value checks: each returns a problem, or None when the value is valid --------------------------------------

Check = Callable[[Any], "str | None"]


def _type_problem(value: Any, expected: type) -> str | None:
    # bool is an int subclass, and YAML turns yes/no/on/off/null/5.0 into non-strings: name both traps.
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return None
    yaml_scalar = value is None or isinstance(value, (bool, int, float))
    hint = " (quote it in YAML)" if expected is str and yaml_scalar else ""
    return f"must be {_TYPE_NAMES[expected]}{hint} (got {value!r})"


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}


def _matches(pattern: str, description: str) -> Check:
    regex = re.compile(pattern)

    def check(value: Any) -> str | None:
        return None if regex.fullmatch(value) else f"must be {description} (got {value!r})"

    return check


def _at_least(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be >= {minimum} (got {value!r})"

    return check


_DATABASE = _matches(r"[a-z_][a-z0-9_]{0,254}", "a Glue database name: lowercase letters, digits, _")
_CONNECTION_ID = _matches(r"[\w.-]+", "an Airflow connection id")
_BUCKET_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _bucket_problem(name: str) -> str | None:
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


def _s3_uri_problem(uri: str) -> str | None:
    if not uri.startswith("s3://"):
        return f"must be an s3:// URI (got {uri!r})"
    bucket_problem = _bucket_problem(uri[len("s3://"):].split("/", 1)[0])
    return None if bucket_problem is None else f"must be an s3:// URI with a valid bucket: {bucket_problem}"


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)} (got {value!r})"

    return check


def _single_character(value: Any) -> str | None:
    return _type_problem(value, str) or (None if len(value) == 1 else f"must be one character (got {value!r})")


def _optional_character(value: Any) -> str | None:
    return _type_problem(value, str) or (None if len(value) <= 1 else f"must be one character or '' (got {value!r})")


def _boolean(value: Any) -> str | None:
    return _type_problem(value, bool)


def _encoding(value: Any) -> str | None:
    problem = _type_problem(value, str)
    if problem:
        return problem
    try:
        codecs.lookup(value)
    except LookupError:
        return f"must be a known text encoding such as UTF-8 or windows-1252 (got {value!r})"
    return None


def _token_list(value: Any) -> str | None:
    problem = _type_problem(value, list)
    if problem:
        return problem
    bad = [token for token in value if not isinstance(token, str)]
    return f"must be a list of strings (quote YAML words like null, no, yes; got {bad!r})" if bad else None


# --- settings -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SettingRule:
    env_var: str
    kind: type  # str or int
    check: Check  # runs once the type is right


_SETTING_RULES: dict[str, _SettingRule] = {
    "bucket": _SettingRule("BACKUP_BUCKET", str, _bucket_problem),
    "raw_database": _SettingRule("BACKUP_RAW_DATABASE", str, _DATABASE),
    "clean_database": _SettingRule("BACKUP_CLEAN_DATABASE", str, _DATABASE),
    "glue_job_role": _SettingRule(
        "BACKUP_GLUE_ROLE",
        str,
        _matches(
            r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
            "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        ),
    ),
    "region": _SettingRule(
        "BACKUP_REGION", str, _matches(r"[a-z]{2}(-[a-z]+)+-\d+", "an AWS region such as us-east-1")
    ),
    "athena_output": _SettingRule("BACKUP_ATHENA_OUTPUT", str, _s3_uri_problem),
    "glue_job_name_prefix": _SettingRule(
        "BACKUP_GLUE_JOB_PREFIX", str, _matches(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", "letters, digits, '_' or '-'")
    ),
    "glue_worker_type": _SettingRule(
        "BACKUP_GLUE_WORKER_TYPE", str, _matches(r"[A-Z]\.(025|[1-9][0-9]*)X", "a Glue worker type such as G.1X")
    ),
    "glue_number_of_workers": _SettingRule("BACKUP_GLUE_WORKERS", int, _at_least(2)),
    "glue_version": _SettingRule("BACKUP_GLUE_VERSION", str, _matches(r"\d+\.\d+", "a Glue version such as '5.0'")),
    "glue_execution_class": _SettingRule("BACKUP_GLUE_EXECUTION_CLASS", str, _one_of(GLUE_EXECUTION_CLASSES)),
    "athena_workgroup": _SettingRule(
        "BACKUP_ATHENA_WORKGROUP", str, _matches(r"[A-Za-z0-9._-]{1,128}", "an Athena workgroup name")
    ),
    "max_active_runs": _SettingRule("BACKUP_MAX_ACTIVE_RUNS", int, _at_least(1)),
    "start_date": _SettingRule("BACKUP_START_DATE", str, lambda value: _run_date_problem(value)),  # defined below
    "aws_conn_id": _SettingRule("BACKUP_AWS_CONN_ID", str, _CONNECTION_ID),
    "sse": _SettingRule("BACKUP_SSE", str, _one_of(SSE_MODES)),
    "sse_kms_key_id": _SettingRule("BACKUP_SSE_KMS_KEY_ID", str, _matches(r"[\w:/+=,.@-]{1,2048}",
                                                                          "a KMS key id, ARN or alias")),
    "sse_bucket_key": _SettingRule("BACKUP_SSE_BUCKET_KEY", bool, lambda value: None),
    "abort_multipart_days": _SettingRule("BACKUP_ABORT_MULTIPART_DAYS", int, _at_least(1)),
    "expire_after_days": _SettingRule("BACKUP_EXPIRE_AFTER_DAYS", int, _at_least(1)),
    "transition_after_days": _SettingRule("BACKUP_TRANSITION_AFTER_DAYS", int, _at_least(1)),
    "transition_storage_class": _SettingRule("BACKUP_TRANSITION_STORAGE_CLASS", str, _one_of(STORAGE_CLASSES)),
    "deferrable": _SettingRule("BACKUP_DEFERRABLE", bool, lambda value: None),
    "notify_email": _SettingRule("BACKUP_NOTIFY_EMAIL", str, _matches(
        r"\s*[^@\s,]+@[^@\s,]+\.[^@\s,]+\s*(,\s*[^@\s,]+@[^@\s,]+\.[^@\s,]+\s*)*",
        "comma-separated e-mail addresses")),
    "smtp_conn_id": _SettingRule("BACKUP_SMTP_CONN_ID", str, _CONNECTION_ID),
    "slack_webhook_conn_id": _SettingRule("BACKUP_SLACK_WEBHOOK_CONN_ID", str, _CONNECTION_ID),
}
_SETTINGS_DEFAULTS = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}


def _load_settings(
    raw: Any, env: Mapping[str, str], config_dir: Path, problems: _Problems
) -> Settings | None:
    if not isinstance(raw, Mapping):
        problems.add("top level", "settings", f"must be a mapping of global settings (got {raw!r})")
        return None
    before = len(problems.lines)
    problems.unknown_keys("settings", "", raw, (*_SETTING_RULES, *_FOLDER_SETTINGS))

    values: dict[str, Any] = {}
    for name, rule in _SETTING_RULES.items():  # bucket comes first: athena_output may derive from it
        if not (rule.env_var in env or name in raw or name in _SETTINGS_DEFAULTS):
            if name != "athena_output":
                problems.add("settings", name, f"is required (set it here or in {rule.env_var})")
            elif "bucket" in values:
                values[name] = f"s3://{values['bucket']}/athena-results/"
            continue
        value, origin = _setting_value(name, rule, raw, env, problems)
        if value is None and _SETTINGS_DEFAULTS.get(name, MISSING) is None:
            values[name] = None  # an optional setting left out (or written as null)
            continue
        problem = None if value is MISSING else _type_problem(value, rule.kind) or rule.check(value)
        if problem:
            problems.add("settings", name, problem, origin)
        elif value is not MISSING:
            values[name] = value

    if "raw_database" in values and values["raw_database"] == values.get("clean_database"):
        # Raw and clean tables are both named after the dataset: one database would make them collide.
        problems.add("settings", "clean_database", "must differ from raw_database")
    _check_storage(values, problems)
    _check_execution_class(values, problems)
    folders = {name: _folder(name, raw.get(name), env, config_dir, problems) for name in _FOLDER_SETTINGS}

    if len(problems.lines) > before or None in folders.values():
        return None
    return Settings(**values, **folders)


def _setting_value(
    name: str, rule: _SettingRule, raw: Mapping[str, Any], env: Mapping[str, str], problems: _Problems
) -> tuple[Any, str]:
    """The value and where it came from: the environment wins over the file, the file over the default.

    MISSING when an environment value could not be read (the problem is recorded).
    """
    if rule.env_var in env:
        origin = f"from environment variable {rule.env_var}"
        text = env[rule.env_var]
        if rule.kind is bool and text.lower() in ("true", "false"):
            return text.lower() == "true", origin
        if rule.kind is not int:
            return text, origin  # a bool variable that is neither true nor false is reported by its type check
        try:
            return int(text), origin
        except ValueError:
            problems.add("settings", name, f"must be an integer (got {text!r})", origin)
            return MISSING, origin
    if name in raw:
        value = raw[name]
        # YAML reads an unquoted 2026-11-01 as a date; the setting is its ISO text either way.
        return (value.isoformat() if type(value) is date else value), ""
    return _SETTINGS_DEFAULTS[name], ""


# Local folders: setting -> (environment variable, default).
_FOLDER_SETTINGS = {
    "source_root": (ENV_SOURCE_ROOT, DEFAULT_SOURCE_ROOT),
    "restore_root": (ENV_RESTORE_ROOT, DEFAULT_RESTORE_ROOT),
}


def _folder(name: str, raw: Any, env: Mapping[str, str], config_dir: Path, problems: _Problems) -> Path | None:
    # Not required to exist: where an agent uploads, Airflow never reads local files; restores create theirs.
    env_var, default = _FOLDER_SETTINGS[name]
    if env_var in env:
        return Path(env[env_var]).expanduser().absolute()
    if raw is None:
        return default
    problem = _type_problem(raw, str) or (None if raw else "must not be empty")
    if problem:
        problems.add("settings", name, problem)
        return None
    root = Path(raw).expanduser()
    return root if root.is_absolute() else (config_dir / root).resolve()


def _check_execution_class(values: dict[str, Any], problems: _Problems) -> None:
    """FLEX is refused by Glue at CreateJob for old Glue versions and other worker types: say so at parse time."""
    if values.get("glue_execution_class") != "FLEX":
        return
    version, worker_type = values.get("glue_version"), values.get("glue_worker_type")
    if version is not None and tuple(map(int, version.split("."))) < (3, 0):
        problems.add("settings", "glue_execution_class", f"FLEX needs glue_version 3.0 or later (got {version!r})")
    if worker_type is not None and worker_type not in FLEX_WORKER_TYPES:
        problems.add("settings", "glue_execution_class",
                     f"FLEX needs glue_worker_type {' or '.join(FLEX_WORKER_TYPES)} (got {worker_type!r})")


def _check_storage(values: dict[str, Any], problems: _Problems) -> None:
    """Encryption and lifecycle settings that only make sense together."""
    if values.get("sse") == "sse-kms" and not values.get("sse_kms_key_id"):
        problems.add("settings", "sse_kms_key_id", "is required with sse: sse-kms")
    if values.get("sse") == "sse-s3" and values.get("sse_kms_key_id"):
        problems.add("settings", "sse_kms_key_id", "is only used with sse: sse-kms")
    expire, transition = values.get("expire_after_days"), values.get("transition_after_days")
    if expire is not None and transition is not None and transition >= expire:
        problems.add("settings", "transition_after_days", f"must be less than expire_after_days ({expire})")


# --- datasets -------------------------------------------------------------------------------------------------

_DATASET_KEYS = ("name", "source", "format", "reader", "null_tokens", "keys", "schema", "locale", "order_by",
                 "on_empty", "rules", "schema_evolution", "flatten_separator", "time_zone", "rounding")
_DATASET_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")
_DECIMAL_TYPE = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_COLUMN_KEYS = ("name", "type", "nullable", "formats", "source")

# Read options per format: their defaults come from the contract, their checks from here.
_READER_CHECKS: dict[str, Check] = {
    "delimiter": _single_character,
    "quote": _single_character,
    "escape": _single_character,
    "encoding": _encoding,
    "header": _boolean,
    "skip_rows": lambda value: _type_problem(value, int) or _at_least(0)(value),
    "layout": _one_of(JSON_LAYOUTS),
}
_READER_OPTIONS: dict[str, dict[str, tuple[Any, Check]]] = {
    data_format: {key: (default, _READER_CHECKS[key]) for key, default in defaults.items()}
    for data_format, defaults in READER_DEFAULTS.items()
}
_LOCALE_OPTIONS: dict[str, tuple[Any, Check]] = {
    "decimal": (".", _single_character),
    "thousands": ("", _optional_character),
    "true_values": (list(TRUE_TOKENS), _token_list),
    "false_values": (list(FALSE_TOKENS), _token_list),
}

# Spark 3 datetime pattern letters; the week-based ones (Y, w, u, W, e, c) are rejected by Spark since 3.0.
_SPARK_PATTERN_LETTERS = set("GyDMLdQqEFahKkHmsSVzOXxZ")
_QUOTED_LITERAL = re.compile(r"'[^']*'")


def _load_datasets(raw: Any, problems: _Problems) -> tuple[Dataset, ...] | None:
    if not isinstance(raw, list) or not raw:
        problems.add("top level", "datasets", f"must be a non-empty list of datasets (got {raw!r})")
        return None
    datasets: list[Dataset] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(raw, start=1):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        where = f"dataset {name!r}" if isinstance(name, str) and name else f"dataset #{index}"
        if isinstance(name, str) and name in first_index:
            problems.add(where, "name", f"duplicate: dataset #{first_index[name]} has the same name")
        elif isinstance(name, str):
            first_index[name] = index
        dataset = _load_dataset(entry, where, problems)
        if dataset is not None:
            datasets.append(dataset)
    return tuple(datasets) if len(datasets) == len(raw) else None


def _load_dataset(raw: Any, where: str, problems: _Problems) -> Dataset | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "", f"must be a mapping (got {raw!r})")
        return None
    before = len(problems.lines)
    problems.unknown_keys(where, "", raw, _DATASET_KEYS)
    for required in ("name", "source", "format"):
        if required not in raw:
            problems.add(where, required, "is required")

    name = _checked(raw, "name", where, problems, _dataset_name_problem)
    source = _checked(raw, "source", where, problems, _source_problem)
    data_format = _checked(raw, "format", where, problems, _format_problem)
    reader = _load_reader(raw.get("reader", {}), data_format, where, problems)
    null_tokens = _checked(raw, "null_tokens", where, problems, _token_list, default=[])
    schema = _load_schema(raw.get("schema", []), where, problems)
    locale = _load_locale(raw.get("locale", {}), where, problems)
    keys = _checked(raw, "keys", where, problems, _name_list_problem, default=[])
    order_by = _checked(raw, "order_by", where, problems, _string_problem)
    on_empty = _checked(raw, "on_empty", where, problems, _on_empty_problem, default="fail")
    schema_evolution = _checked(raw, "schema_evolution", where, problems, _one_of(SCHEMA_EVOLUTION), default="add")
    flatten_separator = _checked(raw, "flatten_separator", where, problems, _separator_problem, default="_")
    if "flatten_separator" in raw and data_format == "csv":
        problems.add(where, "flatten_separator", "only json and parquet datasets have nested fields to flatten")
    time_zone = _checked(raw, "time_zone", where, problems, _time_zone_problem, default="UTC")
    rounding = _checked(raw, "rounding", where, problems, _one_of(ROUNDING), default="reject")
    rules = _load_rules(raw.get("rules", {}), schema, where, problems)

    # Cross-field checks run whenever their inputs are valid, so one run reports everything.
    if schema is not None and keys is not None:
        _check_keys(tuple(keys), order_by, schema, where, problems)
    locale_given = raw.get("locale") if isinstance(raw.get("locale"), Mapping) else {}
    if null_tokens is not None and locale is not None:
        _check_token_overlap(tuple(null_tokens), locale, set(locale_given), where, problems)
    if len(problems.lines) > before or reader is None:
        return None
    return Dataset(
        name=name,
        source=source,
        format=data_format,
        reader=MappingProxyType(reader),
        null_tokens=tuple(null_tokens),
        keys=tuple(keys),
        schema=schema,
        locale=Locale(**locale),
        order_by=order_by,
        on_empty=on_empty,
        rules=rules,
        schema_evolution=schema_evolution,
        flatten_separator=flatten_separator,
        time_zone=time_zone,
        rounding=rounding,
    )


def _checked(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    problems: _Problems,
    check: Check,
    default: Any = None,
    label: str = "",
) -> Any:
    """The value of ``key`` if it passes ``check`` (the default when absent); None after recording a problem."""
    if key not in raw:
        return default
    problem = check(raw[key])
    if problem:
        problems.add(where, label or key, problem)
        return None
    return raw[key]


def _dataset_name_problem(value: Any) -> str | None:
    problem = _type_problem(value, str)
    if problem:
        return problem
    if not _DATASET_NAME.fullmatch(value):
        # It becomes an S3 prefix and a Glue table name in both databases.
        return f"must match ^[a-z][a-z0-9_]{{0,62}}$ (got {value!r})"
    return None


def _separator_problem(value: Any) -> str | None:
    # Flattened names become Glue column names: lowercase letters, digits and _ only.
    return _type_problem(value, str) or (
        None if re.fullmatch(r"[a-z0-9_]{1,8}", value) else f"must be 1 to 8 of a-z, 0-9, _ (got {value!r})")


def _time_zone_problem(value: Any) -> str | None:
    problem = _type_problem(value, str)
    if problem:
        return problem
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"must be a time zone such as UTC or Europe/Madrid (got {value!r})"
    return None


_NUMERIC_TYPES = ("int", "bigint", "double")


def _load_rules(
    raw: Any, schema: tuple[ColumnSpec, ...] | None, where: str, problems: _Problems
) -> tuple[ColumnRule, ...]:
    """``rules: {column: {required, min, max, allowed, regex}}``; checked against the column's type when the
    schema gives it (without a schema the job checks them once it has inferred the types)."""
    problem = _type_problem(raw, dict)
    if problem:
        problems.add(where, "rules", problem)
        return ()
    types = {column.name: column.type for column in schema or ()}
    rules = []
    for column, checks in raw.items():
        field_name = f"rules.{column}"
        if not isinstance(column, str) or not _COLUMN_NAME.fullmatch(column):
            problems.add(where, field_name, "must name a column: lowercase letters, digits and _")
            continue
        if schema and column not in types:
            problems.add(where, field_name, f"{column!r} is not a schema column (columns: {', '.join(types)})")
            continue
        problem = _type_problem(checks, dict) or (None if checks else f"must set one of {', '.join(RULE_CHECKS)}")
        if problem:
            problems.add(where, field_name, problem)
            continue
        before = len(problems.lines)
        problems.unknown_keys(where, f"{field_name}.", checks, RULE_CHECKS)
        values = {key: _rule_value(checks[key], key, types.get(column), f"{field_name}.{key}", where, problems)
                  for key in RULE_CHECKS if key in checks}
        low, high = values.get("min"), values.get("max")
        if low is not None and high is not None and type(low) is type(high) and low > high:
            problems.add(where, f"{field_name}.max", f"must not be less than min ({low!r})")
        if len(problems.lines) == before:
            allowed = values.get("allowed")
            rules.append(ColumnRule(column=column, required=values.get("required", False), min=low, max=high,
                                    allowed=None if allowed is None else tuple(allowed), regex=values.get("regex")))
    return tuple(rules)


def _rule_value(value: Any, kind: str, column_type: str | None, field_name: str, where: str,
                problems: _Problems) -> Any:
    """The rule's value as the job receives it (dates as ISO text), or None after recording a problem."""
    if kind == "required":
        problem = _boolean(value)
    elif kind == "regex":
        problem = _type_problem(value, str)
        if problem is None and column_type not in (None, "string"):
            problem = f"applies to string columns (this one is {column_type})"
        if problem is None:
            try:
                re.compile(value)
            except re.error as error:
                problem = f"is not a regular expression: {error} (got {value!r})"
    elif kind == "allowed":
        problem = _type_problem(value, list) or (None if value else "must list at least one value")
        if problem is None:
            literals = [_rule_literal(item, column_type) for item in value]
            problem = next((p for p, _ in literals if p), None)
            value = [literal for _, literal in literals]
    else:  # min, max
        if column_type is not None and column_type not in (*_NUMERIC_TYPES, "date", "timestamp") \
                and not column_type.startswith("decimal"):
            problem = f"min and max apply to number, date and timestamp columns (this one is {column_type})"
        else:
            problem, value = _rule_literal(value, column_type)
    if problem:
        problems.add(where, field_name, problem)
        return None
    return value


def _rule_literal(value: Any, column_type: str | None) -> tuple[str | None, Any]:
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


def _on_empty_problem(value: Any) -> str | None:
    return _type_problem(value, str) or (
        None if value in ON_EMPTY else f"must be one of {', '.join(ON_EMPTY)} (got {value!r})")


def _source_problem(value: Any) -> str | None:
    problem = _type_problem(value, str)
    if problem:
        return problem
    if not value:
        return "must not be empty"
    if value.startswith(("/", "\\")) or PureWindowsPath(value).drive:
        return f"must be relative to the source root, not absolute (got {value!r})"
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        return f"must not contain '..' (got {value!r})"
    if value.endswith("/"):
        return f"must name files, not a folder: add a file pattern such as '*.csv' (got {value!r})"
    leftover = value.replace(RUN_DATE_PLACEHOLDER, "")
    if "{" in leftover or "}" in leftover:
        return f"the only placeholder is {{ds}} (got {value!r})"
    return None


def _string_problem(value: Any) -> str | None:
    return _type_problem(value, str) or (None if value else "must not be empty")


def _format_problem(value: Any) -> str | None:
    return _type_problem(value, str) or (
        None if value in FORMATS else f"must be one of {', '.join(FORMATS)} (got {value!r})"
    )


def _name_list_problem(value: Any) -> str | None:
    problem = _token_list(value)
    if problem:
        return problem
    if len(set(value)) != len(value):
        return f"must not repeat a column (got {value!r})"
    return None if all(value) else "must not contain empty names"


def _load_reader(raw: Any, data_format: str | None, where: str, problems: _Problems) -> dict[str, Any] | None:
    problem = _type_problem(raw, dict)
    if problem:
        problems.add(where, "reader", problem)
        return None
    if data_format is None:
        return None  # options cannot be judged without a valid format, already reported
    options = _READER_OPTIONS[data_format]
    reader: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        if key == "multiline" and data_format == "json":
            problems.add(where, "reader.multiline", "replaced by reader.layout: lines (one record per line), array "
                                                    "(one document per file) or auto (the default: decided per file)")
            ok = False
            continue
        if key not in options:
            problems.add(where, f"reader.{key}", _foreign_option_message(key, data_format))
            ok = False
            continue
        option_problem = options[key][1](value)
        if option_problem:
            problems.add(where, f"reader.{key}", option_problem)
            ok = False
    for key, (default, _) in options.items():
        reader[key] = raw.get(key, default)
    if ok and reader.get("skip_rows") and not reader["header"]:
        problems.add(where, "reader.skip_rows", "skips the lines before the header: it needs header: true")
        ok = False
    return reader if ok else None


def _foreign_option_message(key: str, data_format: str) -> str:
    owners = [fmt for fmt, options in _READER_OPTIONS.items() if key in options]
    own = ", ".join(_READER_OPTIONS[data_format]) or "none"
    if owners:
        return f"not a {data_format} reader option ({'/'.join(owners)} only; {data_format} options: {own})"
    return f"unknown key ({data_format} options: {own})"


def _load_locale(raw: Any, where: str, problems: _Problems) -> dict[str, Any] | None:
    """The locale's values (Locale's arguments), once the token lists are also checked against each other."""
    problem = _type_problem(raw, dict)
    if problem:
        problems.add(where, "locale", problem)
        return None
    before = len(problems.lines)
    problems.unknown_keys(where, "locale.", raw, tuple(_LOCALE_OPTIONS))
    values: dict[str, Any] = {}
    for key, (default, check) in _LOCALE_OPTIONS.items():
        value = raw.get(key, default)
        option_problem = check(value)
        if option_problem:
            problems.add(where, f"locale.{key}", option_problem)
        values[key] = tuple(value) if isinstance(value, list) else value
    if len(problems.lines) > before:
        return None
    if values["decimal"] == values["thousands"]:
        problems.add(where, "locale.thousands", f"must differ from locale.decimal (both {values['decimal']!r})")
        return None
    # "" in the file (no thousands separator) is None in the contract.
    return {**values, "thousands": values["thousands"] or None}


def _load_schema(raw: Any, where: str, problems: _Problems) -> tuple[ColumnSpec, ...] | None:
    problem = _type_problem(raw, list)
    if problem:
        problems.add(where, "schema", problem)
        return None
    before = len(problems.lines)
    columns = [_load_column(entry, index, where, problems) for index, entry in enumerate(raw, start=1)]
    # Sources default to names, so repeated names would be reported twice: check sources only after names.
    if not _check_unique([c.name for c in columns if c], "schema", "column name", where, problems):
        _check_unique([c.source_field for c in columns if c], "schema", "column source", where, problems)
    if len(problems.lines) > before:
        return None
    return tuple(c for c in columns if c)


def _check_unique(values: list[str], field_name: str, what: str, where: str, problems: _Problems) -> bool:
    """Records a problem and returns True when some value is repeated."""
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        problems.add(where, field_name, f"repeats the {what} {', '.join(map(repr, repeated))}")
    return bool(repeated)


def _load_column(raw: Any, index: int, where: str, problems: _Problems) -> ColumnSpec | None:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    prefix = f"schema.{name}" if isinstance(name, str) and name else f"schema[{index}]"
    if not isinstance(raw, Mapping):
        problems.add(where, prefix, f"must be a mapping with name and type (got {raw!r})")
        return None
    before = len(problems.lines)
    problems.unknown_keys(where, f"{prefix}.", raw, _COLUMN_KEYS)
    for required in ("name", "type"):
        if required not in raw:
            problems.add(where, f"{prefix}.{required}", "is required")

    if "name" in raw:
        problem = _type_problem(name, str) or (
            None if _COLUMN_NAME.fullmatch(name) else f"must be lowercase letters, digits and _ (got {name!r})"
        )
        if problem:
            problems.add(where, f"{prefix}.name", problem)
    column_type = _column_type(raw.get("type"), f"{prefix}.type", where, problems) if "type" in raw else None
    nullable = _checked(raw, "nullable", where, problems, _boolean, default=True, label=f"{prefix}.nullable")
    source = _checked(raw, "source", where, problems, _string_problem, label=f"{prefix}.source")
    formats = _column_formats(raw.get("formats", []), column_type, f"{prefix}.formats", where, problems)

    if len(problems.lines) > before:
        return None
    return ColumnSpec(name=name, type=column_type, nullable=nullable, formats=formats, source=source)


def _column_type(value: Any, field_name: str, where: str, problems: _Problems) -> str | None:
    """The canonical type name (``decimal(12,2)`` without spaces), or None after recording a problem."""
    problem = _type_problem(value, str)
    if problem is None:
        text = value.strip().lower()
        if text in SIMPLE_TYPES:
            return text
        decimal = _DECIMAL_TYPE.fullmatch(text)
        if decimal:
            precision, scale = int(decimal.group(1)), int(decimal.group(2))
            if 1 <= precision <= 38 and 0 <= scale <= precision:
                return f"decimal({precision},{scale})"
            problem = f"decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p (got {value!r})"
        else:
            problem = f"must be one of {', '.join(SIMPLE_TYPES)}, decimal(p,s) (got {value!r})"
    problems.add(where, field_name, problem)
    return None


def _column_formats(
    value: Any, column_type: str | None, field_name: str, where: str, problems: _Problems
) -> tuple[str, ...]:
    problem = _token_list(value)
    if problem is None and value and column_type not in ("date", "timestamp", None):
        problem = f"only date and timestamp columns take formats (this one is {column_type})"
    if problem is None:
        problem = next(filter(None, map(_spark_pattern_problem, value)), None)
    if problem:
        problems.add(where, field_name, problem)
        return ()
    return tuple(value)


def _spark_pattern_problem(pattern: str) -> str | None:
    """Catches the datetime-pattern mistakes Spark only reports at run time (or silently misparses)."""
    if not pattern:
        return "formats must not be empty strings"
    letters = set(re.sub(r"[^A-Za-z]", "", _QUOTED_LITERAL.sub("", pattern)))
    unsupported = sorted(letters - _SPARK_PATTERN_LETTERS)
    if unsupported:
        return (
            f"pattern {pattern!r} uses {', '.join(unsupported)}, not a Spark datetime pattern letter "
            "(year is 'yyyy', day of month 'dd')"
        )
    if "m" in letters and "M" not in letters and "d" in letters:
        return f"pattern {pattern!r} has minutes ('mm') but no month ('MM')"
    return None


def _check_keys(
    keys: tuple[str, ...], order_by: str | None, schema: tuple[ColumnSpec, ...], where: str, problems: _Problems
) -> None:
    columns = {column.name: column for column in schema}
    known = ", ".join(columns)
    if schema:
        for key in keys:
            if key not in columns:
                problems.add(where, "keys", f"{key!r} is not a schema column (columns: {known})")
            elif columns[key].nullable:
                problems.add(where, "keys", f"key column {key!r} must be declared nullable: false")
        if order_by is not None and order_by not in columns:
            problems.add(where, "order_by", f"{order_by!r} is not a schema column (columns: {known})")
    if order_by is not None and not keys:
        problems.add(where, "order_by", "needs keys: it picks the latest row among rows sharing the keys")


def _check_token_overlap(
    null_tokens: tuple[str, ...], locale: Mapping[str, Any], locale_given: set[str], where: str, problems: _Problems
) -> None:
    """A token in two lists would make a value both true and false, or both null and a boolean the locale lists.

    Null tokens apply first, so one that is also a default boolean spelling (a dataset's "-" or "n") is no
    conflict: only boolean lists the locale gives are compared with the null tokens.
    """
    lists = {
        "null_tokens": null_tokens,
        "locale.true_values": locale["true_values"],
        "locale.false_values": locale["false_values"],
    }
    names = list(lists)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if first == "null_tokens" and second.removeprefix("locale.") not in locale_given:
                continue
            # Values are trimmed before they are compared with tokens.
            shared = {t.strip().casefold() for t in lists[first]} & {t.strip().casefold() for t in lists[second]}
            if shared:
                problems.add(where, second, f"shares {', '.join(map(repr, sorted(shared)))} with {first}")


# --- run dates --------------------------------------------------------------------------------------------------


def _run_date_problem(value: str) -> str | None:
    try:
        check_run_date(value)
    except ValueError:
        return f"must be a date as YYYY-MM-DD (got {value!r})"
    return None
