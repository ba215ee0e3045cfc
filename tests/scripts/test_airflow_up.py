"""scripts.airflow_up's process handling (make up / make down), with plain processes instead of Airflow.

The whole start, with Airflow, runs once per session in tests/ui (its fixture starts and stops the stack through
`running_stack`, which the tests here drive with plain processes). What cannot happen on demand here is simulated,
and only that: a clock that moves the boot time (psutil's boot time and create_time patched) and a process that
cannot be killed (its SIGKILL dropped on the way, in local_aws.processes.send_signal).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from local_aws import processes
from scripts.airflow_up import PASSWORDS_FILE, AirflowStack, StackError, main

REPO = Path(__file__).resolve().parents[2]

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]
# A component whose child leaves its process group (setsid), as a task runner may: `down` must still stop it.
COMPONENT_WITH_CHILD = [sys.executable, "-c", (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True); "
    "time.sleep(300)")]


def gone(process: psutil.Process | int) -> bool:
    try:
        return psutil.Process(process).status() == psutil.STATUS_ZOMBIE if isinstance(process, int) \
            else process.status() == psutil.STATUS_ZOMBIE
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
        report = stack.stop(timeout=20)
        assert time.monotonic() - started < 20  # SIGTERM reached the child too: no wait for the SIGKILL
        assert report.stopped == ["scheduler", "triggerer"]
        assert report.lines == [f"Stopped scheduler (pid {leaders[0].pid}) and 1 process it started.",
                                f"Stopped triggerer (pid {leaders[1].pid})."]
        assert all(gone(process) for process in family)
        assert bystander.poll() is None
        assert not stack.state_file.exists()
        assert stack.stop().stopped == []  # down twice is fine
    finally:
        bystander.kill()
        bystander.wait()


def test_a_recorded_pid_now_used_by_another_process_is_left_alone(tmp_path, capsys):
    stack = AirflowStack(tmp_path)
    other = subprocess.Popen(SLEEP, start_new_session=True)  # even a group leader, as ours are
    try:
        record = processes.Identity.of(other.pid).record()
        stack.state_file.write_text(json.dumps({"processes": [
            {"name": "scheduler", **record, "start_ticks": record["start_ticks"] - 1, "log": "scheduler.log"}]}))
        assert stack.running() == []
        assert main(["down", "--local-dir", str(tmp_path)]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"scheduler (pid {other.pid}) had already exited; its pid now belongs to another process, left alone.",
            "Nothing was running."]
        assert other.poll() is None
        assert not stack.state_file.exists()  # nothing it names can be alive
    finally:
        other.kill()
        other.wait()


def shift_the_boot_time(monkeypatch, seconds: float) -> None:
    """As when the clock is stepped: psutil derives the boot time, hence every create_time, from the current clock."""
    import psutil._pslinux

    boot_time = psutil.boot_time()
    create_time = psutil.Process.create_time
    monkeypatch.setattr(psutil, "boot_time", lambda: boot_time + seconds)
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: boot_time + seconds)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: create_time(self) + seconds)


def test_down_stops_everything_after_the_boot_time_moved(tmp_path, monkeypatch, capsys):
    stack = AirflowStack(tmp_path)
    for name in ("local-aws", "scheduler", "triggerer"):
        stack.spawn(name, SLEEP, dict(os.environ))
    leaders = [psutil.Process(entry["pid"]) for entry in stack.recorded()["processes"]]
    shift_the_boot_time(monkeypatch, 1.5)
    assert abs(leaders[0].create_time() - psutil.Process(leaders[0].pid).create_time()) < 0.01  # both moved
    assert stack.running() == ["local-aws", "scheduler", "triggerer"]

    assert main(["down", "--local-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Stopped {name} (pid {leader.pid})." for name, leader in zip(("local-aws", "scheduler", "triggerer"), leaders)]
    assert all(gone(leader) for leader in leaders)
    assert not stack.state_file.exists()


def test_a_record_from_before_identities_is_read_with_a_tolerance_and_the_command(tmp_path, monkeypatch, capsys):
    """Old up.json files hold create_time only: within 5 s and running the component's command, it is ours."""
    shift_the_boot_time(monkeypatch, 1.5)  # since that record was written
    ours = subprocess.Popen([*SLEEP, "scheduler"], start_new_session=True)
    moved_too_far = subprocess.Popen([*SLEEP, "triggerer"], start_new_session=True)
    other_command = subprocess.Popen(SLEEP, start_new_session=True)
    try:
        now = {process.pid: psutil.Process(process.pid).create_time() for process in (ours, moved_too_far)}
        AirflowStack(tmp_path).state_file.write_text(json.dumps({"url": "u", "processes": [
            {"name": "scheduler", "pid": ours.pid, "create_time": now[ours.pid] - 1.5, "log": "s.log"},
            {"name": "triggerer", "pid": moved_too_far.pid, "create_time": now[moved_too_far.pid] - 60,
             "log": "t.log"},
            {"name": "dag-processor", "pid": other_command.pid, "create_time": time.time(), "log": "d.log"}]}))

        assert main(["down", "--local-dir", str(tmp_path)]) == 1  # the uncertain one stays recorded
        out = capsys.readouterr().out
        assert f"Stopped scheduler (pid {ours.pid})." in out
        assert f"triggerer (pid {moved_too_far.pid}): a process with that pid runs its command but started at " \
               "another time than recorded; left alone and kept in the record" in out
        assert f"dag-processor (pid {other_command.pid}) had already exited; its pid now belongs to another" in out
        assert ours.wait(timeout=10) is not None
        assert moved_too_far.poll() is None and other_command.poll() is None
        state = json.loads((tmp_path / "up.json").read_text())
        assert [entry["pid"] for entry in state["processes"]] == [moved_too_far.pid]
        assert state["url"] == "u"
        with pytest.raises(StackError, match="triggerer may still be running"):
            AirflowStack(tmp_path).start()  # nor does up write over it
        assert json.loads((tmp_path / "up.json").read_text()) == state
    finally:
        for process in (ours, moved_too_far, other_command):
            process.kill()
            process.wait()


