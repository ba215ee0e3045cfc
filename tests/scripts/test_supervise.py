"""scripts/supervise.py: a component that dies of an error is started again; a stop ends it for good."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.common import REPO


def supervised(command: str, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scripts.supervise", *options, "--", sys.executable, "-c", command],
                            cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_command_that_dies_of_an_error_is_started_again(tmp_path: Path):
    marker = tmp_path / "runs"
    # Fails on its first run, succeeds on its second: one restart, then the supervisor ends with it.
    command = (f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); runs = len(p.read_text()) if p.exists() "
               "else 0; p.write_text('x' * (runs + 1)); sys.exit(3 if runs == 0 else 0)")
    process = supervised(command)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 0 and marker.read_text() == "xx"
    assert "exited with 3; restarting it" in errors


def test_it_gives_up_after_too_many_restarts():
    process = supervised("import sys; sys.exit(4)", "--max-restarts", "1")
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 4
    assert "giving up" in errors and errors.count("restarting it") == 1


def test_a_stop_of_the_process_group_ends_it_without_a_restart(tmp_path: Path):
    started = tmp_path / "started"
    process = supervised(f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)")
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGTERM)  # as `make down` stops a component
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM  # as a shell reports a command ended by SIGTERM
    assert "restarting" not in errors
