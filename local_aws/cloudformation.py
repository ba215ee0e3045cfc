"""moto's CloudFormation, made to deploy deploy/indata-backup.yaml as AWS does.

``register(store)`` runs once when the stack builds its app, before any stack is created. It adds and mends:

- **Resource types.** ``AWS::Glue::Database`` (``local_aws.glue.cloudformation``) and ``AWS::Athena::WorkGroup``
  (``local_aws.athena.cloudformation``): moto has neither. moto finds resource types among the subclasses of
  ``CloudFormationModel`` and caches the list on first use, so the modules are imported and the cache cleared here.
- **Parameters.** moto checks none of a parameter's constraints; here AllowedValues, AllowedPattern,
  Min/MaxLength, Min/MaxValue, a Number's form and unknown parameter names fail CreateStack, UpdateStack and
  CreateChangeSet with CloudFormation's ValidationError messages (the template's ``Rules`` section is not
  evaluated). A Number parameter is text once referenced, as on AWS (``Fn::Equals`` against "0" works).
- **Change sets.** A stack created through a change set (`aws cloudformation deploy`) gets its outputs.
- **Updates.** A resource whose type moto cannot update (an instance profile, a KMS key) is kept as it was
  (with a warning in the stack's log), not replaced by nothing.
- **Conditions.** ``!Condition Name`` inside a condition counts as the named condition (moto took it as false).
- **AWS::NoValue.** moto leaves it as a null in lists and properties; CloudFormation removes the entry.
- **S3 bucket properties.** moto applies only BucketEncryption (without BucketKeyEnabled) and Tags; here
  VersioningConfiguration, PublicAccessBlockConfiguration, LifecycleConfiguration and BucketKeyEnabled are applied
  too. Any other bucket property is refused rather than ignored.
- **IAM role policies.** moto keeps a role's inline policies from a template as Python dicts (GetRolePolicy then
  answers their repr, not JSON) and ignores Policies and AssumeRolePolicyDocument on update; here they are stored
  as JSON text and replaced on update.
- **Persistence.** After a stack operation the services its resources live in (IAM, Glue, Athena and the buckets)
  are saved, as after a direct API write; a KMS key is not (no KMS state survives a restart). Nor is the stack's
  own record (template, outputs): after a restart the resources are there, but DescribeStacks no longer knows the
  stack, and deploying it again fails on the bucket that already exists.

Not modelled: rollback (a resource that fails leaves the stack half-created and the call fails with the
resource's error), ``ManagedPolicyArns`` on roles (moto drops them), ``DeletionPolicy: Retain`` beyond what moto
does, and change sets beyond moto's.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.iam.models import Role, iam_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

log = logging.getLogger("local_aws.cloudformation")

# The services whose backends hold what a stack creates (saved whole after each stack operation). Not KMS: its
# backend holds key material that does not pickle, and the stack keeps no KMS state across restarts.
RESOURCE_SERVICES = ("iam", "glue", "athena")
STACK_OPERATIONS = ("create_stack", "update_stack", "delete_stack", "execute_change_set")
BUCKET_PROPERTIES = frozenset({"BucketName", "Tags", "BucketEncryption", "VersioningConfiguration",
                               "PublicAccessBlockConfiguration", "LifecycleConfiguration"})
LIFECYCLE_RULE_KEYS = frozenset({"Id", "Status", "Prefix", "ExpirationInDays", "Transitions",
                                 "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"})

_state: dict[str, Any] = {"patched": False, "store": None}


def register(store: Any = None) -> None:
    """Teach moto's CloudFormation the missing resource types and behaviours; save stack resources in store."""
    _state["store"] = store
    if _state["patched"]:
        return
    import local_aws.athena.cloudformation  # noqa: F401  (defining the classes registers them)
    import local_aws.glue.cloudformation  # noqa: F401

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    _patch_parameters()
    _patch_change_set_outputs()
    _patch_unsupported_updates()
    _patch_conditions()
    _patch_no_value()
    _patch_bucket()
    _patch_role()
    _patch_persistence()
    _state["patched"] = True


# --- parameters ---------------------------------------------------------------------------------------------------
def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(message=f"Parameter '{name}' must be a number") from None


def parameter_problem(name: str, slot: dict[str, Any], value: Any) -> str | None:
    """CloudFormation's reason to refuse a parameter value, or None. A ConstraintDescription replaces the
    generic wording of a pattern, length or range failure (not of AllowedValues), as CloudFormation does."""
    text = str(value)
    allowed = slot.get("AllowedValues")
    if allowed is not None and text not in [str(v) for v in allowed]:
        return f"Parameter '{name}' must be one of AllowedValues"
    problem = None
    if slot.get("Type", "String") == "Number":
        number = _number(name, value)
        if "MinValue" in slot and number < float(slot["MinValue"]):
            problem = f"must be a number not less than {slot['MinValue']}"
        elif "MaxValue" in slot and number > float(slot["MaxValue"]):
            problem = f"must be a number not greater than {slot['MaxValue']}"
    else:
        pattern = slot.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            problem = f"must match pattern {pattern}"
        elif "MinLength" in slot and len(text) < int(slot["MinLength"]):
            problem = f"must contain at least {slot['MinLength']} characters"
        elif "MaxLength" in slot and len(text) > int(slot["MaxLength"]):
            problem = f"must contain at most {slot['MaxLength']} characters"
    if problem is None:
        return None
    return f"Malformed input-Parameter {name} {slot.get('ConstraintDescription') or problem}"


