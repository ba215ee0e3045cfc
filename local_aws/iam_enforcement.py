"""Opt-in IAM enforcement: every request is authenticated and authorised against the caller's IAM policies.

Off by default; on with `--enforce-iam` or `LOCAL_AWS_ENFORCE_IAM=1`. Then:

- moto's own authorization is switched on the supported way (`settings.INITIAL_NO_AUTH_ACTION_COUNT = 0`): it checks
  the signature of every request it serves and evaluates S3 (bucket and key ARNs), IAM, STS, CloudFormation and the
  other services it answers.
- Glue, Athena and CloudWatch Logs requests, the data plane's and moto's alike, are authorised here with the resource
  ARNs AWS uses (catalog, database, table, crawler, job, workgroup, log group): moto evaluates those services
  against the resource `*` only, which no resource-scoped statement matches, so its check is left to this module
  for them. Signatures and principals are moto's (`IAMRequest`), and so is the policy evaluation (`IAMPolicy`).
- Two checks moto gets wrong are made here and moto's skipped for that request: sts:AssumeRole (moto fails on a
  trust policy with a service principal) and DeleteObjects (moto checks the bucket's ARN, not each key's).
- A role trusted by a service is handed out as that service would (`ROLE_CREDENTIALS_PATH`): the local twin of
  an instance profile or a task role.
- The Glue job run and the crawl run as their `Role`, assumed through STS as Glue assumes it (the role must trust
  `glue.amazonaws.com`); Athena reads the catalog and S3 and writes its results with the caller's credentials,
  and those requests carry `aws:CalledVia = [athena.amazonaws.com]` (a direct call carries none), as AWS's forward
  access sessions do.
- Conditions are evaluated here, in place of moto's (which knows `StringEquals` only, and answers a condition that
  does not hold with a Deny): `StringEquals`, `StringLike`, `ArnEquals` and `ArnLike`, `...IfExists`, and
  `ForAnyValue:` / `ForAllValues:` over multi-valued keys; a statement whose condition does not hold does not apply.
  A `NotResource` statement applies to the resources it does not name (moto reads it as a trust statement's).
- Session policies (the `Policy` of AssumeRole) bind the session as AWS binds it: every request, whoever decides it
  (moto or this module), needs an Allow from the role's policies and from the session policy, and a Deny in either
  refuses it (local_aws.iam_sessions). A trust statement applies only where its Condition holds, with
  `aws:PrincipalArn` (the role's ARN for a role session); AssumeRole refuses a session policy over 2,048 characters
  or malformed, and a duration over 1 hour for a role session (role chaining) or over the role's maximum.
- The account's administrator is an IAM user whose keys are the dummy credentials the repository's tools use
  (`testing`/`testing` and `local`/`local`), so `make deploy` works unchanged; the data plane's own bookkeeping
  (log shipping, listing buckets for Spark's configuration) uses a user of its own with a random secret.

Not evaluated: resource-based policies (bucket and key policies), permission boundaries, managed session policies
(`PolicyArns`), session tags, SCPs, other condition operators (ignored, as moto ignores them), the packed size of a
session policy, and the expiry of assumed-role credentials.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import io
import json
import logging
import os
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from botocore.credentials import Credentials, ReadOnlyCredentials
from werkzeug.datastructures import EnvironHeaders

from local_aws.errors import AWSError
from local_aws.iam_sessions import check_assume_role_form, principal_arn, session_allows

log = logging.getLogger("local_aws.iam")

ENV_FLAG = "LOCAL_AWS_ENFORCE_IAM"
ACCOUNT = "123456789012"
PARTITION = "aws"
ADMIN_USER = "local-aws-admin"
# The dummy keys of the repository's tools (tests and Airflow: testing; make deploy and the AWS CLI: local).
ADMIN_KEYS = (("testing", "testing"), ("local", "local"))
SERVICE_USER = "local-aws-data-plane"
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
# Where a process gets a role's credentials as the service the role trusts gives them: the local twin of the EC2
# instance profile and of the ECS task role (botocore's container provider, AWS_CONTAINER_CREDENTIALS_FULL_URI).
ROLE_CREDENTIALS_PATH = "/_local_aws/role-credentials/"
PRINCIPAL_KEY = "local_aws.principal"  # WSGI environ: set once a request is authenticated (not settable by clients)
# Services whose authorisation happens here (resource ARNs); moto authorises the rest.
CHECKED_HERE = ("glue", "athena", "logs")
GLUE_ROLE_SERVICE = "glue.amazonaws.com"
ATHENA_SERVICE = "athena.amazonaws.com"
# Marks a request the data plane makes for a caller through a service (Athena): "<service> <proof>". The proof is
# random per process, so no client can claim a service's path.
CALLED_VIA_HEADER = "X-Local-Aws-Called-Via"
_called_via_proof = secrets.token_urlsafe(24)

_service_keys: tuple[str, str] = ("local", "local")  # the data plane's own identity; random under enforcement
_caller: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("local_aws_caller", default=None)
_acting = threading.local()
_request_state = threading.local()  # per request, in the thread that serves it (moto answers in the same thread)


def enabled_from_env() -> bool:
    return os.environ.get(ENV_FLAG, "").strip().lower() in ("1", "true", "yes", "on")


def service_credentials() -> tuple[str, str]:
    """The keys of the data plane's own calls to the stack."""
    return _service_keys


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its ARN, its credentials (for calls made on its behalf) and its policies."""

    arn: str
    credentials: ReadOnlyCredentials
    _access_key: Any  # moto's IAMUserAccessKey or AssumedRoleAccessKey

    def policies(self) -> list[Any]:
        return self._access_key.collect_policies()


def current_caller() -> Principal | None:
    """The principal of the request being handled (None when enforcement is off)."""
    return _caller.get()


# --- credentials of the principal a data-plane thread acts for ------------------------------------------------------
class ActingCredentials(Credentials):
    """botocore credentials that sign with the principal the current thread acts for (`acting_as`), else with the
    data plane's own keys: one client serves every caller of a shared engine."""

    def __init__(self):
        super().__init__(*_service_keys)

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        acting = getattr(_acting, "credentials", None)
        return acting if acting is not None else ReadOnlyCredentials(*_service_keys, None)


