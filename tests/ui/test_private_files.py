"""What the running stack writes under its local folder is its owner's only where it matters: the logs folder and
the Airflow home are 0700, every log and the generated passwords file 0600, and no file that holds the admin
password can be read by anyone else."""
from __future__ import annotations

import stat

from scripts.airflow_up import PASSWORDS_FILE


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_logs_the_airflow_home_and_the_password_are_the_owners_only(airflow):
    assert (mode(airflow.logs), mode(airflow.airflow_home)) == (0o700, 0o700)
    assert mode(airflow.airflow_home / PASSWORDS_FILE) == 0o600
    logs = {log.name: mode(log) for log in airflow.logs.glob("*.log")}
    assert {"api-server.log", "scheduler.log", "local-aws.log"} <= set(logs)
    assert {name: value for name, value in logs.items() if value != 0o600} == {}

    password = airflow.admin_password().encode()
    holders = [path for path in airflow.local.rglob("*") if path.is_file() and password in path.read_bytes()]
    assert airflow.airflow_home / PASSWORDS_FILE in holders
    assert {str(path): oct(mode(path)) for path in holders if mode(path) & 0o077} == {}