def check_parameters(template: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse, as CloudFormation does, parameters the template does not declare or whose value breaks a
    constraint (the given value, else the default)."""
    slots = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(slots))
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    for name, slot in slots.items():
        value = given.get(name, slot.get("Default"))
        if value is not None and (reason := parameter_problem(name, slot, value)):
            raise ValidationError(message=reason)


def _patch_parameters() -> None:
    load_parameters = parsing.ResourceMap.load_parameters
    create_change_set = CloudFormationBackend.create_change_set

    def checked_load_parameters(self: Any) -> None:
        if self._template:  # a change set's new stack starts with an empty template
            check_parameters(self._template, self.input_parameters)
        load_parameters(self)
        for name, slot in (self._template.get("Parameters") or {}).items():  # referenced, a Number is text on AWS
            if slot.get("Type") == "Number" and self.resolved_parameters.get(name) is not None:
                value = self.resolved_parameters[name]
                text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
                self.resolved_parameters[name] = self._parsed_resources[name] = text

    def checked_create_change_set(self: Any, stack_name: str, change_set_name: str, template: str,
                                  parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # Before moto registers a new stack for the change set: a refused parameter leaves nothing behind.
        check_parameters(Stack.parse_template(template), parameters)
        return create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs)

    parsing.ResourceMap.load_parameters = checked_load_parameters
    CloudFormationBackend.create_change_set = checked_create_change_set  # type: ignore[method-assign]


def _patch_unsupported_updates() -> None:
    """moto sets a resource whose type has no update (an instance profile, a KMS key) to None when a stack update
    touches it, which breaks every later Ref and GetAtt to it: the resource stays as it was instead."""
    parse_and_update_resource = parsing.parse_and_update_resource

    def update_or_keep(logical_id: str, resource_json: Any, resources_map: Any, account_id: str,
                       region_name: str) -> Any:
        updated = parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is None:
            log.warning("CloudFormation: %s (%s) cannot be updated here; it is kept as it was", logical_id,
                        resource_json.get("Type"))
            return resources_map._parsed_resources.get(logical_id)
        return updated

    parsing.parse_and_update_resource = update_or_keep


def _patch_change_set_outputs() -> None:
    """moto builds a stack's outputs from the template it had when created, which for a change set's new stack
    is empty: after executing a change set they are built again from the template it applied."""
    execute_change_set = CloudFormationBackend.execute_change_set

    def execute_with_outputs(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        execute_change_set(self, change_set_name, stack_name)
        stack = self.stacks[self.describe_change_set(change_set_name).stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_with_outputs  # type: ignore[method-assign]


# --- conditions -------------------------------------------------------------------------------------------------
def long_form_conditions(condition: Any) -> Any:
    """moto's YAML loader reads ``!Condition Name`` as ``{"Fn::Condition": Name}`` but its condition evaluation
    knows only ``{"Condition": Name}``, and counts the short form as false: the long form, everywhere."""
    if isinstance(condition, dict):
        if list(condition) == ["Fn::Condition"]:
            return {"Condition": condition["Fn::Condition"]}
        return {key: long_form_conditions(value) for key, value in condition.items()}
    if isinstance(condition, list):
        return [long_form_conditions(value) for value in condition]
    return condition


def _patch_conditions() -> None:
    parse_condition = parsing.parse_condition

    def parse_long_form_condition(condition: Any, resources_map: Any, condition_map: Any) -> Any:
        return parse_condition(long_form_conditions(condition), resources_map, condition_map)

    parsing.parse_condition = parse_long_form_condition


# --- AWS::NoValue -------------------------------------------------------------------------------------------------
def _patch_no_value() -> None:
    clean_json = parsing.clean_json

    def clean_json_without_no_value(resource_json: Any, resources_map: Any) -> Any:
        # clean_json recurses through the module's name, so every level passes here.
        cleaned = clean_json(resource_json, resources_map)
        if isinstance(resource_json, dict) and isinstance(cleaned, dict):
            return {key: value for key, value in cleaned.items() if value is not None}
        if isinstance(cleaned, list):
            return [value for value in cleaned if value is not None]
        return cleaned

    parsing.clean_json = clean_json_without_no_value


# --- S3 bucket properties -----------------------------------------------------------------------------------------
def _days(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(message=f"AWS::S3::Bucket: {where} must be a number of days (got {value!r})") from None


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """One LifecycleConfiguration rule of the template in the shape moto's PutBucketLifecycleConfiguration parses
    (CloudFormation's Prefix becomes the rule's Filter, as S3 reports it for a rule CloudFormation created)."""
    unknown = sorted(set(rule) - LIFECYCLE_RULE_KEYS)
    if unknown:
        raise ValidationError(message=f"AWS::S3::Bucket: the local stack does not model lifecycle rule "
                                      f"{', '.join(unknown)}")
    where = f"lifecycle rule {rule.get('Id', '')}"
    parsed: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule["Status"],
                              "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        parsed["Expiration"] = {"Days": _days(rule["ExpirationInDays"], where)}
    if "Transitions" in rule:
        parsed["Transition"] = [{"Days": _days(t["TransitionInDays"], where), "StorageClass": t["StorageClass"]}
                                for t in rule["Transitions"]]
    if "NoncurrentVersionExpiration" in rule:
        parsed["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": _days(rule["NoncurrentVersionExpiration"]["NoncurrentDays"], where)}
    if "AbortIncompleteMultipartUpload" in rule:
        parsed["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": _days(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"], where)}
    return parsed


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def apply_bucket_properties(bucket_name: str, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """What moto's AWS::S3::Bucket leaves out, applied through its S3 backend."""
    unknown = sorted(set(properties) - BUCKET_PROPERTIES)
    if unknown:
        raise ValidationError(message=f"AWS::S3::Bucket: the local stack does not model {', '.join(unknown)}")
    backend = s3_backends[account_id][get_partition(region_name)]
    if "VersioningConfiguration" in properties:
        backend.put_bucket_versioning(bucket_name, properties["VersioningConfiguration"]["Status"])
    if "PublicAccessBlockConfiguration" in properties:
        backend.put_public_access_block(bucket_name, {
            key: _boolean(value) for key, value in properties["PublicAccessBlockConfiguration"].items()})
    if "BucketEncryption" in properties:
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]  # S3 takes one rule
        backend.put_bucket_encryption(bucket_name, {"Rule": {
            "ApplyServerSideEncryptionByDefault": dict(rule["ServerSideEncryptionByDefault"]),
            "BucketKeyEnabled": _boolean(rule.get("BucketKeyEnabled", False))}})
    if "LifecycleConfiguration" in properties:
        rules = [lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"].get("Rules") or ()]
        backend.put_bucket_lifecycle_configuration(bucket_name, rules)


def _patch_bucket() -> None:
    create, update = FakeBucket.create_from_cloudformation_json, FakeBucket.update_from_cloudformation_json

    def create_with_properties(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                               region_name: str, **kwargs: Any) -> Any:
        bucket = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        apply_bucket_properties(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket

    def update_with_properties(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                               account_id: str, region_name: str) -> Any:
        bucket = update(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        apply_bucket_properties(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create_with_properties)  # type: ignore[method-assign]
    FakeBucket.update_from_cloudformation_json = classmethod(update_with_properties)  # type: ignore[method-assign]


# --- IAM role policies ------------------------------------------------------------------------------------------
def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def apply_role_policies(role: Any, properties: dict[str, Any]) -> None:
    """The role's trust policy and inline policies exactly as the template gives them, as JSON text."""
    role.assume_role_policy_document = _policy_text(properties["AssumeRolePolicyDocument"])
    role.policies.clear()
    for policy in properties.get("Policies") or ():
        role.put_policy(policy["PolicyName"], _policy_text(policy["PolicyDocument"]))


def _patch_role() -> None:
    create = Role.create_from_cloudformation_json

    def create_with_policies(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                             region_name: str, **kwargs: Any) -> Any:
        role = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        apply_role_policies(role, cloudformation_json["Properties"])
        return role

    def update_with_policies(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                             account_id: str, region_name: str) -> Any:
        properties = cloudformation_json["Properties"]
        if properties.get("RoleName", original_resource.name) != original_resource.name:
            raise ValidationError(message="AWS::IAM::Role: the local stack does not replace a role on a new RoleName")
        role = iam_backends[account_id][get_partition(region_name)].get_role(original_resource.name)
        role.description = properties.get("Description", "")
        apply_role_policies(role, properties)
        return role

    Role.create_from_cloudformation_json = classmethod(create_with_policies)  # type: ignore[method-assign]
    Role.update_from_cloudformation_json = classmethod(update_with_policies)  # type: ignore[method-assign]


# --- persistence --------------------------------------------------------------------------------------------------
def _stack_buckets(backend: CloudFormationBackend) -> set[str]:
    return {getattr(resource, "name", "") for stack in list(backend.stacks.values())
            for resource in list(stack.resource_map._parsed_resources.values())
            if isinstance(resource, FakeBucket)}


def _persisting(operation: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
        store = _state["store"]
        if store is None:
            return operation(self, *args, **kwargs)
        buckets = _stack_buckets(self)
        try:
            return operation(self, *args, **kwargs)
        finally:  # a failed operation may have created some resources: they are kept as on disk as in memory
            for service in RESOURCE_SERVICES:
                store.save_backend(service)
            for bucket in sorted(buckets | _stack_buckets(self)):
                store.save_bucket(bucket)

    run.__name__ = operation.__name__
    return run


def _patch_persistence() -> None:
    for name in STACK_OPERATIONS:
        setattr(CloudFormationBackend, name, _persisting(getattr(CloudFormationBackend, name)))
