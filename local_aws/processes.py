"""Processes we start and must stop again: who they are, and stopping each with everything it started.

A pid alone can be reused. psutil's `create_time()` is the kernel's start time plus the boot time, and the boot time
is a wall-clock value derived from the current clock: it moved by a whole second on a machine while a stack ran, and
a comparison within 0.01 s then took our own processes for strangers. An identity here is what the kernel itself
recorded when the process started, which nothing changes afterwards: the start time in clock ticks after boot
(field 22 of /proc/<pid>/stat) and the process group, with the boot id, so that after a reboot a new process with
the same pid and tick count is not taken for an old one. Linux only, like the rest of the local tooling.
"""
from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int, int]:
    """(state, process group, start ticks) from /proc/<pid>/stat; raises ProcessLookupError when there is none."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessLookupError(pid) from None
    # The command name (field 2) sits in parentheses and may itself hold spaces and ')': split after the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[2]), int(fields[19])  # fields 3 (state), 5 (pgrp) and 22 (starttime)


def boot_id() -> str:
    return (PROC / "sys/kernel/random/boot_id").read_text().strip()


@dataclass(frozen=True)
class Identity:
    """One process as the kernel knows it; equal only to itself, never to a later process that reuses the pid."""

    pid: int
    pgid: int
    start_ticks: int
    boot_id: str

    @classmethod
    def of(cls, pid: int) -> Identity:
        _, pgid, ticks = _stat(pid)
        return cls(pid, pgid, ticks, boot_id())

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Identity:
        return cls(record["pid"], record["pgid"], record["start_ticks"], record["boot_id"])

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def leads_group(self) -> bool:
        return self.pid == self.pgid

    def process(self) -> psutil.Process | None:
        """The live process this identity names; None when it exited, is a zombie, or its pid is someone else's."""
        if self.boot_id != boot_id():
            return None
        try:
            process = psutil.Process(self.pid)
            state, _, ticks = _stat(self.pid)  # after psutil's own read: a reuse in between shows here
        except (ProcessLookupError, psutil.NoSuchProcess):
            return None
        return process if ticks == self.start_ticks and state != "Z" else None

    def pid_reused(self) -> bool:
        """Whether another process (not this one, nor its zombie) holds the pid now."""
        if self.boot_id != boot_id():
            return psutil.pid_exists(self.pid)
        try:
            return _stat(self.pid)[2] != self.start_ticks
        except ProcessLookupError:
            return False


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (psutil's is_running also notices a reused pid)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int, since_ticks: int) -> list[psutil.Process]:
    """Live processes of the group that started no earlier than its leader (a reused group id has no such members)."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, group, ticks = _stat(int(entry.name))
            if group == pgid and ticks >= since_ticks and state != "Z":
                members.append(psutil.Process(int(entry.name)))
        except (ProcessLookupError, psutil.NoSuchProcess, ValueError):
            continue
    return members


def family(identity: Identity) -> list[psutil.Process]:
    """The process (when alive), its descendants (also those that left its group) and what is left in its group.

    A group outlives its leader while members remain (a killed scheduler's task workers), and its id cannot be given
    to a new process meanwhile; once another process holds the pid, the group is not ours any more.
    """
    if identity.boot_id != boot_id():
        return []
    leader = identity.process()
    members: dict[int, psutil.Process] = {}
    if leader is not None:
        members[leader.pid] = leader
        try:
            members.update((child.pid, child) for child in leader.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    if identity.leads_group and not identity.pid_reused():
        for member in group_members(identity.pgid, identity.start_ticks):
            members.setdefault(member.pid, member)
    return list(members.values())


def send_signal(pid: int, sig: int, group: bool = False) -> None:
    """os.kill or os.killpg, in one place: a test stands in here for a process that cannot be killed."""
    (os.killpg if group else os.kill)(pid, sig)


@dataclass
class Outcome:
    """What stopping one recorded process did: was it there, what else was stopped with it, what is still alive."""

    identity: Identity
    was_running: bool
    members: list[psutil.Process] = field(default_factory=list)  # the process itself first when it was running
    survivors: list[psutil.Process] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def stopped_with_it(self) -> int:
        """How many other processes (its descendants, what was left in its group) were stopped with it."""
        surviving = {process.pid for process in self.survivors}
        return sum(process.pid != self.identity.pid and process.pid not in surviving for process in self.members)


def _signal_family(outcome: Outcome, processes: Iterable[psutil.Process], sig: int) -> None:
    if outcome.identity.leads_group and outcome.identity.process() is not None:
        # The whole group at once, while its leader pins the group id: also what forked since we listed it.
        _send(outcome, outcome.identity.pgid, sig, group=True)
    for process in processes:
        if running(process):
            _send(outcome, process.pid, sig)


def _send(outcome: Outcome, pid: int, sig: int, group: bool = False) -> None:
    try:
        send_signal(pid, sig, group)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        outcome.errors.append(f"{signal.Signals(sig).name} to {'group ' if group else ''}{pid}: {error}")


def stop(identities: Sequence[Identity], grace: float = 30.0, kill_rounds: int = 3) -> list[Outcome]:
    """Stop each process with its family: SIGTERM to all, SIGKILL to what is left after `grace` seconds.

    With grace 0 everything gets SIGKILL at once (a crash). The families are listed again before each SIGKILL
    round, so that a process forked during the shutdown (a scheduler starting one more task worker) is stopped too.
    An outcome's survivors are the processes still alive at the end: the caller must not forget them.
    """
    outcomes = [Outcome(identity, identity.process() is not None, family(identity)) for identity in identities]
    if grace > 0:
        for outcome in outcomes:
            _signal_family(outcome, outcome.members, signal.SIGTERM)
        psutil.wait_procs([process for outcome in outcomes for process in outcome.members], timeout=grace)
    signalled: set[int] = set()
    for _ in range(kill_rounds):
        left = []
        for outcome in outcomes:
            known = {process.pid for process in outcome.members}
            outcome.members += [process for process in family(outcome.identity) if process.pid not in known]
            alive = [process for process in outcome.members if running(process)]
            _signal_family(outcome, alive, signal.SIGKILL)
            left += alive
        if not left or {process.pid for process in left} <= signalled:
            break  # nothing new since the last round: another SIGKILL would not change a thing
        signalled |= {process.pid for process in left}
        psutil.wait_procs(left, timeout=min(5.0, max(grace, 1.0)))
    for outcome in outcomes:
        outcome.survivors = [process for process in outcome.members if running(process)]
    return outcomes


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process instead of init (Linux's PR_SET_CHILD_SUBREAPER).

    A grandchild whose parent died (a task worker after its scheduler, a daemon that double-forked) then stays
    among this process's descendants, where a last look before exiting finds it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False
