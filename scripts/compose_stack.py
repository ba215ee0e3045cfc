"""`make compose-up`, `make compose-down`, `make test-compose`: docker-compose.yaml on podman.

    python -m scripts.compose_stack preflight [--file F ...]   # every published port free, or name the busy ones
    python -m scripts.compose_stack up    [--file F ...]   # pre-flight, ordered start, every health check passed
    python -m scripts.compose_stack down  [--file F ...]   # down -v, then asserts nothing of the project is left
    python -m scripts.compose_stack check [--file F ...] [--date 2026-11-01]   # up, one DAG run, counts, down

podman 4.3 (Debian bookworm's) schedules health checks with systemd timers and podman-compose ignores
`condition: service_healthy` before podman 4.6, so without systemd nothing would ever wait for a healthy service.
`up` therefore starts the services itself in the order their `depends_on` gives, one `podman-compose up -d
--no-deps` each, and honours the conditions: `service_healthy` by running the service's own health check
(`podman healthcheck run`) until it passes, `service_completed_successfully` by waiting for the container to exit
0. A published port already in use fails before anything starts, naming the port and the service.

`check` is the end-to-end test: the stack comes up, a token comes from the API server (GET /auth/token, the
SimpleAuthManager of the compose file, every user admin), the DAG is unpaused and triggered for one sample date,
the run must succeed, and each dataset's counts.json, read from the local-aws service's published port with
boto3, must match include/sample_data/expected_counts.json. The stack is then taken down with its volumes, and no
container, volume, network or listener of the project may remain. It prints the times it measured (to healthy,
the run, down) and writes them to .local/compose/timings.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from scripts.common import REPO

PROJECT = "indata-backup"
DAG_ID = "indata_backup"
PODMAN_COMPOSE = os.environ.get("PODMAN_COMPOSE", str(REPO / ".venv" / "compose" / "bin" / "podman-compose"))
DEFAULT_FILES = ["docker-compose.yaml", "docker-compose.offline.yaml"]
HEALTH_TIMEOUT = 600.0


class ComposeError(RuntimeError):
    """The stack did not do what it should; the message says which service and what to look at."""


def compose_command(files: list[str], *args: str) -> list[str]:
    return [PODMAN_COMPOSE, "-p", PROJECT, *(a for f in files for a in ("-f", str(REPO / f))), *args]


def merged_config(files: list[str]) -> dict[str, Any]:
    result = subprocess.run(compose_command(files, "config"), cwd=REPO, capture_output=True, text=True, check=True)
    return yaml.safe_load(result.stdout)


def published_ports(services: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(service, host address, host port) of every published port, short or long syntax."""
    ports = []
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                ports.append((name, port.get("host_ip") or "0.0.0.0", int(port["published"])))
                continue
            parts = str(port).split(":")
            if len(parts) == 3:
                ports.append((name, parts[0], int(parts[1])))
            elif len(parts) == 2:
                ports.append((name, "0.0.0.0", int(parts[0])))
    return ports


def busy_ports(services: dict[str, Any]) -> list[str]:
    """A line per published port something already listens on."""
    busy = []
    for name, address, port in published_ports(services):
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError as error:
                busy.append(f"port {port} on {address} (service {name}) is already in use: {error.strerror}")
    return busy


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (dep or {}).get("condition", "service_started") for name, dep in deps.items()}


def start_order(services: dict[str, Any]) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
        if name not in order:
            for dep in depends_on(services[name]):
                visit(dep, (*path, name))
            order.append(name)

    for name in services:
        visit(name, ())
    return order


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def container(service: str) -> str:
    names = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}",
                   "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}").stdout.split()
    if len(names) != 1:
        raise ComposeError(f"expected one container for service {service}, found {names}")
    return names[0]


def logs_tail(service: str, lines: int = 40) -> str:
    result = podman("logs", "--tail", str(lines), container(service), check=False)
    return (result.stdout + result.stderr).strip()


def wait_healthy(service: str, timeout: float = HEALTH_TIMEOUT) -> float:
    """Run the service's health check until it passes; seconds it took. A container that stops fails at once."""
    name, started = container(service), time.monotonic()
    while True:
        if podman("healthcheck", "run", name, check=False).returncode == 0:
            return time.monotonic() - started
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state not in ("running", "created", "starting"):
            raise ComposeError(f"{service} is {state}, not healthy; its log ends:\n{logs_tail(service)}")
        if time.monotonic() - started > timeout:
            raise ComposeError(f"{service} not healthy after {timeout:.0f} s; its log ends:\n{logs_tail(service)}")
        time.sleep(2)


