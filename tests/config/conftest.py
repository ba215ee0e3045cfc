"""Fixtures for the config model's tests: small config files written to a temporary folder."""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

VALID_DOCUMENT: dict[str, Any] = {
    "settings": {
        "bucket": "test-bucket",
        "raw_database": "test_raw",
        "clean_database": "test_clean",
        "glue_job_role": "arn:aws:iam::123456789012:role/test-role",
        "region": "eu-west-1",
    },
    "datasets": [
        {
            "name": "ventas",
            "source": "ventas/{ds}/*.csv",
            "format": "csv",
            "keys": ["codigo"],
            "order_by": "actualizado",
            "schema": [
                {"name": "codigo", "type": "string", "nullable": False},
                {"name": "actualizado", "type": "timestamp", "formats": ["yyyy-MM-dd HH:mm:ss"]},
            ],
        },
        {"name": "clientes", "source": "clientes/{ds}/clientes.json", "format": "json"},
    ],
}


@pytest.fixture
def document() -> dict[str, Any]:
    """A valid config document to break one field at a time; a fresh copy per test."""
    return copy.deepcopy(VALID_DOCUMENT)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any] | str], Path]:
    """Writes a document (a dict, or YAML text as is) to <tmp>/conf/datasets.yaml and returns the path."""

    def write(content: dict[str, Any] | str) -> Path:
        path = tmp_path / "conf" / "datasets.yaml"
        path.parent.mkdir(exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write