def acting_for_a_caller() -> bool:
    return getattr(_acting, "credentials", None) is not None


@contextlib.contextmanager
def acting_as(credentials: ReadOnlyCredentials | None) -> Iterator[None]:
    previous = getattr(_acting, "credentials", None)
    _acting.credentials = credentials
    try:
        yield
    finally:
        _acting.credentials = previous


def client(service: str, endpoint: str, region: str, credentials: ReadOnlyCredentials | None = None,
           called_via: str | None = None):
    """A boto3 client of the stack: with the given credentials, or signing as `acting_as` says. With `called_via`,
    what it sends for a caller carries `aws:CalledVia` (that service) in the request's context."""
    import boto3

    if credentials is not None:
        return boto3.client(service, endpoint_url=endpoint, region_name=region,
                            aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
                            aws_session_token=credentials.token)
    made = boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=_service_keys[0], aws_secret_access_key=_service_keys[1])
    made._request_signer._credentials = ActingCredentials()  # botocore reads it at each signing
    if called_via is not None:
        def mark(request, **_kwargs):
            if acting_for_a_caller():
                request.headers[CALLED_VIA_HEADER] = f"{called_via} {_called_via_proof}"

        made.meta.events.register("before-sign", mark)
    return made


# --- condition evaluation ------------------------------------------------------------------------------------------
def _string_like(actual: str, pattern: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), actual, re.DOTALL) is not None


# An ARN operator compares the six colon-separated fields one by one; with the patterns of policies (no `:` inside
# a wildcard of a service, region or account field) a whole-string match is the same.
STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected, "StringLike": _string_like,
    "ArnEquals": lambda actual, expected: actual == expected, "ArnLike": _string_like}


def conditions_hold(conditions: dict[str, dict[str, Any]] | None, context: dict[str, Any]) -> bool:
    """A statement's Condition block against the request's context, as IAM evaluates it: every operator and every
    key must hold; a key holds when one of its policy values matches. Multi-valued keys: `ForAnyValue:` holds when
    some context value matches (never for an absent or empty key), `ForAllValues:` when every one does (also for an
    absent key). `...IfExists` holds for an absent key. Operators not listed in STRING_OPERATORS are not evaluated."""
    values = {key.lower(): [str(v) for v in _as_list(value)] for key, value in context.items()}
    for operator, keys in (conditions or {}).items():
        qualifier, _, name = operator.rpartition(":")
        if_exists = name.endswith("IfExists")
        match = STRING_OPERATORS.get(name.removesuffix("IfExists"))
        if match is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
            continue
        for key, expected in keys.items():
            patterns = [str(e) for e in _as_list(expected)]
            actual = values.get(key.lower())
            if not actual:
                if if_exists or qualifier == "ForAllValues":
                    continue
                return False
            hits = [any(match(value, pattern) for pattern in patterns) for value in actual]
            if not (all(hits) if qualifier == "ForAllValues" else any(hits)):
                return False
    return True


