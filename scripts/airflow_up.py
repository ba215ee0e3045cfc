"""`make up` / `make down`: Airflow (UI and REST API) and the local AWS stack as background processes.

    airflow_up.py up   [--api-port 8080] [--aws-port 4566] [--local-dir .local] [--schedule]
    airflow_up.py down [--local-dir .local]

`up` starts `python -m local_aws` and Airflow's four components (`api-server`, `scheduler`, `dag-processor`,
`triggerer`), each in its own process group, with the SQLite metadata DB and the LocalExecutor under
<local-dir>/airflow and the repository's dags/ and plugins/. The `aws_default` connection points at the local
stack, the bucket is set up as `make setup-bucket` does, and `up` returns once the stack, the API server's
/api/v2/monitor/health (metadatabase, scheduler, DAG processor, triggerer) and the parsed DAG are all there. It
prints the UI's URL and login and how long it took. Logs go to <local-dir>/logs/, the processes to
<local-dir>/up.json, which `down` reads to stop exactly those processes (and what they started). Both are
idempotent.

Without --schedule the scheduler creates no runs by itself (`[scheduler] use_job_schedule = False`): manual runs
and backfills run, time- and asset-scheduled runs do not. The DAG catches up from its start date, so unpausing
it with the schedule on queues one run per day up to today, and the bundled sample data covers three days.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from run_local import REPO, airflow_environment  # run_local puts the repo (local_aws) on sys.path

sys.path.insert(0, str(REPO / "plugins"))

DAG_ID = "indata_backup"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"  # SimpleAuthManager's default name


class StackError(RuntimeError):
    """The stack did not come up; the message names the component and its log."""


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
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, cwd=REPO, env=env)
        # The start time tells our process from a later one that reuses the pid.
        state = self.recorded()
        state["processes"].append({"name": name, "pid": process.pid, "log": str(log_path),
                                   "create_time": psutil.Process(process.pid).create_time()})
        self._write_state(state)  # at once: `down` also stops what a failed start left

    @staticmethod
    def _alive(entry: dict[str, Any]) -> psutil.Process | None:
        try:
            process = psutil.Process(entry["pid"])
            if abs(process.create_time() - entry["create_time"]) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                return process
        except psutil.NoSuchProcess:
            pass
        return None

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
            self.airflow_home.mkdir(parents=True, exist_ok=True)
            with (self.logs / "db-migrate.log").open("ab") as log:
                migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=REPO,
                                         stdout=log, stderr=subprocess.STDOUT)
            if migrate.returncode:
                raise StackError(f"airflow db migrate failed; see {self.logs / 'db-migrate.log'}")
            for name in COMPONENTS:
                argv = [str(Path(sys.executable).parent / "airflow"), name]
                if name == "api-server":
                    argv += ["--host", "127.0.0.1", "--port", str(self.api_port)]
                self.spawn(name, argv, env)
            self._wait(lambda: self._get_json(self.aws_endpoint + "/_local_aws/health") is not None,
                       "the local AWS stack", started, timeout)
            self._set_up_bucket(env)
            self._wait(self._components_healthy, "Airflow's health (/api/v2/monitor/health)", started, timeout)
            self._wait(self._dag_parsed, f"the DAG {DAG_ID} to be parsed", started, timeout)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def _wait(self, ready, what: str, started: float, timeout: float) -> None:
        while not ready():
            self._check_processes()
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

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop every process of the state file and their descendants (SIGTERM, then SIGKILL); returns their names."""
        live = [(entry, process) for entry in self.recorded()["processes"] if (process := self._alive(entry))]
        family: list[psutil.Process] = []
        for entry, leader in live:
            try:
                descendants = leader.children(recursive=True)
                family += [leader, *descendants]
                os.killpg(leader.pid, signal.SIGTERM)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
            for process in descendants:  # also those that left the group (setsid)
                try:
                    process.terminate()
                except psutil.NoSuchProcess:
                    pass
        _, left = psutil.wait_procs(family, timeout=timeout)
        for process in left:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=10)
        self.state_file.unlink(missing_ok=True)
        self._token = None
        return [entry["name"] for entry, _ in live]

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
    parser.add_argument("--schedule", action="store_true",
                        help="let the scheduler create scheduled and asset-triggered runs (the DAG catches up)")
    args = parser.parse_args(argv)
    stack = AirflowStack(args.local_dir, api_port=args.api_port, aws_port=args.aws_port, aws_state=args.aws_state,
                         schedule=args.schedule)
    if args.command == "down":
        stopped = stack.stop()
        print(f"Stopped {', '.join(stopped)}." if stopped else "Nothing was running.")
        return 0
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
