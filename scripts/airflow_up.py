"""`make up` / `make down`: Airflow (UI and REST API) and the local AWS stack as background processes.

    python -m scripts.airflow_up up   [--api-port 8080] [--aws-port 4566] [--local-dir .local] [--schedule]
    python -m scripts.airflow_up down [--local-dir .local] [--grace 30]

`up` starts `python -m local_aws` and Airflow's four components (`api-server`, `scheduler`, `dag-processor`,
`triggerer`), each in its own process group, with the SQLite metadata DB and the LocalExecutor under
<local-dir>/airflow and the repository's dags/ and plugins/. The `aws_default` connection points at the local
stack, the bucket is set up as `make setup-bucket` does, and `up` returns once the stack, the API server's
/api/v2/monitor/health (metadatabase, scheduler, DAG processor, triggerer) and the parsed DAG are all there. It
prints the UI's URL and login and how long it took. Logs go to <local-dir>/logs/, the processes to
<local-dir>/up.json, which `down` reads to stop exactly those processes (and what they started). Both are
idempotent. A process is recorded by what the kernel noted at its start (start ticks, process group, boot id), so
that neither a reused pid nor a moved clock confuses `down`; what `down` could not stop stays recorded, and `down`
then exits non-zero. Logs, the Airflow home and the generated admin password are readable by their owner only.

Without --schedule the scheduler creates no runs by itself (`[scheduler] use_job_schedule = False`): manual runs
and backfills run, time- and asset-scheduled runs do not. The DAG catches up from its start date, so unpausing
it with the schedule on queues one run per day up to today, and the bundled sample data covers three days.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from local_aws import processes
from local_aws.processes import Identity
from scripts.common import REPO, airflow_environment

DAG_ID = "indata_backup"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"  # SimpleAuthManager's default name
# The components write the generated admin password (api-server.log, PASSWORDS_FILE), Airflow's secret key
# (airflow.cfg) and the metadata DB: everything they create is their owner's only.
PRIVATE_UMASK = 0o077
# up.json files written before identities held only psutil's create_time (start ticks plus a boot time that can
# move by a second or more): such a record still names its process within this many seconds, if the pid leads its
# own process group and runs the component's command.
LEGACY_CREATE_TIME_TOLERANCE = 5.0


class StackError(RuntimeError):
    """The stack did not come up; the message names the component and its log."""


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)  # also when it existed already, from a start before this rule
    return path


def open_private_log(path: Path):
    """The log for appending, 0600 (also an existing one); a component's log may hold the admin password."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


