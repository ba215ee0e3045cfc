"""tests/process_guard.py: a session that leaves processes running fails, names them, and leaves none behind.

An inner pytest session (a subprocess, with only the guard loaded) runs tests that leak on purpose.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]

LEAKING_TESTS = '''
import subprocess, sys, time
from pathlib import Path

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]
# Starts a server in a session of its own, and exits: the server is an orphan outside pytest's group and session.
DOUBLE_FORK = [sys.executable, "-c", (
    "import subprocess, sys; "
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(p.pid)")]


def test_forgets_a_server():
    server = subprocess.Popen(SLEEP, start_new_session=True)
    Path("pids").write_text(f"{server.pid}\\n")


def test_orphans_a_daemon():
    daemon = int(subprocess.run(DOUBLE_FORK, capture_output=True, text=True, check=True).stdout)
    with Path("pids").open("a") as pids:
        pids.write(f"{daemon}\\n")
'''

CLEAN_TESTS = '''
import subprocess, sys


def test_waits_for_its_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


def run_inner_session(folder: Path, tests: str) -> subprocess.CompletedProcess:
    (folder / "test_inner.py").write_text(tests)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.process_guard", "-p", "no:cacheprovider",
                           "-q", "test_inner.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_session_that_leaves_processes_running_fails_names_them_and_stops_them(tmp_path):
    result = run_inner_session(tmp_path, LEAKING_TESTS)
    pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
    try:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "2 passed" in result.stdout
        assert "2 process(es) started by this session were still running at its end; stopped now" in result.stdout
        for pid in pids:
            assert f"pid {pid} (parent " in result.stdout
        deadline = time.monotonic() + 10  # the inner pytest reaped the server; init or we reap the daemon
        while any(alive(pid) for pid in pids):
            assert time.monotonic() < deadline, [pid for pid in pids if alive(pid)]
            time.sleep(0.1)
    finally:
        for pid in pids:
            if alive(pid):
                psutil.Process(pid).kill()


def test_a_clean_session_passes_and_says_nothing(tmp_path):
    result = run_inner_session(tmp_path, CLEAN_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "still running" not in result.stdout
