"""moto's CloudFormation as the local stack extends it (local_aws/cloudformation.py), on small templates of its own:
the Glue and Athena resource types through create, update and delete, ``!Condition`` inside a condition, and a
bucket property the stack does not model refused by name. deploy/indata-backup.yaml itself: tests/deploy/."""
from __future__ import annotations

import uuid

import pytest
import yaml
from botocore.exceptions import ClientError


def template(resources: dict, conditions: dict | None = None) -> str:
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"Wanted": {"Type": "String", "Default": "yes"}},
            "Resources": resources}
    if conditions:
        body["Conditions"] = conditions
    return yaml.safe_dump(body)


def database(name: str, **extra) -> dict:
    return {"Type": "AWS::Glue::Database", "Properties": {"CatalogId": "123456789012",
                                                          "DatabaseInput": {"Name": name}}, **extra}


def workgroup(name: str, cutoff: str) -> dict:
    return {"Type": "AWS::Athena::WorkGroup", "Properties": {"Name": name, "WorkGroupConfiguration": {
        "BytesScannedCutoffPerQuery": cutoff, "EnforceWorkGroupConfiguration": "true",
        "ResultConfiguration": {"OutputLocation": "s3://results/athena/"}}}}


def test_glue_databases_and_workgroups_are_created_updated_and_deleted_with_their_stack(aws):
    cloudformation, glue, athena = aws("cloudformation"), aws("glue"), aws("athena")
    tag = uuid.uuid4().hex[:8]
    stack = f"types-{tag}"
    cloudformation.create_stack(StackName=stack, TemplateBody=template(
        {"Db": database(f"db_{tag}"), "Wg": workgroup(f"wg-{tag}", "20000000")}))
    assert glue.get_database(Name=f"db_{tag}")["Database"]["Name"] == f"db_{tag}"
    configuration = athena.get_work_group(WorkGroup=f"wg-{tag}")["WorkGroup"]["Configuration"]
    assert (configuration["BytesScannedCutoffPerQuery"], configuration["EnforceWorkGroupConfiguration"]) == (
        20000000, True)

    cloudformation.update_stack(StackName=stack, TemplateBody=template(
        {"Db": database(f"renamed_{tag}"), "Wg": workgroup(f"wg-{tag}", "30000000")}))
    names = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    assert f"renamed_{tag}" in names and f"db_{tag}" not in names  # a new name replaces the database
    configuration = athena.get_work_group(WorkGroup=f"wg-{tag}")["WorkGroup"]["Configuration"]
    assert configuration["BytesScannedCutoffPerQuery"] == 30000000

    cloudformation.delete_stack(StackName=stack)
    with pytest.raises(ClientError, match="EntityNotFound"):
        glue.get_database(Name=f"renamed_{tag}")
    assert f"wg-{tag}" not in {g["Name"] for g in athena.list_work_groups()["WorkGroups"]}


@pytest.mark.parametrize(("wanted", "created"), [("yes", True), ("no", False)])
def test_a_condition_naming_another_condition_in_short_form_counts_as_that_condition(aws, wanted, created):
    tag = uuid.uuid4().hex[:8]
    body = template({"Db": database(f"cond_{tag}", Condition="Both")}, {
        "IsWanted": {"Fn::Equals": [{"Ref": "Wanted"}, "yes"]},
        "Both": {"Fn::And": [{"Fn::Condition": "IsWanted"}, {"Fn::Equals": ["a", "a"]}]}})
    aws("cloudformation").create_stack(StackName=f"cond-{tag}", TemplateBody=body,
                                       Parameters=[{"ParameterKey": "Wanted", "ParameterValue": wanted}])
    names = {d["Name"] for d in aws("glue").get_databases()["DatabaseList"]}
    assert (f"cond_{tag}" in names) is created


def test_a_bucket_property_the_stack_does_not_model_is_refused_by_name(aws):
    tag = uuid.uuid4().hex[:8]
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": f"cors-{tag}", "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["GET"],
                                                                          "AllowedOrigins": ["*"]}]}}}
    with pytest.raises(ClientError, match="the local stack does not model CorsConfiguration"):
        aws("cloudformation").create_stack(StackName=f"cors-{tag}", TemplateBody=template({"Bucket": bucket}))
