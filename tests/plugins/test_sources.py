"""Which local files a backup takes: symlinks only while they stay inside the root, no special files."""
from __future__ import annotations

import dataclasses
import logging
import os

from indata_ops.config import load_config
from indata_ops.sources import list_sources

DAY = "2026-11-01"
DATASET = dataclasses.replace(load_config().dataset("ventas"), source="ventas/{ds}/**/*")


def test_symlinks_leaving_the_root_are_not_followed_and_special_files_are_skipped(tmp_path, caplog):
    root, outside = tmp_path / "root", tmp_path / "outside"
    folder = root / "ventas" / DAY
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    (folder / "real.csv").write_bytes(b"real")
    (outside / "secret.csv").write_bytes(b"not to be backed up")
    (root / "elsewhere.csv").write_bytes(b"inside the root, outside the dataset")
    (folder / "link inside.csv").symlink_to(root / "elsewhere.csv")
    (folder / "link out.csv").symlink_to(outside / "secret.csv")
    (folder / "dir out").symlink_to(outside, target_is_directory=True)
    (folder / "dangling.csv").symlink_to(root / "missing.csv")
    os.mkfifo(folder / "sub" / "pipe.csv")
    with caplog.at_level(logging.WARNING, logger="indata_ops.sources"):
        listing = list_sources(root, DATASET, DAY)
    assert [(f.relative, f.size) for f in listing.files] == [("link inside.csv", 36), ("real.csv", 4)]
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert f"Skipping {folder / 'link out.csv'}: a symlink leaving the source root" in warnings
    assert f"Skipping {folder / 'sub' / 'pipe.csv'}: not a regular file" in warnings
    assert f"Skipping {folder / 'dangling.csv'}: a symlink to nothing" in warnings
    assert "secret" not in "".join(f.relative for f in listing.files)
