"""docker-compose.yaml, checked without a Docker engine.

The file is parsed with PyYAML (anchors and ``<<`` merges resolved as Compose resolves them) and checked against the
repository: the services exist, long-running ones have health checks, every bind-mounted path and build file exists,
depends_on names real services, and the Airflow connection points at the local-aws service. When Debian's
``docker-compose`` (1.29) is on PATH, its offline ``config -q`` validation runs too.
"""
from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"

AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")
EXPECTED_SERVICES = ("postgres", "local-aws", *AIRFLOW_SERVICES)
DEPENDS_ON_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with an empty environment: the default, or '' when there is none."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def one_shot(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait for to *finish* (service_completed_successfully): they run once and exit."""
    return {name for service in services.values() for name, dep in _depends_on(service).items()
            if dep.get("condition") == "service_completed_successfully"}


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):  # short syntax: started, no condition
        return {name: {"condition": "service_started"} for name in depends_on}
    return depends_on


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _bind_sources(service: dict[str, Any]) -> list[str]:
    """Host paths of bind mounts (short or long syntax); named volumes are left out."""
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(interpolate(volume["source"]))
            continue
        source = interpolate(volume).split(":", 1)[0]
        if source.startswith((".", "/", "~")):
            sources.append(source)
    return sources


def _named_volumes(service: dict[str, Any]) -> list[str]:
    names = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "volume":
                names.append(volume["source"])
            continue
        source = interpolate(volume).split(":", 1)[0]
        if ":" in interpolate(volume) and not source.startswith((".", "/", "~")):
            names.append(source)
    return names


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching pattern wins, ! re-includes)."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatchcase(path, pattern) or any(
                fnmatch.fnmatchcase(str(parent), pattern) for parent in PurePosixPath(path).parents
                if str(parent) != "."):
            ignored = not negated
    return ignored


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = sorted(set(EXPECTED_SERVICES) - set(services))
    assert not missing, f"docker-compose.yaml lacks services {missing}"


def test_only_airflow_init_is_one_shot(services: dict[str, dict[str, Any]]) -> None:
    assert one_shot(services) == {"airflow-init"}
    assert "restart" not in services["airflow-init"]


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    long_running = set(services) - one_shot(services)
    without = sorted(name for name in long_running
                     if not (services[name].get("healthcheck") or {}).get("test")
                     or services[name]["healthcheck"].get("disable"))
    assert not without, f"long-running services without a healthcheck: {without}"


def test_healthchecks_probe_the_documented_endpoints(services: dict[str, dict[str, Any]]) -> None:
    from local_aws.server import HEALTH_PATH

    apiserver = " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "http://localhost:8080/api/v2/version" in apiserver
    assert "8080:8080" in " ".join(services["airflow-apiserver"]["ports"])
    local_aws = " ".join(services["local-aws"]["healthcheck"]["test"])
    assert f"http://localhost:4566{HEALTH_PATH}" in local_aws
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_bind_mounted_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    checked, missing = set(), []
    for name, service in services.items():
        for source in _bind_sources(service):
            path = (REPO / source).resolve() if not source.startswith("~") else Path(source).expanduser()
            checked.add(source)
            if not path.exists():
                missing.append(f"{name}: {source}")
    assert not missing, f"bind mounts of paths that are not in the repository: {missing}"
    assert {"./dags", "./plugins", "./include", "./local_aws"} <= checked


