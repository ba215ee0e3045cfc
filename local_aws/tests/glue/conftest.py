"""Fixtures of the crawler tests: a fresh bucket and raw database per test, on the plain moto server."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def bucket(s3) -> str:
    name = f"crawlertest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def database(glue) -> str:
    name = f"crawlertest_{uuid.uuid4().hex[:12]}"
    glue.create_database(DatabaseInput={"Name": name})
    return name
