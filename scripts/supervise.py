"""`python -m scripts.supervise -- <command>`: run a command, and run it again when it dies of an error, as a service
manager would (systemd's ``Restart=on-failure``, compose's ``restart``).

`make up` runs each Airflow component under it. Airflow's scheduler can exit on an error it does not handle, such
as a dag run that another process deleted while the scheduler was creating its task instances (on SQLite, a
backfill whose creation was refused with "database is locked" after its first runs were written). Airflow is
built to resume after such a restart: the new scheduler adopts or resets the task instances the old one left.

A stop (SIGTERM or SIGINT to the process group, as `make down` sends) ends it with the command: no restart. After
``--max-restarts`` restarts within ``--window`` seconds it gives up with the command's exit code, so a component
that cannot start is not restarted forever.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time


def supervise(command: list[str], max_restarts: int = 5, window: float = 300.0, pause: float = 2.0) -> int:
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True  # the child got the same signal from the process group; wait for it to end

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts: list[float] = []
    while True:
        code = subprocess.Popen(command).wait()  # a signal runs stop() and the wait goes on (PEP 475)
        if stopping or code == 0:
            return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + its number
        now = time.monotonic()
        restarts = [moment for moment in restarts if now - moment < window] + [now]
        if len(restarts) > max_restarts:
            print(f"supervise: {command[0]} exited with {code} for the {len(restarts)}th time in {window:.0f} s; "
                  "giving up", file=sys.stderr, flush=True)
            return code
        print(f"supervise: {' '.join(command[:2])} exited with {code}; restarting it in {pause:.0f} s",
              file=sys.stderr, flush=True)
        time.sleep(pause)
        if stopping:
            return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-restarts", type=int, default=5)
    parser.add_argument("--window", type=float, default=300.0, help="seconds over which restarts are counted")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return supervise(command, args.max_restarts, args.window)


if __name__ == "__main__":
    sys.exit(main())