IGNORES_SIGTERM = [sys.executable, "-c", (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    "time.sleep(300)")]


def wait_for_log(path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.05)


def unkillable(monkeypatch, *pids: int) -> None:
    """SIGKILL to these pids (or their groups) is dropped, as for a process stuck in the kernel or not ours."""
    send = processes.send_signal

    def send_signal(pid, sig, group=False):
        if not (sig == signal.SIGKILL and pid in pids):
            send(pid, sig, group)

    monkeypatch.setattr(processes, "send_signal", send_signal)


def test_the_record_is_kept_while_a_process_survives_and_removed_once_all_are_gone(tmp_path, monkeypatch, capsys):
    stack = AirflowStack(tmp_path)
    stack.spawn("scheduler", SLEEP, dict(os.environ))
    stack.spawn("triggerer", IGNORES_SIGTERM, dict(os.environ))
    scheduler, triggerer = stack.recorded()["processes"]
    wait_for_log(Path(triggerer["log"]), "ready")
    try:
        with monkeypatch.context() as patch:
            unkillable(patch, triggerer["pid"])
            assert main(["down", "--local-dir", str(tmp_path), "--grace", "1"]) == 1
            lines = capsys.readouterr().out.splitlines()
            assert lines == [f"Stopped scheduler (pid {scheduler['pid']}).",
                             f"Could not stop triggerer: pid(s) {triggerer['pid']} still running after SIGKILL.",
                             f"1 process(es) still running stay recorded in {stack.state_file}: run `make down` "
                             "again, or stop them by hand."]
            assert stack.recorded()["processes"] == [triggerer]
            assert gone(scheduler["pid"])
            assert stack.running() == ["triggerer"]

        assert main(["down", "--local-dir", str(tmp_path), "--grace", "1"]) == 0  # now SIGKILL reaches it
        assert capsys.readouterr().out.splitlines() == [f"Stopped triggerer (pid {triggerer['pid']})."]
        assert not stack.state_file.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(triggerer["pid"], signal.SIGKILL)


