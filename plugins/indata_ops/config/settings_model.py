"""``settings:`` of datasets.yaml: a pydantic-settings model whose ``BACKUP_*`` variables win over the file.

The environment is read by pydantic-settings' own ``EnvSettingsSource`` (prefix ``BACKUP_``; three settings keep
shorter historical names) from the mapping ``load_config`` is given, so tests and the CLI tools pass their own. A
value from the environment is text: integers and true/false are read from it here, and a problem with it names
the variable. A value from the file keeps its YAML type and must already be of the right one (strict).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from indata_contract import check_run_date
from indata_ops.config.checks import BucketName, Matching, S3Uri, problem

ENV_PREFIX = "BACKUP_"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SOURCE_ROOT = REPO_ROOT / "include" / "sample_data"
DEFAULT_RESTORE_ROOT = REPO_ROOT / ".local" / "restores"
SSE_MODES = ("sse-s3", "sse-kms")
GLUE_EXECUTION_CLASSES = ("STANDARD", "FLEX")
# Glue runs FLEX only for Spark jobs on Glue 3.0 or later with these worker types.
FLEX_WORKER_TYPES = ("G.1X", "G.2X")
STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")

GlueDatabase = Annotated[str, Matching(r"[a-z_][a-z0-9_]{0,254}", "a Glue database name: lowercase letters, digits, _")]
ConnectionId = Annotated[str, Matching(r"[\w.-]+", "an Airflow connection id")]
RoleArn = Annotated[str, Matching(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
                                  "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")]
Region = Annotated[str, Matching(r"[a-z]{2}(-[a-z]+)+-\d+", "an AWS region such as us-east-1")]
NamePrefix = Annotated[str, Matching(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", "letters, digits, '_' or '-'")]
WorkerType = Annotated[str, Matching(r"[A-Z]\.(025|[1-9][0-9]*)X", "a Glue worker type such as G.1X")]
GlueVersion = Annotated[str, Matching(r"\d+\.\d+", "a Glue version such as '5.0'")]
Workgroup = Annotated[str, Matching(r"[A-Za-z0-9._-]{1,128}", "an Athena workgroup name")]
KmsKey = Annotated[str, Matching(r"[\w:/+=,.@-]{1,2048}", "a KMS key id, ARN or alias")]
EmailList = Annotated[str, Matching(r"\s*[^@\s,]+@[^@\s,]+\.[^@\s,]+\s*(,\s*[^@\s,]+@[^@\s,]+\.[^@\s,]+\s*)*",
                                    "comma-separated e-mail addresses")]
Days = Annotated[int, Field(ge=1)]
EndpointUrl = Annotated[str, Matching(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?", "an http(s) URL of a host and "
                                      "optional port, such as http://127.0.0.1:4566")]


def _env(variable: str, name: str, default: Any = PydanticUndefined) -> Any:
    """A setting whose variable is not BACKUP_<NAME>: the file still uses the setting's name."""
    return Field(default, validation_alias=AliasChoices(name, variable))


class FromEnvironment(str):
    """A setting's text as the environment gave it, read into the setting's type by ``Settings``."""