def test_airflow_services_mount_the_dag_package(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW_SERVICES:
        targets = {interpolate(v).split(":")[1] for v in services[name]["volumes"] if isinstance(v, str)}
        # plugins/indata_ops/config finds include/config/datasets.yaml three levels above its modules.
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= targets, name


def test_local_aws_mounts_only_the_stack(services: dict[str, dict[str, Any]]) -> None:
    sources = {PurePosixPath(s).parts[-1] for s in _bind_sources(services["local-aws"])}
    assert sources == {"local_aws"}, "the local stack never imports dags/ or plugins/"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {volume for service in services.values() for volume in _named_volumes(service)}
    assert used <= declared, f"undeclared named volumes: {sorted(used - declared)}"
    assert "local-aws-state" in used


def test_build_files_exist_and_reach_the_build_context(services: dict[str, dict[str, Any]]) -> None:
    built = [s for s in services.values() if "build" in s]
    assert built, "no service builds the project's image"
    ignore_file = REPO / ".dockerignore"
    patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")] if ignore_file.exists() else []
    for service in built:
        build = service["build"] if isinstance(service["build"], dict) else {"context": service["build"]}
        context = (REPO / interpolate(build.get("context", "."))).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{dockerfile} is missing"
        copies = [line.split()[1:] for line in dockerfile.read_text().splitlines() if line.startswith(("COPY", "ADD"))]
        sources = [arg for args in copies for arg in args[:-1] if not arg.startswith("--")]
        assert "requirements.txt" in sources
        for source in sources:
            assert (context / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
            assert not _dockerignored(source, patterns), f".dockerignore keeps {source} out of the build context"


def test_image_matches_the_pinned_airflow() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    # The official image stays the default base; docker-compose.offline.yaml overrides the argument.
    base = re.search(r"^ARG\s+AIRFLOW_BASE_IMAGE=apache/airflow:(\S+)-python(\d+\.\d+)\s*$", dockerfile, re.MULTILINE)
    assert base, "Dockerfile must default AIRFLOW_BASE_IMAGE to apache/airflow:<version>-python<x.y>"
    assert re.search(r"^FROM\s+\$\{AIRFLOW_BASE_IMAGE\}\s+AS\s+airflow\s*$", dockerfile, re.MULTILINE)
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    assert f"apache-airflow=={base.group(1)}" in requirements
    assert base.group(2) == "3.11"
    assert "openjdk-17-jre-headless" in dockerfile
    assert "pip install --no-cache-dir ${PIP_OPTIONS} -r /requirements.txt" in dockerfile


def test_aws_connection_points_at_the_local_aws_service(services: dict[str, dict[str, Any]]) -> None:
    port = _command(services["local-aws"])[_command(services["local-aws"]).index("--port") + 1]
    host = _command(services["local-aws"])[_command(services["local-aws"]).index("--host") + 1]
    assert host == "0.0.0.0", "bound to 127.0.0.1 the stack would be unreachable from the other containers"
    for name in AIRFLOW_SERVICES:
        connection = json.loads(_environment(services[name])["AIRFLOW_CONN_AWS_DEFAULT"])
        assert connection["conn_type"] == "aws"
        endpoint = urlsplit(connection["extra"]["endpoint_url"])
        assert (endpoint.scheme, endpoint.hostname, str(endpoint.port)) == ("http", "local-aws", port), name
        assert "local-aws" in services


def test_airflow_settings_for_this_package(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["AIRFLOW__CORE__PARALLELISM"] == "4", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/"), name
        # Without one shared secret, tokens the scheduler issues fail verification at the API server.
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"], name
    commands = {name: _command(services[name]) for name in AIRFLOW_SERVICES if name != "airflow-init"}
    assert commands == {"airflow-apiserver": ["api-server"], "airflow-scheduler": ["scheduler"],
                        "airflow-dag-processor": ["dag-processor"], "airflow-triggerer": ["triggerer"]}
    assert " ".join(_command(services["local-aws"])).startswith("python -m local_aws ")


def test_local_aws_main_accepts_the_compose_arguments() -> None:
    source = (REPO / "local_aws" / "__main__.py").read_text()
    for option in ("--host", "--port", "--state-dir"):
        assert f'"{option}"' in source, f"python -m local_aws has no {option} option"


def test_depends_on_refers_to_existing_services(services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, service in services.items():
        for target, dependency in _depends_on(service).items():
            condition = dependency.get("condition", "service_started")
            if target not in services:
                problems.append(f"{name} depends on unknown service {target}")
            elif condition not in DEPENDS_ON_CONDITIONS:
                problems.append(f"{name}: unknown condition {condition}")
            elif condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
    assert not problems, problems
    for name in AIRFLOW_SERVICES:
        assert _depends_on(services[name])["postgres"]["condition"] == "service_healthy", name
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        assert _depends_on(services[name])["airflow-init"]["condition"] == "service_completed_successfully", name
    # airflow-init creates the bucket through the aws_default connection: the stack must answer by then.
    assert _depends_on(services["airflow-init"])["local-aws"]["condition"] == "service_healthy"


def test_no_keys_that_docker_compose_1_29_rejects(compose: dict[str, Any],
                                                  services: dict[str, dict[str, Any]]) -> None:
    assert "name" not in compose
    for name, service in services.items():
        assert "start_interval" not in (service.get("healthcheck") or {}), name


def test_docker_compose_config_validates() -> None:
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.skip("docker-compose (Debian's package) is not on PATH, so its offline `config -q` validation cannot "
                    "run here; the YAML-level checks above still ran")
    result = subprocess.run([docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- docker-compose.offline.yaml and scripts/compose_stack.py (`make compose-up`, `make test-compose`) ------------
OFFLINE_FILE = REPO / "docker-compose.offline.yaml"


@pytest.fixture(scope="module")
def offline() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(OFFLINE_FILE.read_text(encoding="utf-8"))["services"]


def test_offline_override_replaces_every_image(services: dict[str, dict[str, Any]],
                                               offline: dict[str, dict[str, Any]]) -> None:
    assert set(offline) == set(services), "every service needs an offline image, and no other service"
    for name, service in offline.items():
        assert service["image"].startswith("localhost/"), f"{name}: an image of a registry cannot be pulled offline"
        assert service["image"] != interpolate(services[name]["image"]), name
        assert "build" in service, f"{name}: the offline image must be buildable here"


def test_offline_builds_use_the_debian_bases_and_the_wheel_house(offline: dict[str, dict[str, Any]]) -> None:
    makefile = (REPO / "Makefile").read_text()
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for name, service in offline.items():
        build = service["build"]
        dockerfile = REPO / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), name
        targets = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", dockerfile.read_text(), re.MULTILINE)
        assert build["target"] in targets, f"{name}: {dockerfile.name} has no target {build['target']}"
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY") and "--from" not in line:
                source = line.split()[-2]
                assert (REPO / source).exists() and not _dockerignored(source, ignore), f"{name}: {line}"
        args = build.get("args") or {}
        if dockerfile.name == "Dockerfile":
            # The base image the Makefile builds, pip without PyPI, and the bookworm pins.
            assert f"AIRFLOW_BASE_IMAGE := {args['AIRFLOW_BASE_IMAGE']}" in makefile, name
            assert args["PIP_OPTIONS"].split()[:2] == ["--no-index", "--find-links"], name
            wheelhouse = PurePosixPath(args["PIP_OPTIONS"].split()[2]).relative_to("/context")
            assert f"WHEELHOUSE := {wheelhouse}" in makefile and not _dockerignored(f"{wheelhouse}/x.whl", ignore)
            assert (REPO / args["REQUIREMENTS_OVERRIDES"]).is_file(), name
    assert "openjdk" not in (REPO / "compose" / "offline.Dockerfile").read_text(), \
        "Java belongs to the local-aws target only"


def test_bookworm_overrides_replace_pins_of_requirements_txt() -> None:
    pinned = {line.split("==")[0].split("[")[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    overrides = [line for line in (REPO / "requirements" / "compose-bookworm.txt").read_text().splitlines()
                 if line and not line.startswith("#")]
    assert overrides
    for line in overrides:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==\S+", line), line
        assert line.split("==")[0].lower() in pinned, f"{line} replaces nothing in requirements.txt"


def test_start_order_follows_depends_on(services: dict[str, dict[str, Any]]) -> None:
    from scripts.compose_stack import depends_on, start_order

    order = start_order(services)
    assert sorted(order) == sorted(services)
    for name in services:
        for dep in depends_on(services[name]):
            assert order.index(dep) < order.index(name), (dep, name)
    assert depends_on(services["airflow-scheduler"])["airflow-init"] == "service_completed_successfully"


def test_start_order_refuses_a_cycle() -> None:
    from scripts.compose_stack import ComposeError, start_order

    with pytest.raises(ComposeError, match="depends_on cycle: a -> b -> a"):
        start_order({"a": {"depends_on": ["b"]}, "b": {"depends_on": {"a": {"condition": "service_healthy"}}}})


def test_published_ports_are_read_in_both_syntaxes(services: dict[str, dict[str, Any]]) -> None:
    from scripts.compose_stack import published_ports

    assert sorted(published_ports(services)) == [("airflow-apiserver", "127.0.0.1", 8080),
                                                 ("local-aws", "127.0.0.1", 4566)]
    assert published_ports({"s": {"ports": [{"target": 80, "published": "8081", "host_ip": "127.0.0.2"}, "9000:90"]}}) \
        == [("s", "127.0.0.2", 8081), ("s", "0.0.0.0", 9000)]


def test_a_busy_port_is_named_before_anything_starts() -> None:
    import socket

    from scripts.compose_stack import busy_ports

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        busy = busy_ports({"local-aws": {"ports": [f"127.0.0.1:{port}:4566"]}})
        assert busy == [f"port {port} on 127.0.0.1 (service local-aws) is already in use: Address already in use"]
    assert busy_ports({"local-aws": {"ports": [f"127.0.0.1:{port}:4566"]}}) == []
