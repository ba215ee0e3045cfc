"""``AWS::Athena::WorkGroup`` for moto's CloudFormation, which has no Athena resource types.

Workgroups live in moto's Athena backend (``work_groups``), where ``local_aws.athena.api`` reads a workgroup's
output location, so the resource creates them there. Defining the class registers it (moto lists
``CloudFormationModel``'s subclasses); ``local_aws.cloudformation`` imports this module. ``Ref`` gives the name.

CloudFormation hands over parameter values as text (a Number parameter is a string once referenced), and the
resource's handler reads the configuration's integers and booleans from it: so does this one.
"""
from __future__ import annotations

from typing import Any

from moto.athena.models import athena_backends
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel

# WorkGroupConfiguration keys with their API types (the API's Configuration has the same names).
BOOLEANS = ("EnforceWorkGroupConfiguration", "PublishCloudWatchMetricsEnabled", "RequesterPaysEnabled",
            "EnableMinimumEncryptionConfiguration")
INTEGERS = ("BytesScannedCutoffPerQuery",)
OTHERS = ("ResultConfiguration", "EngineVersion")


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValidationError(message=f"AWS::Athena::WorkGroup: WorkGroupConfiguration.{name} must be a boolean "
                                  f"(got {value!r})")


def _integer(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(message=f"AWS::Athena::WorkGroup: WorkGroupConfiguration.{name} must be an integer "
                                      f"(got {value!r})") from None


def api_configuration(cloudformation_configuration: dict[str, Any]) -> dict[str, Any]:
    """The resource's WorkGroupConfiguration as the API's Configuration; a key the stack does not model is an
    error, not dropped."""
    unknown = sorted(set(cloudformation_configuration) - {*BOOLEANS, *INTEGERS, *OTHERS})
    if unknown:
        raise ValidationError(message=f"AWS::Athena::WorkGroup: the local stack does not model "
                                      f"WorkGroupConfiguration {', '.join(unknown)}")
    configuration: dict[str, Any] = {}
    for name, value in cloudformation_configuration.items():
        if name in BOOLEANS:
            configuration[name] = _boolean(name, value)
        elif name in INTEGERS:
            configuration[name] = _integer(name, value)
        else:
            configuration[name] = value
    return configuration


class AthenaWorkGroup(CloudFormationModel):
    """A CloudFormation-managed Athena workgroup: a handle on moto's workgroup of that name."""

    def __init__(self, name: str, account_id: str, region_name: str):
        self.name, self.account_id, self.region_name = name, account_id, region_name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::WorkGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        group = athena_backends[self.account_id][self.region_name].work_groups[self.name]
        if attribute_name == "CreationTime":
            return getattr(group, "creation_time", "")
        if attribute_name == "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion":
            return group.configuration["EngineVersion"]["EffectiveEngineVersion"]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @staticmethod
    def _properties(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
        properties = cloudformation_json.get("Properties") or {}
        return {"configuration": api_configuration(properties.get("WorkGroupConfiguration") or {}),
                "description": properties.get("Description", ""), "tags": properties.get("Tags") or []}

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> AthenaWorkGroup:
        backend = athena_backends[account_id][region_name]
        if backend.create_work_group(resource_name, **cls._properties(cloudformation_json)) is None:
            raise ValidationError(message=f"AWS::Athena::WorkGroup: WorkGroup {resource_name} is already created")
        return cls(resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: AthenaWorkGroup, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> AthenaWorkGroup:
        backend = athena_backends[account_id][region_name]
        properties = cls._properties(cloudformation_json)
        if new_resource_name != original_resource.name:  # a new name replaces the workgroup, as on AWS
            created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                          region_name)
            backend.delete_work_group(original_resource.name)
            return created
        group = backend.work_groups[original_resource.name]
        group.configuration.update(properties["configuration"])
        group.description = properties["description"]
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        athena_backends[account_id][region_name].delete_work_group(resource_name)
