"""The `stack` fixture for test_sdk_contract.py when it runs in another interpreter (the newest SDK's virtualenv,
local_aws/tests/test_newest_sdk.py): the stack is the caller's, named by LOCAL_AWS_ENDPOINT. Loaded with
``-p local_aws.tests.clients.endpoint_plugin`` and ``--noconftest``, so nothing of the repository's test setup
(Airflow, Spark) has to be importable there."""
from __future__ import annotations

import os
import types

import pytest


@pytest.fixture(scope="session")
def stack():
    endpoint = os.environ.get("LOCAL_AWS_ENDPOINT")
    if not endpoint:
        raise RuntimeError("LOCAL_AWS_ENDPOINT is not set: it names the running local AWS stack to test")
    return types.SimpleNamespace(endpoint=endpoint)
