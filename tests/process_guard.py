"""A last look when the test session ends: a process this run started that is still alive is stopped, named in the
terminal summary, and fails the session, so that a leak is both cleaned up and seen.

Fixtures stop what they start (the local AWS stack, the UI tests' Airflow); this catches what they miss: a server a
test forgot, a teardown that never ran, a task worker whose scheduler died. pytest becomes a child subreaper at
configure time: a descendant whose parent exited is re-parented to pytest instead of init, so it is still among
pytest's descendants, also after it left its process group or session. Loaded by the root conftest.py.
"""
from __future__ import annotations

import atexit
import os
import sys

import psutil
import pytest

from local_aws import processes

LEFT_RUNNING = pytest.StashKey[list[str]]()
_checked = False


def _tethered() -> set[int]:
    """Processes that end with this one by design: Spark's JVM exits when py4j's pipe to it closes."""
    if "pyspark" not in sys.modules:
        return set()
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is None:
        return set()
    try:
        jvm = psutil.Process(proc.pid)
        return {jvm.pid, *(child.pid for child in jvm.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def _describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid} (parent {process.ppid()}): {' '.join(process.cmdline())[:300]}"
    except psutil.NoSuchProcess:
        return f"pid {process.pid} (exited while being listed)"


def stop_leftovers() -> list[str]:
    """Stop this process's live descendants (the tethered ones aside); returns one line for each, survivors flagged."""
    tethered = _tethered()
    leftovers = {process.pid: _describe(process) for process in psutil.Process().children(recursive=True)
                 if process.pid not in tethered and processes.running(process)}
    identities = []
    for pid in leftovers:
        try:
            identities.append(processes.Identity.of(pid))
        except ProcessLookupError:
            continue
    survivors = {process.pid for outcome in processes.stop(identities, grace=10) for process in outcome.survivors}
    return [line + ("  -- STILL RUNNING after SIGKILL" if pid in survivors else "") for pid, line in leftovers.items()]


def pytest_configure(config: pytest.Config) -> None:
    processes.become_subreaper()
    atexit.register(_last_resort)


@pytest.hookimpl(trylast=True)  # after pytest's own sessionfinish has torn down the session-scoped fixtures
def pytest_sessionfinish(session: pytest.Session) -> None:
    global _checked
    left = stop_leftovers()
    _checked = True
    _reap_zombies()
    if left:
        session.config.stash[LEFT_RUNNING] = left
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _reap_zombies() -> None:
    """Reap the exited children: orphans re-parented to us (a Glue job's JVM after its script) would otherwise stay
    zombies until we exit, and then go to an init that may never reap them. The tests are over: no Popen waits."""
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    left = config.stash.get(LEFT_RUNNING, [])
    if left:
        terminalreporter.write_sep("!", f"{len(left)} process(es) started by this session were still running at its "
                                        "end; stopped now", red=True, bold=True)
        for line in left:
            terminalreporter.write_line(line, red=True)


def _last_resort() -> None:
    """When the session's end never came (a second Ctrl-C during teardown), still stop what is left, loudly."""
    if not _checked:
        for line in stop_leftovers():
            print(f"process_guard: stopped a process left running: {line}", file=sys.stderr)
