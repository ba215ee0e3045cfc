"""scripts/airflow_up.py's process handling (make up / make down), with plain processes instead of Airflow.

The whole start, with Airflow, runs once per session in tests/ui (its fixture starts and stops the stack).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from airflow_up import AirflowStack, StackError, main  # noqa: E402  (scripts/ is no package)

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]
# A component whose child leaves its process group (setsid), as a task runner may: `down` must still stop it.
COMPONENT_WITH_CHILD = [sys.executable, "-c", (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True); "
    "time.sleep(300)")]


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_down_stops_each_recorded_process_and_its_descendants_and_nothing_else(tmp_path):
    stack = AirflowStack(tmp_path)
    bystander = subprocess.Popen(SLEEP)
    try:
        stack.spawn("scheduler", COMPONENT_WITH_CHILD, dict(os.environ))
        stack.spawn("triggerer", SLEEP, dict(os.environ))
        leaders = [psutil.Process(entry["pid"]) for entry in stack.recorded()["processes"]]
        deadline = time.monotonic() + 30
        while not leaders[0].children():
            assert time.monotonic() < deadline, "the component never started its child"
            time.sleep(0.05)
        family = [*leaders, *leaders[0].children(recursive=True)]
        assert os.getpgid(family[-1].pid) != os.getpgid(leaders[0].pid)  # the child is in a group of its own
        assert stack.running() == ["scheduler", "triggerer"]

        started = time.monotonic()
        assert stack.stop(timeout=20) == ["scheduler", "triggerer"]
        assert time.monotonic() - started < 20  # SIGTERM reached the child too: no wait for the SIGKILL
        assert all(gone(process) for process in family)
        assert bystander.poll() is None
        assert not stack.state_file.exists()
        assert stack.stop() == []  # down twice is fine
    finally:
        bystander.kill()
        bystander.wait()


def test_a_recorded_pid_now_used_by_another_process_is_left_alone(tmp_path):
    stack = AirflowStack(tmp_path)
    other = subprocess.Popen(SLEEP)
    try:
        started_long_ago = psutil.Process(other.pid).create_time() - 100
        stack.state_file.write_text(json.dumps({"processes": [
            {"name": "scheduler", "pid": other.pid, "create_time": started_long_ago, "log": "scheduler.log"}]}))
        assert stack.running() == []
        assert stack.stop() == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_up_refuses_a_port_in_use_and_starts_nothing(tmp_path):
    from local_aws.testing import free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = AirflowStack(tmp_path, api_port=port, aws_port=free_port())
        with pytest.raises(StackError, match=f"port {port} for the Airflow API server is in use"):
            stack.start()
    assert stack.recorded()["processes"] == []


def test_down_with_nothing_up_says_so(tmp_path, capsys):
    assert main(["down", "--local-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "Nothing was running."