@dataclass
class StopReport:
    """What `stop` did, for people (lines) and for callers (the components stopped, the entries still recorded)."""

    stopped: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class AirflowStack:
    """The processes of one local Airflow + local AWS stack, all state under `local` (the repo's .local by default)."""

    local: Path
    api_port: int = 8080
    aws_port: int = 4566
    aws_state: Path | None = None
    schedule: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. BACKUP_SOURCE_ROOT for every component

    def __post_init__(self) -> None:
        self.local = Path(self.local).resolve()
        self.aws_state = Path(self.aws_state or self.local / "aws").resolve()
        self._token: str | None = None

    # --- where things are --------------------------------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.local / "airflow"

    @property
    def logs(self) -> Path:
        return self.local / "logs"

    @property
    def state_file(self) -> Path:
        return self.local / "up.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **airflow_environment(self.aws_endpoint, self.local), **self.extra_env}
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Task processes reach the API server here; Airflow's default assumes port 8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.schedule),
            "AIRFLOW__API__WORKERS": "1",
            # A worker notices that its task process exited only when its select times out, after up to this
            # interval (5 s by default). When a deferred task's trigger fires sooner (the local stack answers at
            # once), the resumed try can be running before that stale exit reaches the scheduler, and Airflow
            # 3.3.2 then fails the resumed try ("finished with state success, but the task instance's state
            # attribute is running", apache/airflow#72716). 1 s narrows that window; retries cover the rest.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # The executor runs `airflow` from PATH: the venv's, whoever started us.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # --- processes -----------------------------------------------------------------------------------------------
    def recorded(self) -> dict[str, Any]:
        """The state file: URLs and the processes started (name, pid, start time, log)."""
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {"processes": []}

    def _write_state(self, state: dict[str, Any]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Start a process in its own process group, its output in logs/<name>.log, and record it at once."""
        log_path = private_dir(self.logs) / f"{name}.log"
        with open_private_log(log_path) as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, cwd=REPO, env=env, umask=PRIVATE_UMASK)
        state = self.recorded()
        state["processes"].append({"name": name, **Identity.of(process.pid).record(), "argv": argv,
                                   "log": str(log_path)})
        self._write_state(state)  # at once: `down` also stops what a failed start left

    @staticmethod
    def _identity(entry: dict[str, Any]) -> Identity | str:
        """The recorded process's identity; for a record from before identities (create_time only) the live
        process's when it passes for ours, or else why not: "exited", "reused" or "uncertain"."""
        if "start_ticks" in entry:
            return Identity.from_record(entry)
        try:
            process = psutil.Process(entry["pid"])
            command = " ".join(process.cmdline())
            if os.getpgid(process.pid) != process.pid or entry["name"].replace("-", "_") not in command.replace(
                    "-", "_"):
                return "reused"
            if abs(process.create_time() - entry["create_time"]) > LEGACY_CREATE_TIME_TOLERANCE:
                return "uncertain"
            return Identity.of(process.pid)
        except (psutil.NoSuchProcess, ProcessLookupError):
            return "exited"

    def _alive(self, entry: dict[str, Any]) -> Identity | None:
        identity = self._identity(entry)
        return identity if isinstance(identity, Identity) and identity.process() is not None else None

    def running(self) -> list[str]:
        return [entry["name"] for entry in self.recorded()["processes"] if self._alive(entry)]

    def _check_processes(self) -> None:
        for entry in self.recorded()["processes"]:
            if not self._alive(entry):
                raise StackError(f"{entry['name']} exited during start-up; see {entry['log']}")

    def start(self, timeout: float = 240) -> float:
        """Start everything and wait until healthy; returns the seconds it took. Stops what it started on failure."""
        if self.running():
            raise StackError(f"already running: {', '.join(self.running())} (state in {self.state_file}); "
                             "stop it first (make down)")
        if uncertain := [entry["name"] for entry in self.recorded()["processes"]
                         if self._identity(entry) == "uncertain"]:
            raise StackError(f"{', '.join(uncertain)} may still be running (recorded in {self.state_file}, which "
                             "`make down` keeps until they are gone); see `make down`")
        for port, what in ((self.aws_port, "local AWS stack"), (self.api_port, "Airflow API server")):
            if not port_is_free(port):
                raise StackError(f"port {port} for the {what} is in use (`make aws` or another stack running?)")
        started = time.monotonic()
        env = self.environment()
        self._write_state({"url": self.url, "aws_endpoint": self.aws_endpoint,
                           "airflow_home": str(self.airflow_home), "processes": []})
        try:
            self.spawn("local-aws", [sys.executable, "-m", "local_aws", "--port", str(self.aws_port),
                                     "--state-dir", str(self.aws_state)], env)
            # Migrating (which also writes airflow.cfg with its generated secrets) overlaps the stack's start-up;
            # the components start only after it, so they all read the same secrets.
            private_dir(self.airflow_home)
            self._protect_passwords()
            with open_private_log(self.logs / "db-migrate.log") as log:
                migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=REPO,
                                         stdout=log, stderr=subprocess.STDOUT, umask=PRIVATE_UMASK)
            if migrate.returncode:
                raise StackError(f"airflow db migrate failed; see {self.logs / 'db-migrate.log'}")
            for name in COMPONENTS:
                # Restarted when it dies of an error, as a service manager would (scripts/supervise.py).
                argv = [sys.executable, "-m", "scripts.supervise", "--", str(Path(sys.executable).parent / "airflow"),
                        name]
                if name == "api-server":
                    argv += ["--host", "127.0.0.1", "--port", str(self.api_port)]
                self.spawn(name, argv, env)
            self._wait(lambda: self._get_json(self.aws_endpoint + "/_local_aws/health") is not None,
                       "the local AWS stack", started, timeout)
            self._set_up_bucket(env)
            self._wait(self._components_healthy, "Airflow's health (/api/v2/monitor/health)", started, timeout)
            self._wait(self._dag_parsed, f"the DAG {DAG_ID} to be parsed", started, timeout)
            self._protect_passwords()
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def _protect_passwords(self) -> None:
        """The umask already keeps a new passwords file private; this also mends one left by an older start."""
        with contextlib.suppress(FileNotFoundError):
            (self.airflow_home / PASSWORDS_FILE).chmod(0o600)

    def _wait(self, ready, what: str, started: float, timeout: float) -> None:
        while not ready():
            self._check_processes()
            self._protect_passwords()
            if time.monotonic() - started > timeout:
                raise StackError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {self.logs}")
            time.sleep(0.5)

    def _set_up_bucket(self, env: dict[str, str]) -> None:
        """The bucket as `make setup-bucket` leaves it (on AWS it is infrastructure that exists before the DAG)."""
        import boto3

        from indata_ops.bucket import apply_bucket_settings
        from indata_ops.config import load_config

        settings = load_config().settings
        s3 = boto3.client("s3", endpoint_url=self.aws_endpoint, region_name=settings.region,
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        apply_bucket_settings(s3, settings.bucket, settings)

    def stop(self, timeout: float = 30) -> StopReport:
        """Stop every recorded process and its descendants (SIGTERM, SIGKILL after `timeout` s), then look again.

        The record goes only when nothing it names may still be alive: a survivor (or a descendant of one that
        survived) stays in the state file, and its line in the report says so.
        """
        report = StopReport()
        entries = self.recorded()["processes"]
        known: list[tuple[dict[str, Any], Identity]] = []
        for entry in entries:
            identity = self._identity(entry)
            if isinstance(identity, Identity):
                known.append((entry, identity))
            elif identity == "uncertain":
                report.kept.append(entry)
                report.lines.append(f"{entry['name']} (pid {entry['pid']}): a process with that pid runs its command "
                                    "but started at another time than recorded; left alone and kept in the record "
                                    "(stop it by hand if it is ours).")
            else:
                report.lines.append(self._gone(entry, identity == "reused"))
        for (entry, _), outcome in zip(known, processes.stop([identity for _, identity in known], grace=timeout)):
            report.kept += self._survivors(entry, outcome, report.lines)
            if outcome.was_running and entry not in report.kept:
                report.stopped.append(entry["name"])
        if report.kept:
            self._write_state({**self.recorded(), "processes": report.kept})
            report.lines.append(f"{len(report.kept)} process(es) still running stay recorded in {self.state_file}"
                                ": run `make down` again, or stop them by hand.")
        else:
            self.state_file.unlink(missing_ok=True)
        self._token = None
        return report

    @staticmethod
    def _gone(entry: dict[str, Any], reused: bool) -> str:
        what = f"{entry['name']} (pid {entry['pid']}) had already exited"
        return f"{what}; its pid now belongs to another process, left alone." if reused else f"{what}."

    def _survivors(self, entry: dict[str, Any], outcome: processes.Outcome, lines: list[str]) -> list[dict[str, Any]]:
        """Report one process's stop; returns the records of what survived it (itself, or its descendants)."""
        others = outcome.stopped_with_it
        plural = "es" if others != 1 else ""
        survived = {process.pid for process in outcome.survivors}
        if not outcome.was_running:
            line = self._gone(entry, outcome.identity.pid_reused())
            lines.append(f"{line[:-1]}; stopped {others} process{plural} left in its group." if others else line)
        elif entry["pid"] not in survived:
            with_others = f" and {others} process{plural} it started" if others else ""
            lines.append(f"Stopped {entry['name']} (pid {entry['pid']}){with_others}.")
        kept = []
        for process in outcome.survivors:
            if process.pid == entry["pid"]:
                kept.append(entry)
                continue
            try:
                kept.append({"name": f"{entry['name']} descendant", **Identity.of(process.pid).record(),
                             "argv": process.cmdline(), "log": entry.get("log")})
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue  # it died after all
        if kept:
            errors = f" ({'; '.join(outcome.errors)})" if outcome.errors else ""
            lines.append(f"Could not stop {entry['name']}: pid(s) {', '.join(str(k['pid']) for k in kept)} still "
                         f"running after SIGKILL{errors}.")
        return kept

    @contextlib.contextmanager
    def running_stack(self, timeout: float = 240) -> Iterator[float]:
        """Started (yields the seconds it took) and stopped however the block ends: a start that fails half way,
        an error in the block, Ctrl-C. Raises StackError when a process survives the stop."""
        try:
            yield self.start(timeout)
        finally:
            report = self.stop()
            if report.kept:
                raise StackError("the stack did not stop:\n" + "\n".join(report.lines))

    # --- the REST API -----------------------------------------------------------------------------------------
    def admin_password(self) -> str:
        """SimpleAuthManager writes a random password for each user at the API server's first start."""
        passwords = json.loads((self.airflow_home / PASSWORDS_FILE).read_text())
        return passwords[ADMIN_USER]

    def token(self) -> str:
        if self._token is None:
            body = self.request("POST", "/auth/token", {"username": ADMIN_USER, "password": self.admin_password()},
                                auth=False)
            self._token = body["access_token"]
        return self._token

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        """JSON in, JSON out; raises urllib.error.HTTPError with the server's answer in the message."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise urllib.error.HTTPError(error.url, error.code, f"{method} {path}: {error.code} {detail}",
                                         error.headers, None) from None
        return json.loads(text) if text else None

    @staticmethod
    def _get_json(url: str) -> Any:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read() or b"null")
        except (OSError, ValueError):
            return None

    def _components_healthy(self) -> bool:
        health = self._get_json(self.url + "/api/v2/monitor/health")
        return bool(health) and all(part.get("status") == "healthy" for part in health.values())

    def _dag_parsed(self) -> bool:
        errors = self.request("GET", "/api/v2/importErrors")
        if errors["total_entries"]:
            raise StackError("DAG import errors:\n" + "\n".join(
                f"{error['filename']}: {error['stack_trace']}" for error in errors["import_errors"]))
        try:
            self.request("GET", f"/api/v2/dags/{DAG_ID}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--local-dir", type=Path, default=REPO / ".local",
                        help="Airflow home, logs and the process state file live here")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("AIRFLOW_PORT", 8080)))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", 4566)))
    parser.add_argument("--aws-state", type=Path, help="the local AWS stack's state (default: <local-dir>/aws)")
    parser.add_argument("--grace", type=float, default=30,
                        help="down: seconds between SIGTERM and SIGKILL for what has not exited (default 30)")
    parser.add_argument("--schedule", action="store_true",
                        help="let the scheduler create scheduled and asset-triggered runs (the DAG catches up)")
    args = parser.parse_args(argv)
    stack = AirflowStack(args.local_dir, api_port=args.api_port, aws_port=args.aws_port, aws_state=args.aws_state,
                         schedule=args.schedule)
    if args.command == "down":
        report = stack.stop(timeout=args.grace)
        print("\n".join(report.lines + ([] if report.stopped or report.kept else ["Nothing was running."])))
        return 1 if report.kept else 0
    if running := stack.running():
        print(f"Already up ({', '.join(running)}): {stack.recorded()['url']}  (make down stops it)")
        return 0
    print(f"Starting the local AWS stack and Airflow (logs in {stack.logs}) ...", flush=True)
    try:
        seconds = stack.start()
    except StackError as error:
        print(f"make up failed: {error}", file=sys.stderr)
        return 1
    print(f"Healthy in {seconds:.1f} s.\n"
          f"  Airflow UI:      {stack.url}  (user {ADMIN_USER}, password {stack.admin_password()};\n"
          f"                   stored in {stack.airflow_home / PASSWORDS_FILE})\n"
          f"  REST API:        {stack.url}/api/v2  (token: POST {stack.url}/auth/token)\n"
          f"  Local AWS:       {stack.aws_endpoint}  (state in {stack.aws_state})\n"
          f"  Scheduled runs:  {'on' if stack.schedule else 'off (manual runs and backfills only)'}\n"
          f"The DAG {DAG_ID} starts paused: unpause it in the UI. `make down` stops everything.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