class Settings(BaseSettings):
    """Global settings. Fields without a default are required in the file or in their variable."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", strict=True, env_prefix=ENV_PREFIX, case_sensitive=False,
        env_ignore_empty=True, populate_by_name=True, validate_default=False, use_attribute_docstrings=True)

    bucket: BucketName
    """S3 bucket for raw/, manifests/, clean/, rejects/ and athena-results/."""
    raw_database: GlueDatabase
    """Glue database the crawler fills: one table per dataset."""
    clean_database: GlueDatabase
    """Glue database of the cleaned tables (the same table names); must differ from raw_database."""
    glue_job_role: RoleArn = _env("BACKUP_GLUE_ROLE", "glue_job_role")
    """IAM role the Glue job and the crawlers run as."""
    region: Region
    """AWS region of the bucket, Glue and Athena."""
    athena_output: S3Uri | None = Field(None, validate_default=True)
    """Where Athena writes query results. Default: s3://<bucket>/athena-results/."""
    glue_job_name_prefix: NamePrefix = _env("BACKUP_GLUE_JOB_PREFIX", "glue_job_name_prefix", "indata-backup")
    """Glue job and crawler names start with it: they are account-wide, so two deployments can share one account."""
    glue_worker_type: WorkerType = "G.1X"
    """Glue worker type of the cleaning job; one very large CSV file needs a bigger worker, not more workers."""
    glue_number_of_workers: Annotated[int, Field(ge=2)] = _env("BACKUP_GLUE_WORKERS", "glue_number_of_workers", 2)
    """Glue workers per job run (Glue's minimum is 2)."""
    glue_version: GlueVersion = "5.0"
    """Glue version of the job (5.0 runs Spark 3.5, as tested). Quote it in YAML."""
    glue_execution_class: Literal[GLUE_EXECUTION_CLASSES] = "STANDARD"  # type: ignore[valid-type]
    """STANDARD starts at once; FLEX runs on spare capacity, costs less and may queue: for backfills. FLEX needs
    glue_version 3.0 or later and worker type G.1X or G.2X."""
    athena_workgroup: Workgroup = "primary"
    """Athena workgroup of the validation queries."""
    report_link_endpoint: EndpointUrl | None = None
    """Only with an endpoint_url in the connection (the local stack): the address a browser reaches that S3
    endpoint at, when it is not the one the workers use (docker-compose: http://127.0.0.1:4566). The "Validation
    report" link is presigned for it. On AWS the link is the S3 console's page and this is not used."""
    max_active_runs: Annotated[int, Field(ge=1)] = 1
    """DAG runs (dates) at once, e.g. during a backfill."""
    start_date: str = Field("2026-11-01", json_schema_extra={"format": "date"})
    """The DAG's first date (UTC, YYYY-MM-DD): scheduled runs start here and backfills cannot reach earlier. Set it
    to the first day of the local server's history to back that history up."""
    aws_conn_id: ConnectionId = "aws_default"
    """Airflow connection to AWS: local vs AWS is this connection's endpoint, not a flag."""
    worker_role: RoleArn | None = _env("BACKUP_WORKER_ROLE", "worker_role", None)
    """The ARN of the aws_default connection's role (`make deploy` prints it). When set, the backup task assumes it
    again with a session policy that lets its S3 client write only its dataset and date (raw/ and the manifest).
    This binds the backup task's client, not the role. Needs the connection's service_config.sts.endpoint_url
    wherever the connection's endpoint_url is set: the provider assumes roles only through that STS endpoint."""
    source_root: Path = Field(default_factory=lambda: DEFAULT_SOURCE_ROOT)
    """The local server's data root; a relative path is relative to the config file's folder. Default: the bundled
    include/sample_data. Need not exist where Airflow runs (an agent may upload)."""
    restore_root: Path = Field(default_factory=lambda: DEFAULT_RESTORE_ROOT)
    """The only folder the restore DAG writes in (the UI must not let anyone write anywhere the worker can);
    relative paths as for source_root. Default: .local/restores in the repository."""
    sse: Literal[SSE_MODES] = "sse-s3"  # type: ignore[valid-type]
    """Server-side encryption of every object the backup writes: sse-s3 (S3-managed keys) or sse-kms."""
    sse_kms_key_id: KmsKey | None = Field(None, validate_default=True)
    """KMS key id, ARN or alias: required with sse-kms, refused with sse-s3."""
    sse_bucket_key: bool = True
    """With sse-kms: one data key per bucket, not per object (fewer KMS calls)."""
    abort_multipart_days: Days = 7
    """Unfinished multipart uploads (a killed run) are dropped after this many days."""
    expire_after_days: Days | None = None
    """raw/ and manifests/ objects expire this many days after they were written (default: never)."""
    transition_after_days: Days | None = None
    """raw/ and manifests/ objects move to transition_storage_class after this many days (before any expiry)."""
    transition_storage_class: Literal[STORAGE_CLASSES] = "GLACIER_IR"  # type: ignore[valid-type]
    """Storage class of the lifecycle transition."""
    deferrable: bool = True
    """The crawl, the Glue job, the Athena queries and the manifest wait hand their waiting to the triggerer (no
    worker slot held for minutes); false makes them poll from the worker."""
    notify_email: EmailList | None = None
    """Failure notices by e-mail to these comma-separated addresses, through smtp_conn_id (always a log line)."""
    smtp_conn_id: ConnectionId = "smtp_default"
    """Airflow SMTP connection of the e-mail notices."""
    slack_webhook_conn_id: ConnectionId | None = None
    """Airflow HTTP connection whose host is a Slack incoming webhook URL (the secret stays in the connection)."""

    # Folders given in the environment are taken as they are (absolute, from the working directory).
    FOLDERS: ClassVar[tuple[str, ...]] = ("source_root", "restore_root")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_config merges the file and the environment it is given; building a Settings reads nothing else.
        return (init_settings,)

    @classmethod
    def env_variable(cls, name: str) -> str:
        """The variable that overrides setting ``name``."""
        alias = cls.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[-1])
        return f"{ENV_PREFIX}{name.upper()}"

    @field_validator("*", mode="before")
    @classmethod
    def _read_environment_text(cls, value: Any, info: ValidationInfo) -> Any:
        if type(value) is date:  # YAML reads an unquoted 2026-11-01 as a date; the setting is its ISO text
            return value.isoformat()
        if not isinstance(value, FromEnvironment):
            return value
        kinds = _types_of(cls.model_fields[info.field_name or ""].annotation)
        text = str(value)
        if int in kinds:
            try:
                return int(text)
            except ValueError:
                raise problem(f"must be an integer (got {text!r})") from None
        if bool in kinds and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if info.field_name in cls.FOLDERS:
            return Path(text).expanduser().absolute()
        return text  # a bool variable that is neither true nor false is reported by the type check

    @field_validator("start_date")
    @classmethod
    def _a_run_date(cls, value: str) -> str:
        try:
            check_run_date(value)
        except ValueError:
            raise problem(f"must be a date as YYYY-MM-DD (got {value!r})") from None
        return value

    @field_validator("source_root", "restore_root", mode="before")
    @classmethod
    def _a_folder(cls, value: Any) -> Any:
        """A folder as text (load_config has made a relative one relative to the config file)."""
        if isinstance(value, Path):
            return value
        if not isinstance(value, str):
            raise problem(f"must be a string (got {value!r})")
        if not value:
            raise problem("must not be empty")
        return Path(value).expanduser()

    @field_validator("clean_database")
    @classmethod
    def _not_the_raw_database(cls, value: str, info: ValidationInfo) -> str:
        # Raw and clean tables are both named after the dataset: one database would make them collide.
        if value == info.data.get("raw_database"):
            raise problem("must differ from raw_database")
        return value

    @field_validator("athena_output")
    @classmethod
    def _default_athena_output(cls, value: str | None, info: ValidationInfo) -> str | None:
        bucket = info.data.get("bucket")
        return f"s3://{bucket}/athena-results/" if value is None and bucket else value

    @field_validator("glue_execution_class")
    @classmethod
    def _flex_needs(cls, value: str, info: ValidationInfo) -> str:
        """FLEX is refused by Glue at CreateJob for old Glue versions and other worker types: say so now."""
        if value != "FLEX":
            return value
        version, worker_type = info.data.get("glue_version"), info.data.get("glue_worker_type")
        if version is not None and tuple(map(int, version.split("."))) < (3, 0):
            raise problem(f"FLEX needs glue_version 3.0 or later (got {version!r})")
        if worker_type is not None and worker_type not in FLEX_WORKER_TYPES:
            raise problem(f"FLEX needs glue_worker_type {' or '.join(FLEX_WORKER_TYPES)} (got {worker_type!r})")
        return value

    @field_validator("sse_kms_key_id")
    @classmethod
    def _key_with_kms(cls, value: str | None, info: ValidationInfo) -> str | None:
        sse = info.data.get("sse")
        if sse == "sse-kms" and not value:
            raise problem("is required with sse: sse-kms")
        if sse == "sse-s3" and value:
            raise problem("is only used with sse: sse-kms")
        return value

    @field_validator("transition_after_days")
    @classmethod
    def _transition_before_expiry(cls, value: int | None, info: ValidationInfo) -> int | None:
        expire = info.data.get("expire_after_days")
        if value is not None and expire is not None and value >= expire:
            raise problem(f"must be less than expire_after_days ({expire})")
        return value

    @property
    def notify_email_addresses(self) -> tuple[str, ...]:
        return tuple(address.strip() for address in (self.notify_email or "").split(",") if address.strip())

    def encryption_args(self) -> dict[str, Any]:
        """The S3 arguments that encrypt an object as configured (PutObject, CreateMultipartUpload, CopyObject)."""
        if self.sse == "sse-kms":
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key_id,
                    "BucketKeyEnabled": self.sse_bucket_key}
        return {"ServerSideEncryption": "AES256"}


