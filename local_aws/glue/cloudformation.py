"""``AWS::Glue::Database`` for moto's CloudFormation, which has no Glue resource types.

Defining the class registers it: moto finds its resource types among ``CloudFormationModel``'s subclasses
(``moto.cloudformation.parsing.get_model_map``), so ``local_aws.cloudformation`` imports this module before the
first stack is created. The database lands in moto's Glue backend, where the crawler, the job runner and Athena
read the catalog. ``Ref`` gives the database name, as on AWS.
"""
from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.glue.models import glue_backends

# What the resource's DatabaseInput may hold on AWS and what moto's catalog keeps; anything else is refused, not
# dropped (FederatedDatabase, TargetDatabase and CreateTableDefaultPermissions are not modelled).
DATABASE_INPUT_KEYS = frozenset({"Name", "Description", "LocationUri", "Parameters"})


class GlueDatabase(CloudFormationModel):
    """A CloudFormation-managed Glue database: a handle on the catalog's database of that name."""

    def __init__(self, name: str, account_id: str, region_name: str):
        self.name, self.account_id, self.region_name = name, account_id, region_name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""  # the name is inside DatabaseInput, and CloudFormation requires it (no generated names)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Database"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False  # AWS::Glue::Database has no Fn::GetAtt attributes

    def is_created(self) -> bool:
        return True

    @staticmethod
    def _database_input(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
        properties = cloudformation_json.get("Properties") or {}
        database_input = dict(properties.get("DatabaseInput") or {})
        if not database_input.get("Name"):
            raise ValidationError(message="Property DatabaseInput.Name of AWS::Glue::Database is required")
        unsupported = sorted(set(database_input) - DATABASE_INPUT_KEYS)
        if unsupported:
            raise ValidationError(message=f"AWS::Glue::Database: the local stack does not model DatabaseInput "
                                          f"{', '.join(unsupported)}")
        return database_input

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> GlueDatabase:
        database_input = cls._database_input(cloudformation_json)
        name = database_input["Name"]
        glue_backends[account_id][region_name].create_database(name, database_input)
        return cls(name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: GlueDatabase, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> GlueDatabase:
        database_input = cls._database_input(cloudformation_json)
        backend = glue_backends[account_id][region_name]
        if database_input["Name"] != original_resource.name:  # a new name replaces the database, as on AWS
            backend.create_database(database_input["Name"], database_input)
            backend.delete_database(original_resource.name)
            return cls(database_input["Name"], account_id, region_name)
        backend.update_database(original_resource.name, database_input)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        backend = glue_backends[account_id][region_name]
        if resource_name in backend.databases:
            backend.delete_database(resource_name)