def request_context() -> dict[str, Any]:
    """The context keys of the request being served in this thread (set when it is admitted)."""
    return getattr(_request_state, "context", {})


def _context_of(headers: EnvironHeaders) -> dict[str, Any]:
    service, _, proof = (headers.get(CALLED_VIA_HEADER) or "").partition(" ")
    if proof and secrets.compare_digest(proof, _called_via_proof):
        return {"aws:CalledVia": [service], "aws:CalledViaFirst": service, "aws:CalledViaLast": service}
    return {}


def _evaluate_conditions_here() -> None:
    """moto's statements evaluate conditions with `conditions_hold`, over the request's context and the values the
    caller passes; a statement whose condition does not hold is not applicable (moto answers Deny)."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if getattr(IAMPolicyStatement, "_local_aws_conditions", False):
        return
    moto_decision = IAMPolicyStatement.is_action_permitted

    def check_conditions(statement, incoming_condition_values=None):
        return conditions_hold(statement._statement.get("Condition"),
                               {**request_context(), **(incoming_condition_values or {})})

    def is_action_permitted(statement, action, resource="*", principal=None, incoming_condition_values=None):
        result = moto_decision(statement, action, resource, principal, incoming_condition_values)
        if result is PermissionResult.DENIED and not statement._check_conditions(incoming_condition_values):
            return PermissionResult.NEUTRAL
        if result is PermissionResult.PERMITTED and "NotResource" in statement._statement and (
                "Resource" not in statement._statement):  # moto reads it as a trust statement: any resource, Allow
            if statement._check_element_matches("NotResource", resource):
                return PermissionResult.NEUTRAL
            return PermissionResult.PERMITTED if statement._statement.get("Effect") == "Allow" else (
                PermissionResult.DENIED)
        return result

    IAMPolicyStatement._check_conditions = check_conditions
    IAMPolicyStatement.is_action_permitted = is_action_permitted
    IAMPolicyStatement._local_aws_conditions = True


def _bind_sessions_to_their_policy() -> None:
    """What moto decides (S3, IAM, STS, CloudFormation) also needs the session policy's Allow: moto evaluates
    only the role's policies."""
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, "_local_aws_sessions", False):
        return
    moto_decision = IAMRequestBase.check_action_permitted

    def check_action_permitted(request, resource):
        moto_decision(request, resource)
        if request._action != "sts:GetCallerIdentity" and not session_allows(  # AWS always answers that one
                request._access_key, request._action, resource, request_context()):
            request._raise_access_denied()

    IAMRequestBase.check_action_permitted = check_action_permitted
    IAMRequestBase._local_aws_sessions = True


# --- resource ARNs of Glue, Athena and Logs actions ---------------------------------------------------------------
GLUE_CRAWLER_ACTIONS = {"CreateCrawler", "GetCrawler", "UpdateCrawler", "DeleteCrawler", "StartCrawler",
                        "StopCrawler", "UpdateCrawlerSchedule", "StartCrawlerSchedule", "StopCrawlerSchedule"}
GLUE_JOB_ACTIONS = {"CreateJob", "GetJob", "UpdateJob", "DeleteJob", "StartJobRun", "GetJobRun", "GetJobRuns",
                    "BatchStopJobRun", "GetJobBookmark", "ResetJobBookmark"}
GLUE_DATABASE_ACTIONS = {"GetDatabase", "CreateDatabase", "DeleteDatabase", "UpdateDatabase"}
GLUE_TAG_ACTIONS = {"TagResource", "UntagResource", "GetTags"}
ATHENA_WORKGROUP_ACTIONS = {"StartQueryExecution", "ListQueryExecutions", "GetWorkGroup", "CreateWorkGroup",
                            "DeleteWorkGroup", "UpdateWorkGroup", "ListNamedQueries", "CreateNamedQuery"}
