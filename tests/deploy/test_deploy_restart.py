"""The resources deploy/indata-backup.yaml creates in the local AWS stack survive a restart of the stack (its own
process and state directory, restarted as `make aws` would be)."""
from __future__ import annotations

import boto3

from indata_ops.config import load_config
from scripts.deploy import template_parameters
from tests.deploy.test_deploy_template import create, inline_policy, statements, unique_environment


def test_the_resources_survive_a_restart_of_the_local_stack(tmp_path):
    from local_aws.testing import StackProcess

    process = StackProcess(tmp_path / "state")
    process.start()
    try:
        def client(service: str):
            return boto3.client(service, endpoint_url=process.endpoint, region_name="us-east-1")

        env = unique_environment()
        create(client("cloudformation"), "restarted", template_parameters(load_config(environ=env).settings))
        process.restart()
        assert client("s3").get_bucket_versioning(Bucket=env["BACKUP_BUCKET"])["Status"] == "Enabled"
        assert client("glue").get_database(Name=env["BACKUP_CLEAN_DATABASE"])["Database"]["Name"]
        group = client("athena").get_work_group(WorkGroup=env["BACKUP_ATHENA_WORKGROUP"])["WorkGroup"]
        assert group["Configuration"]["ResultConfiguration"]["OutputLocation"].endswith("/athena-results/")
        assert statements(inline_policy(client("iam"), env["BACKUP_GLUE_ROLE"].rsplit("/", 1)[1]))
    finally:
        process.stop()