def _types_of(annotation: Any) -> set[Any]:
    """The plain types an annotation accepts: ``Annotated[int, ...] | None`` -> {int, NoneType}."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _types_of(get_args(annotation)[0])
    if origin is Union or type(annotation).__name__ == "UnionType":
        return set().union(*map(_types_of, get_args(annotation)))
    return {annotation}


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._given = dict(environ)
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Only BACKUP_* variables: a setting's own name (the file's key, also an alias) is no variable.
        return {name.lower(): value for name, value in self._given.items()
                if value != "" and name.startswith(ENV_PREFIX)}


def with_folders_from(config_dir: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The file's settings with a relative folder made relative to the file's folder, not the working one."""
    resolved = dict(settings)
    for name in Settings.FOLDERS:
        value = settings.get(name)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            resolved[name] = str((config_dir / Path(value).expanduser()).resolve())
    return resolved


def environment_settings(environ: Mapping[str, str]) -> dict[str, FromEnvironment]:
    """The settings the environment sets, by setting name, each marked as environment text."""
    found = _GivenEnvironment(environ)()
    names = {name: name for name in Settings.model_fields} | {
        Settings.env_variable(name).lower(): name for name in Settings.model_fields}
    return {names.get(key.lower(), key): FromEnvironment(value) for key, value in found.items()}
