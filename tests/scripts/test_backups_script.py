"""-m scripts.backups (make verify / make restore) as a user runs it: a subprocess against the local stack's port."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scripts.common import module_command, module_environment
from tests.dags.test_indata_restore_dag import failure_table, restored_files
from tests.plugins.damaged_backup import damaged_backup  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def backups(stack, backup, tmp_path):
    """Runs the script in tmp_path with the backup's bucket: on the stack's port (found healthy, so reused and left
    running), or like REAL_AWS=1 through boto3's chain, which honours AWS_ENDPOINT_URL."""

    def run(*args: str, local: bool = True) -> subprocess.CompletedProcess:
        env = module_environment({**os.environ, "BACKUP_BUCKET": backup.bucket})
        if not local:
            env["AWS_ENDPOINT_URL"] = stack.endpoint
        port = ["--local-port", str(stack.port)] if local else []
        return subprocess.run(module_command("scripts.backups", *port, *args),
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    return run


def rows(output: str, status: str) -> list[str]:
    """The paths of the table rows with that status."""
    return [line.split(None, 4)[4].split("  ")[0] for line in output.splitlines() if f"  {status}  " in line]


def test_verify_passes_then_fails_on_a_tampered_and_a_deleted_object(backups, backup, aws):
    passed = backups("verify", "--date", backup.run_date, "--dataset", "ventas")
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.rstrip().endswith("3 files: 3 ok, 0 mismatch, 0 missing")

    s3 = aws("s3")
    s3.put_object(Bucket=backup.bucket, Key=backup.key("bytes.csv"), Body=b"other bytes", ChecksumAlgorithm="SHA256")
    s3.delete_object(Bucket=backup.bucket, Key=backup.key("sub dir/Ñandú café.csv"))
    for deep in ([], ["--deep"]):
        failed = backups("verify", "--date", backup.run_date, "--dataset", "ventas", *deep)
        assert failed.returncode == 1, failed.stderr
        assert rows(failed.stdout, "MISMATCH") == ["bytes.csv"]
        assert rows(failed.stdout, "MISSING") == ["sub dir/Ñandú café.csv"]
        assert rows(failed.stdout, "ok") == ["ventas mañana.csv"]
        assert "size expected 260, got 11" in failed.stdout
        assert failed.stdout.rstrip().endswith("3 files: 1 ok, 1 mismatch, 1 missing")


def test_without_a_local_port_the_default_chain_is_used(backups, backup):
    result = backups("verify", "--date", backup.run_date, "--dataset", "ventas", "--deep", local=False)

    assert result.returncode == 0, result.stderr
    assert "Local AWS stack" not in result.stdout and "3 files: 3 ok" in result.stdout


def test_verify_of_every_dataset_names_the_ones_without_a_backup(backups, backup):
    result = backups("verify", "--date", backup.run_date)

    assert result.returncode == 1
    assert "no committed backup for clientes on 2026-11-01" in result.stdout
    assert result.stdout.rstrip().endswith("3 files: 3 ok, 0 mismatch, 0 missing; 1 dataset(s) without a committed "
                                           "backup")


def test_restore_writes_the_files_and_reports_them(backups, backup, tmp_path):
    result = backups("restore", "--dataset", "ventas", "--date", backup.run_date, "--target", str(tmp_path / "a b"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"restore s3://{backup.bucket} {backup.run_date} -> {tmp_path / 'a b'}",
        f"ventas {backup.run_date}: 3 of 3 files restored ({sum(map(len, backup.files.values()))} bytes), 0 failed; "
        f"report: {tmp_path / 'a b' / 'restore-report.json'}"]
    assert restored_files(tmp_path / "a b") == backup.files


def test_restore_of_a_damaged_backup_restores_the_rest_and_prints_what_it_could_not(stack, damaged_backup,
                                                                                    tmp_path):
    target = tmp_path / "restored"
    env = module_environment({**os.environ, "BACKUP_BUCKET": damaged_backup.bucket})
    # As `make restore DATASET=ventas DATE=... TARGET=...` runs it (the Makefile's command is tested below).
    command = module_command("scripts.backups", "--local-port", str(stack.port), "restore", "--dataset", "ventas",
                             "--date", damaged_backup.run_date, "--target", str(target))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    assert result.returncode == 1, result.stderr
    assert result.stdout == (f"restore s3://{damaged_backup.bucket} {damaged_backup.run_date} -> {target}\n"
                             f"{failure_table(damaged_backup, target)}\n")
    assert restored_files(target) == damaged_backup.intact
    report = json.loads((target / "restore-report.json").read_text())
    assert report["failed"] == [{"path": f.path, "key": f.key, "version_id": None, "reason": f.reason,
                                 "detail": f.detail} for f in damaged_backup.failures]


@pytest.mark.parametrize(("args", "message"), [
    (["restore", "--dataset", "ventas", "--date", "2026-11-02", "--target", "x"],
     "error: no committed backup for ventas on 2026-11-02"),
    (["restore", "--dataset", "nope", "--date", "2026-11-01", "--target", "x"],
     "error: no dataset 'nope' in the config (known: ventas, clientes)"),
    (["verify", "--date", "2026-13-01"], "error: run_date must be a date as YYYY-MM-DD, got '2026-13-01'"),
])
def test_bad_requests_fail_with_one_clear_line(backups, tmp_path, args, message):
    result = backups(*args)

    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize(("make_args", "command"), [
    (["verify", "DATE=2026-11-02"], "-m scripts.backups --local-port 4999 verify --date 2026-11-02"),
    (["verify", "DATE=2026-11-02", "DATASET=ventas", "DEEP=1"],
     "-m scripts.backups --local-port 4999 verify --date 2026-11-02 --dataset ventas --deep"),
    (["restore", "DATASET=ventas", "DATE=2026-11-03", "TARGET=/tmp/a b"],
     '-m scripts.backups --local-port 4999 restore --dataset ventas --date 2026-11-03 --target "/tmp/a b"'),
    (["verify", "DATE=2026-11-02", "REAL_AWS=1"], "-m scripts.backups verify --date 2026-11-02"),
])
def test_make_targets_call_the_script(make_args, command):
    # Under `make test` this is a sub-make: without the parent's flags, and without "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-n", "--no-print-directory", "LOCAL_AWS_PORT=4999", *make_args], cwd=REPO,
                            capture_output=True, text=True, timeout=30, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(command)