ATHENA_QUERY_ACTIONS = {"GetQueryExecution", "GetQueryResults", "StopQueryExecution"}
# Actions on a data catalog: AWS authorizes them on the catalog's ARN (datacatalog/<name>), not a workgroup's.
ATHENA_CATALOG_ACTIONS = {"GetTableMetadata", "ListTableMetadata", "GetDatabase", "ListDatabases", "GetDataCatalog"}


def glue_resources(action: str, payload: dict[str, Any], region: str) -> list[str]:
    def arn(resource: str) -> str:
        return f"arn:{PARTITION}:glue:{region}:{ACCOUNT}:{resource}"

    if action in GLUE_CRAWLER_ACTIONS:
        return [arn(f"crawler/{payload.get('Name') or payload.get('CrawlerName', '')}")]
    if action == "BatchGetCrawlers":
        return [arn(f"crawler/{name}") for name in payload.get("CrawlerNames", [])] or [arn("crawler/*")]
    if action in GLUE_JOB_ACTIONS:
        return [arn(f"job/{payload.get('JobName') or payload.get('Name', '')}")]
    if action == "BatchGetJobs":
        return [arn(f"job/{name}") for name in payload.get("JobNames", [])] or [arn("job/*")]
    if action in GLUE_TAG_ACTIONS:
        return [payload.get("ResourceArn", "")]
    catalog = arn("catalog")
    if action in GLUE_DATABASE_ACTIONS:
        name = payload.get("Name") or (payload.get("DatabaseInput") or {}).get("Name", "")
        return [catalog, arn(f"database/{name}")]
    if action == "GetDatabases":
        return [catalog]
    database = payload.get("DatabaseName")
    if database is None:
        return ["*"]
    table = (payload.get("TableName") or (payload.get("TableInput") or {}).get("Name") or
             (payload.get("Name") if action.endswith("Table") else None))
    tables = [arn(f"table/{database}/{table}")] if table else [arn(f"table/{database}/*")]
    if action == "BatchDeleteTable":
        tables = [arn(f"table/{database}/{name}") for name in payload.get("TablesToDelete", [])]
    return [catalog, arn(f"database/{database}"), *tables]


def athena_workgroup_arn(workgroup: str, region: str) -> str:
    return f"arn:{PARTITION}:athena:{region}:{ACCOUNT}:workgroup/{workgroup}"


def logs_resources(payload: dict[str, Any], region: str) -> list[str]:
    group = payload.get("logGroupName") or payload.get("logGroupIdentifier")
    if not group:
        return ["*"]
    base = f"arn:{PARTITION}:logs:{region}:{ACCOUNT}:log-group:{group}"
    stream = payload.get("logStreamName")
    return [f"{base}:log-stream:{stream}"] if stream else [base]


def s3_object_arn(uri: str) -> str:
    return "arn:aws:s3:::" + uri.removeprefix("s3://")


