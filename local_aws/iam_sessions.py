"""Role sessions under IAM enforcement: session policies, `aws:PrincipalArn` and the checks of an AssumeRole form.

AWS gives a role session the intersection of the role's identity policies and the inline session policy passed to
AssumeRole (`Policy`): a request needs an Allow from both, and a Deny in either refuses it. moto stores the session
policy (`AssumedRole.policy`) but evaluates only the role's policies; `session_allows` is the second half, called
after every decision the stack or moto makes for a caller. A session assumed without a policy (the role-credentials
endpoint passes an empty one) has the role's permissions unchanged.
"""
from __future__ import annotations

from typing import Any

from local_aws.errors import AWSError

# AWS's limits: the plaintext session policy (before packing), a session assumed by a role session.
MAX_SESSION_POLICY_CHARS = 2048
CHAINED_SESSION_SECONDS = 3600
MIN_SESSION_SECONDS = 900


def assumed_role_of(access_key: Any) -> Any:
    """moto's AssumedRole behind a role session's access key; None for a user's key."""
    from moto.iam.access_control import AssumedRoleAccessKey
    from moto.sts.models import sts_backends

    if not isinstance(access_key, AssumedRoleAccessKey):
        return None
    backend = sts_backends[access_key.account_id][access_key.partition]
    return backend.get_assumed_role_from_access_key(access_key._access_key_id)


def session_policy(access_key: Any) -> Any:
    """The session's inline policy as moto's IAMPolicy, or None (a user, or a session assumed without one)."""
    from moto.iam.access_control import IAMPolicy

    assumed = assumed_role_of(access_key)
    policy = getattr(assumed, "policy", None)
    return IAMPolicy(policy) if policy else None


def session_allows(access_key: Any, action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    """Whether the session policy lets `action` on `resource` through (True without a session policy). Conditions
    are evaluated as in the identity policies (iam_enforcement.conditions_hold, over the request's context)."""
    from moto.iam.access_control import PermissionResult

    policy = session_policy(access_key)
    if policy is None:
        return True
    return policy.is_action_permitted(action, resource, None, context) is PermissionResult.PERMITTED


def principal_arn(access_key: Any) -> str:
    """AWS's `aws:PrincipalArn`: the role's ARN for a role session (not the session's assumed-role ARN), the
    user's ARN for a user."""
    assumed = assumed_role_of(access_key)
    return assumed.role_arn if assumed is not None else access_key.arn


def check_assume_role_form(form: dict[str, list[str]], chained: bool, max_session_seconds: int | None) -> None:
    """Refuse an AssumeRole that AWS refuses before issuing credentials: a session policy over 2,048 characters
    or not a valid identity policy, a duration outside 15 minutes..the role's maximum, over 1 hour for a caller
    that is itself a role session (role chaining)."""
    from moto.iam.exceptions import MalformedPolicyDocument
    from moto.iam.policy_validation import IAMPolicyDocumentValidator

    policy = form.get("Policy", [""])[0]
    if "Policy" in form:
        if len(policy) > MAX_SESSION_POLICY_CHARS:
            raise AWSError("ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy "
                           f"constraint: Member must have length less than or equal to {MAX_SESSION_POLICY_CHARS}")
        try:
            IAMPolicyDocumentValidator(policy).validate()
        except MalformedPolicyDocument as error:
            raise AWSError("MalformedPolicyDocument", error.message) from None
    if "DurationSeconds" not in form:
        return
    duration = form["DurationSeconds"][0]
    if not duration.isdigit() or int(duration) < MIN_SESSION_SECONDS:
        raise AWSError("ValidationError", f"1 validation error detected: Value '{duration}' at 'durationSeconds' "
                       f"failed to satisfy constraint: Member must have value greater than or equal to "
                       f"{MIN_SESSION_SECONDS}")
    if chained and int(duration) > CHAINED_SESSION_SECONDS:
        raise AWSError("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                       "assumed by role chaining.")
    if max_session_seconds is not None and int(duration) > max_session_seconds:
        raise AWSError("ValidationError",
                       "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

