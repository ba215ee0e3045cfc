"""The config tests' shared check: loading a file fails with ConfigError, whose lines are returned."""
from __future__ import annotations

from pathlib import Path

import pytest

from indata_ops.config import ConfigError, load_config


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)