# --- the enforcer ------------------------------------------------------------------------------------------------
class Enforcer:
    """Authenticates requests with moto's IAMRequest and authorises them with moto's IAMPolicy."""

    def __init__(self, query_lookup: Callable[[str], dict[str, Any] | None] = lambda _id: None):
        self.query_lookup = query_lookup  # Athena query id -> its execution (workgroup, output location)

    def install(self) -> None:
        """Turn moto's authorization on and make the administrator and the data plane's identities."""
        global _service_keys
        from moto import settings
        from moto.athena.responses import AthenaResponse
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.glue.responses import GlueResponse
        from moto.iam.models import iam_backends
        from moto.logs.responses import LogsResponse
        from moto.s3.responses import S3Response
        from moto.sts.responses import TokenResponse as STSResponse

        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        _evaluate_conditions_here()
        _bind_sessions_to_their_policy()
        ActionAuthenticatorMixin.request_count = 0
        for response_class in (GlueResponse, AthenaResponse, LogsResponse):  # authorised in server.py, with ARNs
            response_class._authenticate_and_authorize_normal_action = lambda self, resource="*": None
        bucket_level_check = S3Response._authenticate_and_authorize_s3_action
        sts_check = STSResponse._authenticate_and_authorize_normal_action

        def s3_check(response, bucket_name=None, key_name=None):
            if not getattr(_request_state, "checked_here", False):
                bucket_level_check(response, bucket_name=bucket_name, key_name=key_name)

        def assume_role_check(response, resource="*"):
            if not getattr(_request_state, "checked_here", False):
                sts_check(response, resource)

        S3Response._authenticate_and_authorize_s3_action = s3_check
        STSResponse._authenticate_and_authorize_normal_action = assume_role_check
        iam = iam_backends[ACCOUNT][PARTITION]
        _service_keys = ("LOCALAWSDATAPLANE" + secrets.token_hex(4).upper(), secrets.token_urlsafe(30))
        for user, key_pairs in ((ADMIN_USER, ADMIN_KEYS), (SERVICE_USER, [_service_keys])):
            if user not in iam.users:  # a restored state keeps them
                iam.create_user("us-east-1", user, path="/local-aws/")
                iam.put_user_policy(user, "everything", ALLOW_ALL)
            for name, old in list(iam.access_keys.items()):
                if old.user_name == user:
                    del iam.access_keys[name]
            iam.users[user].access_keys.clear()
            for key_id, secret in key_pairs:  # fixed (or this start's) keys in place of generated ones
                key = iam.create_access_key(user)
                del iam.access_keys[key.physical_resource_id]
                key.access_key_id, key.secret_access_key = key_id, secret
                iam.access_keys[key.physical_resource_id] = key
        log.info("IAM enforcement on: requests are checked against IAM policies (administrator: user %s)",
                 ADMIN_USER)

    # --- authentication ---------------------------------------------------------------------------------------
    def admit(self, environ: dict[str, Any], service: str | None) -> None:
        """Refuse what enforcement cannot let through; authenticate Glue, Athena and Logs requests here (moto
        authenticates the rest)."""
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            raise AWSError("AccessDenied", "moto's management API is closed while IAM is enforced.", 403)
        if PRINCIPAL_KEY in environ:  # an Athena REST-JSON request, re-entered as its JSON twin
            return
        headers = EnvironHeaders(environ)
        if "Authorization" not in headers:
            query_protocol = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
            if service == "s3" or "X-Amz-Credential" in environ.get("QUERY_STRING", "") or (
                    service is None and "HTTP_X_AMZ_TARGET" not in environ and not query_protocol):
                raise AWSError("AccessDenied", "Access Denied: the request is not signed (presigned URLs are "
                               "not supported while IAM is enforced).", 403)
            raise AWSError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
        _request_state.checked_here = False
        _request_state.context = _context_of(headers)
        if service in CHECKED_HERE:
            environ[PRINCIPAL_KEY] = self.authenticate(environ, headers)
        elif service == "s3" and environ.get("REQUEST_METHOD") == "POST" and "delete" in urllib.parse.parse_qs(
                environ.get("QUERY_STRING", ""), keep_blank_values=True):
            self._authorize_delete_objects(environ, headers)
        elif service == "sts" and urllib.parse.parse_qs(_body(environ).decode("utf-8", "replace")).get(
                "Action") == ["AssumeRole"]:
            self._authorize_assume_role(environ, headers)

    def _authorize_assume_role(self, environ: dict[str, Any], headers: EnvironHeaders) -> None:
        """sts:AssumeRole by a user or a role session: the caller's policies (and session policy) must allow it on
        the role, and a trust statement must name the caller (its ARN, its role's ARN for a role session, its
        account or "*") with its Condition holding (`aws:PrincipalArn` is the caller's user or role ARN). moto fails
        on a trust policy with a service principal (all of the template's), so the check is made here and moto's
        skipped."""
        principal = self.authenticate(environ, headers)
        form = urllib.parse.parse_qs(_body(environ).decode("utf-8", "replace"))
        arn = (form.get("RoleArn") or [""])[0]
        try:
            role = _iam().get_role_by_arn(arn)
        except Exception:
            role = None
        caller_arn = principal_arn(principal._access_key)
        check_assume_role_form(form, chained=caller_arn != principal.arn,
                               max_session_seconds=int(role.max_session_duration or 3600) if role else None)
        self.authorize(principal, "sts:AssumeRole", [arn], code=("AccessDenied", 403))
        refusal = AWSError("AccessDenied", f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on "
                           f"resource: {arn}", 403)
        if role is None:
            raise refusal
        callers = {principal.arn, caller_arn, f"arn:{PARTITION}:iam::{ACCOUNT}:root", ACCOUNT, "*"}
        context = {**request_context(), "aws:PrincipalArn": caller_arn}
        if not any(_allows_assume_role(statement) and callers & _principals(statement, "AWS") and conditions_hold(
                statement.get("Condition"), context) for statement in _statements(_document(
                    role.assume_role_policy_document))):
            raise refusal
        _request_state.checked_here = True

    def _authorize_delete_objects(self, environ: dict[str, Any], headers: EnvironHeaders) -> None:
        """DeleteObjects needs s3:DeleteObject on each key, where moto checks the bucket's ARN (which no statement
        scoped to a prefix matches) and then refuses every key. A refused key refuses the whole request here (AWS
        would answer it in the per-key errors)."""
        from moto.iam.access_control import S3IAMRequest

        principal = self.authenticate(environ, headers, S3IAMRequest)
        bucket = urllib.parse.unquote(environ.get("PATH_INFO", "")).strip("/").partition("/")[0]
        document = ElementTree.fromstring(_body(environ))
        for node in document.iter():
            if node.tag.rsplit("}", 1)[-1] == "Object":
                fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
                action = "s3:DeleteObjectVersion" if fields.get("VersionId") else "s3:DeleteObject"
                self.authorize(principal, action, [f"arn:{PARTITION}:s3:::{bucket}/{fields.get('Key', '')}"],
                               code=("AccessDenied", 403))
        _request_state.checked_here = True  # moto's bucket-level check of this request is then skipped

    @staticmethod
    def authenticate(environ: dict[str, Any], headers: EnvironHeaders, request_class: type | None = None
                     ) -> Principal:
        from moto.core.exceptions import HTTPException
        from moto.iam.access_control import IAMRequest

        path = environ.get("RAW_URI") or urllib.parse.quote(environ.get("PATH_INFO", "/"))
        if "?" not in path and environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        body = _body(environ)
        try:
            request = (request_class or IAMRequest)(account_id=ACCOUNT, method=environ["REQUEST_METHOD"],
                                                    path=path, data={}, body=body, headers=headers, action="")
            request.check_signature()
        except HTTPException as error:  # InvalidClientTokenId, SignatureDoesNotMatch
            raise AWSError(error.error_type, error.message, error.code) from None
        access_key = request._access_key
        return Principal(access_key.arn, access_key.create_credentials().get_frozen_credentials(), access_key)

    # --- authorisation ----------------------------------------------------------------------------------------
    def authorize(self, principal: Principal, action: str, resources: list[str],
                  conditions: dict[str, Any] | None = None,
                  code: tuple[str, int] = ("AccessDeniedException", 400)) -> None:
        """AccessDeniedException unless every resource is allowed and none denied, as IAM decides: by the caller's
        policies and, for a role session, by its session policy too."""
        from moto.iam.access_control import IAMPolicy, PermissionResult

        policies = [IAMPolicy(policy) for policy in principal.policies()]
        context = {**request_context(), **(conditions or {})}
        for resource in resources:
            results = {policy.is_action_permitted(action, resource, None, conditions) for policy in policies}
            if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results or not session_allows(
                    principal._access_key, action, resource, context):
                raise AWSError(code[0], f"User: {principal.arn} is not authorized to perform: {action} on "
                               f"resource: {resource}", code[1])

    def authorize_request(self, environ: dict[str, Any], service: str, action: str, payload: dict[str, Any]) -> None:
        """The check of a Glue, Athena or Logs request, before the data plane or moto answers it."""
        principal: Principal = environ[PRINCIPAL_KEY]
        region = _region_of(environ)
        if service == "glue":
            self.authorize(principal, f"glue:{action}", glue_resources(action, payload, region))
            role = payload.get("Role") or (payload.get("JobUpdate") or {}).get("Role")
            if action in ("CreateJob", "UpdateJob", "CreateCrawler", "UpdateCrawler") and role:
                self.authorize(principal, "iam:PassRole", [role_arn(role)],
                               {"iam:PassedToService": GLUE_ROLE_SERVICE})
        elif service == "athena":
            self.authorize(principal, f"athena:{action}", self._athena_resources(action, payload, region))
            if action == "GetQueryResults":  # Athena reads the result file with the caller's permissions
                execution = self.query_lookup(payload.get("QueryExecutionId", "")) or {}
                output = (execution.get("ResultConfiguration") or {}).get("OutputLocation")
                if output:
                    self.authorize(principal, "s3:GetObject", [s3_object_arn(output)],
                                   {"aws:CalledVia": [ATHENA_SERVICE]})
        elif service == "logs":
            self.authorize(principal, f"logs:{action}", logs_resources(payload, region))
        _caller.set(principal)

    def _athena_resources(self, action: str, payload: dict[str, Any], region: str) -> list[str]:
        if action in ATHENA_WORKGROUP_ACTIONS:
            return [athena_workgroup_arn(payload.get("WorkGroup") or payload.get("Name") or "primary", region)]
        if action in ATHENA_CATALOG_ACTIONS:
            catalog = payload.get("CatalogName") or payload.get("Name") or ""
            return [f"arn:{PARTITION}:athena:{region}:{ACCOUNT}:datacatalog/{catalog}"]
        ids = [payload.get("QueryExecutionId", "")] if action in ATHENA_QUERY_ACTIONS else (
            payload.get("QueryExecutionIds", []) if action == "BatchGetQueryExecution" else None)
        if ids is None:
            return ["*"]
        executions = [self.query_lookup(query_id) for query_id in ids]
        # An unknown id is answered by the handler (InvalidRequestException); it discloses nothing.
        return [athena_workgroup_arn(e["WorkGroup"], region) for e in executions if e is not None]

    def role_credentials(self, path: str) -> dict[str, str]:
        """`/_local_aws/role-credentials/<service>/<role name>`: the role's credentials, assumed as the service
        (say ec2.amazonaws.com for an instance profile), in the container provider's format."""
        service, _, role = path[len(ROLE_CREDENTIALS_PATH):].partition("/")
        if not service.endswith(".amazonaws.com") or not role:
            raise AWSError("InvalidRequest", f"Expected {ROLE_CREDENTIALS_PATH}<service>/<role name>, got {path}")
        credentials = self.assume_service_role(role, service, f"{service.split('.')[0]}-{role}")
        expiration = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=11)
        return {"AccessKeyId": credentials.access_key, "SecretAccessKey": credentials.secret_key,
                "Token": credentials.token, "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "RoleArn": role_arn(role)}

    # --- roles the data plane runs as -------------------------------------------------------------------------
    @staticmethod
    def assume_service_role(role: str, service: str, session_name: str) -> ReadOnlyCredentials:
        """Credentials of `role` assumed as `service` does it: the role's trust policy must name the service."""
        from moto.sts.models import sts_backends

        arn = role_arn(role)
        try:
            trust = _document(_iam().get_role_by_arn(arn).assume_role_policy_document)
        except Exception:
            raise AWSError("AccessDeniedException", f"Role {arn} cannot be found or assumed.", 400) from None
        if not any(_allows_assume_role(statement) and service in _principals(statement, "Service")
                   for statement in _statements(trust)):
            raise AWSError("AccessDeniedException",
                           f"{service} is not authorized to perform: sts:AssumeRole on resource: {arn}", 400)
        assumed = sts_backends[ACCOUNT][PARTITION].assume_role(
            region_name="us-east-1", role_session_name=session_name[:64], role_arn=arn, policy="",
            duration=43200, external_id="")
        return ReadOnlyCredentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)


def _body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back for whoever reads it next (moto)."""
    if not isinstance(environ["wsgi.input"], io.BytesIO):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length) if length else b"")
    return environ["wsgi.input"].getvalue()


def _iam():
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT][PARTITION]


def _document(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else document


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(document.get("Statement")) if isinstance(document.get("Statement"), list) else [
        document["Statement"]]


def _allows_assume_role(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow" and "sts:AssumeRole" in _as_list(statement.get("Action"))


def _principals(statement: dict[str, Any], kind: str) -> set[str]:
    """A trust statement's principals of one kind (AWS, Service); "*" stands for every principal."""
    principal = statement.get("Principal")
    if principal == "*":
        return {"*"}
    return set(_as_list(principal.get(kind))) if isinstance(principal, dict) else set()


def role_arn(role: str) -> str:
    """Glue takes a role as its name or its ARN."""
    return role if role.startswith("arn:") else f"arn:{PARTITION}:iam::{ACCOUNT}:role/{role}"


def _region_of(environ: dict[str, Any]) -> str:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    parts = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return parts[2] if len(parts) > 2 else "us-east-1"