def wait_completed(service: str) -> None:
    code = podman("wait", container(service)).stdout.strip()
    if code != "0":
        raise ComposeError(f"{service} exited with {code}; its log ends:\n{logs_tail(service)}")


def preflight(services: dict[str, Any]) -> None:
    if busy := busy_ports(services):
        running = podman("ps", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format", "{{.Names}}",
                         check=False).stdout.split()
        hint = ("this project's stack is running (`make compose-down` stops it)" if running
                else "stop what listens there (`ss -ltnp` shows it) and retry")
        raise ComposeError("cannot start the compose stack:\n  " + "\n  ".join(busy) + "\n" + hint)


def up(files: list[str]) -> dict[str, float]:
    """Start every service in dependency order, each once its dependencies meet their conditions; return the
    seconds until each long-running service was healthy (from the start of `up`)."""
    services = merged_config(files)["services"]
    preflight(services)
    started = time.monotonic()
    healthy: dict[str, float] = {}
    done: set[tuple[str, str]] = set()
    for name in start_order(services):
        for dep, condition in depends_on(services[name]).items():
            if (dep, condition) in done:
                continue
            if condition == "service_healthy":
                wait_healthy(dep)
                healthy.setdefault(dep, round(time.monotonic() - started, 1))
            elif condition == "service_completed_successfully":
                wait_completed(dep)
            done.add((dep, condition))
        print(f"starting {name}", flush=True)
        # Its stderr is podman's complaint that systemd cannot schedule health checks, for every container.
        result = subprocess.run(compose_command(files, "up", "-d", "--no-deps", "--no-build", name), cwd=REPO,
                                capture_output=True, text=True)
        if result.returncode:
            raise ComposeError(f"starting {name} failed:\n{result.stdout}{result.stderr}")
    for name, service in services.items():
        if name not in healthy and (service.get("healthcheck") or {}).get("test"):
            wait_healthy(name)
            healthy[name] = round(time.monotonic() - started, 1)
    print(f"all services healthy after {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{name} {seconds} s" for name, seconds in healthy.items()), flush=True)
    return healthy