COMPONENT_WITH_STUBBORN_WORKER = [sys.executable, "-c", (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(\"ready\", flush=True); time.sleep(300)'], start_new_session=True); time.sleep(300)")]


def test_a_surviving_descendant_is_recorded_in_its_leaders_place(tmp_path, monkeypatch, capsys):
    """The scheduler dies, its task worker does not: the record now names the worker, or nothing could find it."""
    stack = AirflowStack(tmp_path)
    stack.spawn("scheduler", COMPONENT_WITH_STUBBORN_WORKER, dict(os.environ))
    (entry,) = stack.recorded()["processes"]
    wait_for_log(Path(entry["log"]), "ready")
    (worker,) = psutil.Process(entry["pid"]).children()
    try:
        with monkeypatch.context() as patch:
            unkillable(patch, worker.pid)
            assert stack.stop(timeout=1).stopped == ["scheduler"]
            (kept,) = stack.recorded()["processes"]
            assert (kept["name"], kept["pid"]) == ("scheduler descendant", worker.pid)
        report = stack.stop(timeout=1)
        assert report.lines == [f"Stopped scheduler descendant (pid {worker.pid})."]
        assert gone(worker)
        assert not stack.state_file.exists()
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()


def test_down_also_stops_what_is_left_in_the_group_of_a_component_that_exited(tmp_path, capsys):
    """A scheduler that crashed leaves its task workers in its process group: down finds them there."""
    stack = AirflowStack(tmp_path)
    stack.spawn("scheduler", [sys.executable, "-c", (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; print(\"ready\", flush=True); time.sleep(300)'])")],
        dict(os.environ))
    (entry,) = stack.recorded()["processes"]
    wait_for_log(Path(entry["log"]), "ready")
    deadline = time.monotonic() + 30
    while stack.running():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (orphan,) = processes.group_members(entry["pgid"], entry["start_ticks"])
    assert main(["down", "--local-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"scheduler (pid {entry['pid']}) had already exited; stopped 1 process left in its group.",
        "Nothing was running."]
    assert gone(orphan)


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


class PlainStack(AirflowStack):
    """The stack's start with plain processes through the same spawn: components, one with task workers that
    leave its group (as Airflow's do), and a start that can fail half way, as the tests/ui fixture may see."""

    def __init__(self, local: Path, fail_after: int | None = None):
        super().__init__(local)
        self.fail_after = fail_after
        self.spawned: list[int] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        super().spawn(name, argv, env)
        self.spawned.append(self.recorded()["processes"][-1]["pid"])

    def start(self, timeout: float = 240) -> float:
        try:
            for number, name in enumerate(("local-aws", "api-server", "scheduler", "triggerer")):
                if number == self.fail_after:
                    raise StackError(f"{name} did not come up")
                self.spawn(name, COMPONENT_WITH_CHILD if name == "scheduler" else SLEEP, dict(os.environ))
        except BaseException:
            self.stop()
            raise
        return 0.0

    def family(self) -> list[psutil.Process]:
        leaders = [psutil.Process(entry["pid"]) for entry in self.recorded()["processes"]]
        return [*leaders, *(child for leader in leaders for child in leader.children(recursive=True))]


@pytest.mark.parametrize("ending", [RuntimeError("a test failed"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_the_ui_fixtures_stack_leaves_no_process_behind_however_the_session_ends(tmp_path, ending):
    stack = PlainStack(tmp_path)
    family: list[psutil.Process] = []
    with pytest.raises(type(ending)):
        with stack.running_stack():
            deadline = time.monotonic() + 30
            while len(family := stack.family()) < 5:  # the scheduler's worker is there too
                assert time.monotonic() < deadline, "the scheduler never started its worker"
                time.sleep(0.05)
            raise ending
    assert [process.pid for process in family if not gone(process)] == []
    assert not stack.state_file.exists()


def test_a_start_that_fails_half_way_leaves_no_process_behind(tmp_path):
    stack = PlainStack(tmp_path, fail_after=2)
    with pytest.raises(StackError, match="scheduler did not come up"):
        with stack.running_stack():
            pytest.fail("the block must not run when the start failed")
    assert len(stack.spawned) == 2 and all(gone(pid) for pid in stack.spawned)
    assert not stack.state_file.exists()


def test_logs_airflow_home_and_the_generated_password_are_the_owners_only(tmp_path):
    stack = AirflowStack(tmp_path)
    stack.logs.mkdir(parents=True, mode=0o755)
    (stack.logs / "api-server.log").write_text("from an older start\n")
    (stack.logs / "api-server.log").chmod(0o644)
    old_password = stack.airflow_home / PASSWORDS_FILE
    old_password.parent.mkdir(mode=0o755)
    old_password.write_text('{"admin": "older"}')
    old_password.chmod(0o644)
    stack._protect_passwords()
    assert old_password.stat().st_mode & 0o777 == 0o600
    old_password.unlink()

    # A component writes the password file with its own default mode, as SimpleAuthManager does.
    stack.spawn("api-server", [sys.executable, "-c", (
        f"import pathlib; pathlib.Path({str(old_password)!r}).write_text('{{}}'); print('written', flush=True)")],
        dict(os.environ))
    wait_for_log(stack.logs / "api-server.log", "written")
    stack.spawn("scheduler", SLEEP, dict(os.environ))
    modes = {path.name: path.stat().st_mode & 0o777 for path in (
        stack.logs, stack.logs / "api-server.log", stack.logs / "scheduler.log", old_password)}
    assert modes == {"logs": 0o700, "api-server.log": 0o600, "scheduler.log": 0o600, PASSWORDS_FILE: 0o600}
    assert stack.stop().stopped == ["scheduler"]
