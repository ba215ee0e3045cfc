"""The resources deploy/indata-backup.yaml creates in the local AWS stack, and the CloudFormation stack itself,
survive a restart of the stack (its own process and state directory, restarted as `make aws` would be): a deploy
after the restart updates the stack instead of failing on a bucket that already exists."""
from __future__ import annotations

import boto3

from indata_ops.config import load_config
from scripts.deploy import TEMPLATE, template_parameters
from tests.deploy.test_deploy_template import as_parameters, create, inline_policy, statements, unique_environment


def test_the_resources_survive_a_restart_of_the_local_stack(tmp_path):
    from local_aws.testing import StackProcess

    process = StackProcess(tmp_path / "state")
    process.start()
    try:
        def client(service: str):
            return boto3.client(service, endpoint_url=process.endpoint, region_name="us-east-1")

        env = unique_environment()
        # SSE-KMS: the stack then holds a KMS key, whose private key the state must keep too
        parameters = {**template_parameters(load_config(environ=env).settings), "Sse": "sse-kms"}
        outputs = create(client("cloudformation"), "restarted", parameters)
        process.restart()
        assert client("s3").get_bucket_versioning(Bucket=env["BACKUP_BUCKET"])["Status"] == "Enabled"
        assert client("glue").get_database(Name=env["BACKUP_CLEAN_DATABASE"])["Database"]["Name"]
        group = client("athena").get_work_group(WorkGroup=env["BACKUP_ATHENA_WORKGROUP"])["WorkGroup"]
        assert group["Configuration"]["ResultConfiguration"]["OutputLocation"].endswith("/athena-results/")
        assert statements(inline_policy(client("iam"), env["BACKUP_GLUE_ROLE"].rsplit("/", 1)[1]))

        (stack,) = client("cloudformation").describe_stacks(StackName="restarted")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]} == outputs
        changed = {**parameters, "BytesScannedCutoffPerQuery": "30000000"}
        client("cloudformation").update_stack(StackName="restarted", TemplateBody=TEMPLATE.read_text(),
                                              Parameters=as_parameters(changed), Capabilities=["CAPABILITY_NAMED_IAM"])
        process.restart()
        (stack,) = client("cloudformation").describe_stacks(StackName="restarted")["Stacks"]
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        group = client("athena").get_work_group(WorkGroup=env["BACKUP_ATHENA_WORKGROUP"])["WorkGroup"]
        assert group["Configuration"]["BytesScannedCutoffPerQuery"] == 30000000
    finally:
        process.stop()