def leftovers(services: dict[str, Any]) -> list[str]:
    """What of the project still exists after `down -v`: containers, volumes, networks, listeners."""
    label = f"label=io.podman.compose.project={PROJECT}"
    found = [f"container {n}" for n in podman("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()]
    found += [f"volume {v}" for v in podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
              if v.startswith(f"{PROJECT}_")]
    found += [f"network {n}" for n in podman("network", "ls", "--format", "{{.Name}}").stdout.split()
              if n.startswith(f"{PROJECT}_")]
    return found + busy_ports(services)


def down(files: list[str]) -> None:
    services = merged_config(files)["services"]
    subprocess.run(compose_command(files, "down", "-v", "-t", "20"), cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # podman-compose 1.6 leaves the project's network behind when it has no containers left to name it.
    if f"{PROJECT}_default" in podman("network", "ls", "--format", "{{.Name}}").stdout.split():
        podman("network", "rm", f"{PROJECT}_default")
    if left := leftovers(services):
        raise ComposeError("after `down -v` these remain: " + ", ".join(left))
    print("compose stack down: no container, volume, network or listener of the project left", flush=True)


def api(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> Any:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise ComposeError(f"{method} {url}: HTTP {error.code} {error.read().decode(errors='replace')}") from None


def run_date_through_api(base: str, run_date: str, timeout: float = 900.0) -> dict[str, Any]:
    """Trigger the DAG for `run_date` (its logical date) and wait for the run to finish; the run's final record."""
    token = api(f"{base}/auth/token")["access_token"]
    deadline = time.monotonic() + 300
    while True:  # the DAG processor parses the DAG after the API server is healthy
        try:
            api(f"{base}/api/v2/dags/{DAG_ID}", token=token)
            break
        except ComposeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)
    api(f"{base}/api/v2/dags/{DAG_ID}", "PATCH", {"is_paused": False}, token)
    run = api(f"{base}/api/v2/dags/{DAG_ID}/dagRuns", "POST",
              {"dag_run_id": f"compose_check__{run_date}", "logical_date": f"{run_date}T00:00:00+00:00"}, token)
    url, deadline = f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}", time.monotonic() + timeout
    while (run := api(url, token=token))["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise ComposeError(f"the run for {run_date} is still {run['state']} after {timeout:.0f} s")
        time.sleep(5)
    if run["state"] != "success":
        tasks = api(f"{url}/taskInstances", token=token)["task_instances"]
        failed = sorted(t["task_id"] for t in tasks if t["state"] != "success")
        raise ComposeError(f"the run for {run_date} failed; tasks not successful: {failed} (see `podman logs` of "
                           f"{PROJECT}_airflow-scheduler_1 and the airflow-logs volume)")
    return run


def check_counts(endpoint: str, run_date: str) -> list[str]:
    """Each dataset's counts.json in S3 against the sample data's expected counts; the differences found."""
    import boto3

    from indata_ops.config import load_config
    from indata_ops.layout import job_counts_key

    config = load_config()
    expected = json.loads((REPO / "include" / "sample_data" / "expected_counts.json").read_text())
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=config.settings.region,
                      aws_access_key_id="local", aws_secret_access_key="local")
    problems = []
    for dataset in config.datasets:
        key = job_counts_key(dataset.name, run_date)
        counts = json.loads(s3.get_object(Bucket=config.settings.bucket, Key=key)["Body"].read())
        want = expected[dataset.name][run_date]
        got = (counts["input"], counts["clean"], counts["rejected"], counts["exact_duplicates"],
               counts["key_duplicates"], counts["rejects_by_reason"])
        wanted = (want["rows_in"], want["clean"], want["rejected"], want["exact_duplicates"], want["duplicate_keys"],
                  want["rejected_by_reason"])
        print(f"{dataset.name} {run_date}: input {got[0]}, clean {got[1]}, rejected {got[2]}, "
              f"duplicates {got[3]}+{got[4]}", flush=True)
        if got != wanted:
            problems.append(f"s3://{config.settings.bucket}/{key}: (input, clean, rejected, exact duplicates, key "
                            f"duplicates, rejects by reason) {got}, expected {wanted}")
    return problems


def check_report_links(base: str, run_id: str) -> list[str]:
    """Each dataset's "Validation report" link, as the UI shows it, opened from this host as a browser would."""
    from indata_ops.config import load_config

    token = api(f"{base}/auth/token")["access_token"]
    problems = []
    for dataset in load_config().datasets:
        task = f"{dataset.name}.validate_clean"
        links = api(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task}/links",
                    token=token)["extra_links"]
        url = links.get("Validation report") or ""
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                page = response.read().decode(errors="replace")
                kind = response.headers.get("Content-Type", "")
        except (ValueError, OSError) as error:  # no link, an address this host cannot reach, an HTTP error
            problems.append(f"{task}: the report link {url!r} does not open from the host: {error}")
            continue
        if not kind.startswith("text/html") or dataset.name not in page:
            problems.append(f"{task}: {url} answered {kind!r} without the dataset's report")
        else:
            print(f"{task}: report link opens from the host ({len(page)} bytes of HTML)", flush=True)
    return problems


def check(files: list[str], run_date: str) -> dict[str, Any]:
    services = merged_config(files)["services"]
    ports = {name: port for name, _, port in published_ports(services)}
    timings: dict[str, Any] = {"run_date": run_date}
    # What an interrupted earlier check left (its containers keep the ports) goes first: the check starts empty.
    if any(not item.startswith("port ") for item in leftovers(services)):
        print(f"taking down what is left of an earlier {PROJECT} stack", flush=True)
        down(files)
    preflight(services)  # before the try: nothing was started, so there is nothing to take down
    try:
        started = time.monotonic()
        timings["healthy_by_service_s"] = up(files)
        timings["up_to_healthy_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        base = f"http://127.0.0.1:{ports['airflow-apiserver']}"
        run = run_date_through_api(base, run_date)
        timings["dag_run_s"] = round(time.monotonic() - started, 1)
        print(f"indata_backup {run_date} succeeded in {timings['dag_run_s']} s", flush=True)
        if problems := check_counts(f"http://127.0.0.1:{ports['local-aws']}", run_date):
            raise ComposeError("counts differ:\n  " + "\n  ".join(problems))
        if problems := check_report_links(base, run["dag_run_id"]):
            raise ComposeError("report links:\n  " + "\n  ".join(problems))
    finally:
        started = time.monotonic()
        down(files)
        timings["down_s"] = round(time.monotonic() - started, 1)
    out = REPO / ".local" / "compose" / "timings.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(timings, indent=2))
    print(json.dumps(timings), flush=True)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("preflight", "up", "down", "check"))
    parser.add_argument("--file", action="append", dest="files",
                        help=f"compose files, in order (default: {' '.join(DEFAULT_FILES)})")
    parser.add_argument("--date", default="2026-11-01", help="the sample date `check` runs")
    args = parser.parse_args()
    files = args.files or DEFAULT_FILES
    try:
        if args.action == "preflight":
            preflight(merged_config(files)["services"])
        elif args.action == "up":
            up(files)
        elif args.action == "down":
            down(files)
        else:
            check(files, args.date)
    except (ComposeError, subprocess.CalledProcessError) as error:
        print(f"compose {args.action}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
